"""Send-shard leases (ADR 0008): who may consume and commit each send shard, and the fence a
send batch takes inside its own transaction.

`send_shard_leases` has a row per shard: `owner` (a process, `SendShardLeases.owner`), `epoch`
(the fencing token: +1 at every acquisition), `expires_at` (database clock). `send_shard_replicas`
has a row per live process, renewed with its leases, so each knows how many share the shards.

Rows are locked in shard order by every statement that locks several (renew, release, fence),
so two of them never deadlock; acquisition skips locked rows and never waits.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

Epochs = Mapping[int, int]  # shard -> epoch


def _interval(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


_LIMIT_IDLE = sa.text("SELECT set_config('idle_in_transaction_session_timeout', :idle_ms, true)")


def _ms(seconds: float) -> str:
    return str(max(1, int(seconds * 1000)))


async def limit_idle(conn: AsyncConnection, seconds: float) -> None:
    """End this transaction if its process stops talking for `seconds` (paused or stuck): the
    rows it locked must not outlive a lease. The first statement of each keeper transaction."""
    await conn.execute(_LIMIT_IDLE, {"idle_ms": _ms(seconds)})


_ENSURE = sa.text(
    "INSERT INTO send_shard_leases (shard) SELECT generate_series(0, :shards - 1) "
    "ON CONFLICT (shard) DO NOTHING"
)


async def ensure_shards(conn: AsyncConnection, shards: int) -> None:
    """A row for every shard (idempotent; more shards later only add rows)."""
    await conn.execute(_ENSURE, {"shards": shards})


# The upsert and the clean-up are not visible to the count (one snapshot): count the others.
_HEARTBEAT = sa.text(
    """
    WITH beat AS (
        INSERT INTO send_shard_replicas (replica, expires_at) VALUES (:owner, now() + :ttl)
        ON CONFLICT (replica) DO UPDATE SET expires_at = EXCLUDED.expires_at
    ), gone AS (
        DELETE FROM send_shard_replicas WHERE expires_at < now() - interval '10 minutes'
    )
    SELECT count(*) FROM send_shard_replicas WHERE expires_at > now() AND replica <> :owner
    """
)


async def heartbeat(conn: AsyncConnection, owner: str, ttl_s: float) -> int:
    """Say this process is alive for `ttl_s` more; return how many are alive, itself included."""
    others = (await conn.execute(_HEARTBEAT, {"owner": owner, "ttl": _interval(ttl_s)})).scalar()
    return int(others or 0) + 1


_RENEW = sa.text(
    """
    UPDATE send_shard_leases SET expires_at = now() + :ttl
    WHERE owner = :owner AND shard IN (
        SELECT shard FROM send_shard_leases
        WHERE owner = :owner AND shard = ANY(CAST(:shards AS integer[]))
        ORDER BY shard FOR NO KEY UPDATE
    )
    RETURNING shard, epoch
    """
)


async def renew(
    conn: AsyncConnection, owner: str, shards: Collection[int], ttl_s: float
) -> dict[int, int]:
    """Extend these leases of `owner`; returns the ones it still holds (shard -> epoch). A
    lease that expired but nobody took is still held: no one can have committed under it."""
    if not shards:
        return {}
    rows = await conn.execute(
        _RENEW, {"owner": owner, "shards": sorted(shards), "ttl": _interval(ttl_s)}
    )
    return {int(r.shard): int(r.epoch) for r in rows}


_ACQUIRE = sa.text(
    """
    UPDATE send_shard_leases
    SET owner = :owner, epoch = epoch + 1, expires_at = now() + :ttl, acquired_at = now()
    WHERE shard IN (
        SELECT shard FROM send_shard_leases
        WHERE shard < :shards AND (owner IS NULL OR expires_at < now())
        ORDER BY shard LIMIT :wanted
        FOR NO KEY UPDATE SKIP LOCKED
    ) AND (owner IS NULL OR expires_at < now())
    RETURNING shard, epoch
    """
)


async def acquire(
    conn: AsyncConnection, owner: str, shards: int, wanted: int, ttl_s: float
) -> dict[int, int]:
    """Take up to `wanted` free or expired shards (a new epoch each). Rows locked by a batch in
    flight, even an expired one's, are skipped: its owner still holds them until it commits."""
    if wanted <= 0:
        return {}
    rows = await conn.execute(
        _ACQUIRE, {"owner": owner, "shards": shards, "wanted": wanted, "ttl": _interval(ttl_s)}
    )
    return {int(r.shard): int(r.epoch) for r in rows}


_RELEASE = sa.text(
    """
    UPDATE send_shard_leases SET owner = NULL, expires_at = '-infinity'
    WHERE owner = :owner AND shard IN (
        SELECT l.shard FROM send_shard_leases AS l
        JOIN unnest(CAST(:shards AS integer[]), CAST(:epochs AS bigint[])) AS v(shard, epoch)
          ON l.shard = v.shard AND l.epoch = v.epoch
        WHERE l.owner = :owner
        ORDER BY l.shard FOR NO KEY UPDATE
    )
    """
)


async def release(conn: AsyncConnection, owner: str, epochs: Epochs) -> None:
    """Give these leases up at once (the next acquirer need not wait for them to expire)."""
    if not epochs:
        return
    ordered = sorted(epochs.items())
    await conn.execute(
        _RELEASE,
        {"owner": owner, "shards": [s for s, _ in ordered], "epochs": [e for _, e in ordered]},
    )


_LEAVE = sa.text(
    """
    WITH released AS (
        UPDATE send_shard_leases SET owner = NULL, expires_at = '-infinity'
        WHERE shard IN (
            SELECT shard FROM send_shard_leases WHERE owner = :owner
            ORDER BY shard FOR NO KEY UPDATE
        )
    )
    DELETE FROM send_shard_replicas WHERE replica = :owner
    """
)


async def leave(conn: AsyncConnection, owner: str) -> None:
    """A clean stop: every lease of `owner` released, and it no longer counts as a replica."""
    await conn.execute(_LEAVE, {"owner": owner})


# The fence: the first statement of a send batch's transaction. It locks the lease rows the
# batch needs, in shard order, FOR SHARE (a takeover's UPDATE waits for the commit, or skips
# them) and only where owner and epoch are still the batch's. The same statement bounds how
# long the transaction may sit idle (a process paused mid-transaction): PostgreSQL ends it
# after `idle_ms`, which frees the rows for a new owner; the paused process then commits nothing.
_FENCE = sa.text(
    """
    SELECT l.shard FROM send_shard_leases AS l,
        set_config('idle_in_transaction_session_timeout', :idle_ms, true) AS t
    WHERE l.owner = :owner AND (l.shard, l.epoch) IN (
        SELECT * FROM unnest(CAST(:shards AS integer[]), CAST(:epochs AS bigint[]))
    )
    ORDER BY l.shard FOR SHARE OF l
    """
)


async def fence(session: AsyncSession, owner: str, epochs: Epochs, idle_s: float) -> set[int]:
    """Lock the leases `epochs` names for the rest of the transaction; returns the shards whose
    lease `owner` still holds with that epoch (the others are lost: commit nothing of theirs)."""
    ordered = sorted(epochs.items())
    params: dict[str, Any] = {
        "owner": owner,
        "shards": [s for s, _ in ordered],
        "epochs": [e for _, e in ordered],
        "idle_ms": _ms(idle_s),
    }
    return {int(shard) for shard in (await session.execute(_FENCE, params)).scalars()}
