"""Composition root of file-service: the service host (database migrated at start, its outbox,
token verification following revocations), the storage driver, the access rules, the upload
and download use cases, the `auth.user.updated.v1` consumer and the orphan sweep."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

from chat_contracts import names
from chat_runtime.host import Consumer, Database, HostContext, Responder, ServiceHost
from chat_runtime.http import rate_limit
from chat_runtime.http.rate_limit import install_rate_limits
from chat_runtime.logging import get_logger

from file_service import store as tables
from file_service.access import AccessQuery, FileAccess, broker_query
from file_service.api import files
from file_service.api.errors import install_error_handlers
from file_service.deps import FileDeps
from file_service.downloads import Downloads
from file_service.handlers import users
from file_service.settings import FileSettings
from file_service.spool import FORM_OVERHEAD_BYTES, clean_spool
from file_service.storage import FileStorage
from file_service.storage.factory import prepare_storage, storage_from
from file_service.store import FileStore
from file_service.sweep import Sweeper
from file_service.uploads import Uploads, utc_now

log = get_logger(__name__)


def make_storage(settings: FileSettings) -> FileStorage:
    secret = settings.s3_secret_access_key
    return storage_from(
        settings.file_storage,
        file_dir=settings.file_dir,
        s3_endpoint=settings.s3_endpoint,
        s3_bucket=settings.s3_bucket,
        s3_region=settings.s3_region,
        s3_access_key_id=settings.s3_access_key_id,
        s3_secret_access_key=secret.get_secret_value() if secret is not None else None,
    )


def build(
    settings: FileSettings | None = None,
    *,
    verifier: Any | None = None,
    connect_bus: bool = True,
    storage: FileStorage | None = None,
    access_query: AccessQuery | None = None,
    clock: Callable[[], datetime] = utc_now,
    sweep: bool = True,
) -> ServiceHost:
    """The service. Tests pass a fake `verifier` (anything with `async verify(token)`), a
    `storage`, an `access_query` instead of asking message-service, a `clock`, and
    `sweep=False` to run sweep rounds themselves (`app.state.sweeper.round()`)."""
    settings = settings or FileSettings()

    async def on_start(ctx: HostContext) -> None:
        removed = await asyncio.to_thread(
            clean_spool, settings.spool_dir, settings.file_spool_max_age_s
        )
        if removed:
            log.info("spool_cleaned", removed=removed)
        file_storage = storage or make_storage(settings)
        await prepare_storage(file_storage)
        ctx.state.storage = file_storage
        store = FileStore(ctx.require_sessions(), ctx.relay)
        query = access_query or broker_query(lambda: ctx.broker, settings.file_access_timeout_s)
        access = FileAccess(query, cache_s=settings.file_access_cache_s)
        deps = FileDeps(
            settings=settings,
            store=store,
            storage=file_storage,
            access=access,
            uploads=Uploads(
                file_storage,
                store,
                max_image_pixels=settings.file_max_image_pixels,
                image_concurrency=settings.file_image_concurrency,
                clock=clock,
            ),
            downloads=Downloads(store, file_storage, access),
        )
        sweeper = Sweeper(
            store,
            file_storage,
            access,
            orphan_after_s=settings.file_orphan_after_s,
            clock=clock,
            batch=settings.file_sweep_batch,
            stray_scan_interval_s=settings.file_stray_scan_interval_s,
        )
        ctx.app.state.files = deps
        ctx.app.state.sweeper = sweeper
        if sweep:
            ctx.spawn(sweeper.run_forever(settings.file_sweep_interval_s), "file-sweep")
        log.info("file_service_started", storage=settings.file_storage)

    def bus(ctx: HostContext) -> list[Consumer | Responder]:
        deps: FileDeps = ctx.app.state.files
        user_deps = users.UserDeps(store=deps.store, storage=deps.storage)
        return [
            Consumer(
                queues=names.FILE_EVENTS_QUEUE,
                handlers={names.AUTH_USER_UPDATED_V1: partial(users.handle_updated, user_deps)},
            )
        ]

    async def on_stop(ctx: HostContext) -> None:
        file_storage: FileStorage | None = getattr(ctx.state, "storage", None)
        if file_storage is not None and storage is None:
            await file_storage.close()

    migrate = settings.run_migrations
    host = ServiceHost(
        settings,
        title="file-service",
        routers=[files.router],
        database=Database(settings.alembic_ini_path() if migrate else None, migrate=migrate),
        outbox=tables.outbox,
        verify_tokens=True,
        bus=bus,
        on_start=on_start,
        on_stop=on_stop,
        verifier=verifier,
        connect_bus=connect_bus,
        # Uploads: the file limit plus the multipart framing (the upload route counts the
        # file itself and refuses with `file_too_large` before this limit is reached).
        max_body=settings.file_max_bytes + FORM_OVERHEAD_BYTES + 1024 * 1024,
    )
    install_error_handlers(host.app)
    install_rate_limits(host.app, {rate_limit.FILE_UPLOAD: settings.rate_file_upload})
    return host
