"""structlog JSON logging; every line carries service, version, correlation_id and trace_id."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar, Token
from typing import Any

import structlog
from opentelemetry import trace
from structlog.types import EventDict, Processor, WrappedLogger

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_service: dict[str, str] = {"service": "unknown", "version": "0.0.0"}


def bind_correlation_id(value: str | None) -> Token[str | None]:
    return correlation_id_var.set(value)


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""


def _add_context(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    event_dict.setdefault("service", _service["service"])
    event_dict.setdefault("version", _service["version"])
    event_dict.setdefault("correlation_id", correlation_id_var.get())
    event_dict.setdefault("trace_id", current_trace_id())
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_context,
    ]


def json_formatter() -> logging.Formatter:
    """The formatter used for stdout; tests attach it to their own handler to read lines."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )


def configure_logging(service: str, version: str, level: str = "INFO") -> None:
    _service["service"] = service
    _service["version"] = version
    structlog.configure(
        processors=[
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(json_formatter())
    handler.set_name("chat_runtime")
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "chat_runtime":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn installs its own handlers; route them through ours so every line is JSON.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # Each request is logged once, as `http_request` (chat_runtime.http.middleware, with route,
    # status, duration and correlation id): uvicorn's access line would repeat it, also when a
    # service is started with `uvicorn module:app` rather than `chat_runtime.host.serve`.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("aiormq").setLevel("WARNING")
    logging.getLogger("aio_pika").setLevel("WARNING")


def get_logger(name: str | None = None, **initial: Any) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name, **initial)
    return logger


SECURITY_LOGGER = "security"
# Events that record a refusal (level WARNING); the others (INFO) record what a person did.
SECURITY_REFUSALS = frozenset(
    {
        "sign_in_failed",
        "token_refused",
        "forbidden",
        "too_many_connections",
        "rate_limited",
        "socket_refused",
    }
)
# Field names that must never reach a log line (DESIGN-20 decision 3): a value under a name
# containing one of these is replaced, whoever passes it.
_SECRET_FIELD_PARTS = ("password", "token", "secret", "cookie", "authorization")


def security_event(event: str, **fields: Any) -> None:
    """One security log line, logger "security", field `security=true`: sign_in_succeeded,
    sign_in_failed, signed_out, password_changed, token_refused, forbidden,
    too_many_connections, rate_limited, socket_refused. Pass ids, reasons, addresses and
    routes, never tokens or passwords: a field named like a secret is redacted."""
    clean = {
        k: ("[redacted]" if any(part in k.lower() for part in _SECRET_FIELD_PARTS) else v)
        for k, v in fields.items()
    }
    logger = get_logger(SECURITY_LOGGER)
    if event in SECURITY_REFUSALS:
        logger.warning(event, security=True, **clean)
    else:
        logger.info(event, security=True, **clean)
