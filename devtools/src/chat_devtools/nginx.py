"""Render deploy/nginx/nginx.conf (a template with `${EDGE_*}` placeholders) for a local stack.

The same placeholders are filled by envsubst in the compose nginx image, so only `${EDGE_NAME}`
is a placeholder here; nginx's own `$variables` are lower-case and left alone.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from chat_devtools.config import StackConfig

PLACEHOLDER = re.compile(r"\$\{(EDGE_[A-Z0-9_]+)\}")


class TemplateError(ValueError):
    """A placeholder has no value (or a value was given for no placeholder)."""


def placeholders(template: str) -> set[str]:
    return set(PLACEHOLDER.findall(template))


def render(template: str, values: Mapping[str, str]) -> str:
    missing = placeholders(template) - values.keys()
    if missing:
        raise TemplateError(f"no value for nginx template placeholders: {sorted(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


DEFAULT_FILE_MAX_BYTES = 25 * 1024 * 1024
MULTIPART_MARGIN = 1024 * 1024


def file_body_limit(env: Mapping[str, str]) -> int:
    """The edge's body limit for /v1/files: CHAT_FILE_MAX_BYTES plus the multipart framing; the
    service answers the exact limit with its own 413 problem."""
    raw = env.get("CHAT_FILE_MAX_BYTES") or os.environ.get("CHAT_FILE_MAX_BYTES")
    return (int(raw) if raw else DEFAULT_FILE_MAX_BYTES) + MULTIPART_MARGIN


# Anti-automation zones of the edge (issue #20; sizing in deploy/nginx/README.md). Production values
# live in deploy/nginx/Dockerfile (ENV, used by compose and Kubernetes); a local stack gets these
# generous ones, each overridable by an environment variable of the same name, and exempts the
# loopback addresses its tests and benchmarks run from (EDGE_LIMIT_EXEMPT).
LOCAL_LIMITS: dict[str, str] = {
    "EDGE_AUTH_RATE": "20r/s",
    "EDGE_AUTH_BURST": "200",
    "EDGE_WRITE_RATE": "200r/s",
    "EDGE_WRITE_BURST": "2000",
    "EDGE_WS_RATE": "100r/s",
    "EDGE_WS_BURST": "2000",
    "EDGE_WS_CONN": "10000",
    "EDGE_UPLOAD_RATE": "50r/s",
    "EDGE_UPLOAD_BURST": "500",
    "EDGE_UPLOAD_CONN": "500",
    "EDGE_RETRY_AFTER": "1",
}
# Dev only: 127.0.0.1 and ::1 are never limited; other loopback addresses (127.0.0.2, …) are.
LOCAL_LIMIT_EXEMPT = "127.0.0.1 1; ::1 1;"

_RATE = re.compile(r"^[1-9][0-9]*r/[sm]$")
_COUNT = re.compile(r"^[1-9][0-9]*$")


def limit_values(env: Mapping[str, str]) -> dict[str, str]:
    """The zones' numbers for a local stack: LOCAL_LIMITS, each replaced by `env` or the process
    environment when set there; a malformed value is a TemplateError naming the variable."""
    values: dict[str, str] = {}
    for name, default in LOCAL_LIMITS.items():
        value = (env.get(name) or os.environ.get(name) or default).strip()
        pattern = _RATE if name.endswith("_RATE") else _COUNT
        if not pattern.match(value):
            form = "like 10r/s or 30r/m" if name.endswith("_RATE") else "a whole number >= 1"
            raise TemplateError(f"{name}={value!r}: expected {form}")
        values[name] = value
    exempt = env.get("EDGE_LIMIT_EXEMPT", os.environ.get("EDGE_LIMIT_EXEMPT", LOCAL_LIMIT_EXEMPT))
    values["EDGE_LIMIT_EXEMPT"] = exempt
    return values


def server_lines(host: str, ports: Iterable[int]) -> str:
    """`server` lines of an upstream; a replica that fails is skipped for a few seconds."""
    return " ".join(f"server {host}:{port} max_fails=1 fail_timeout=2s;" for port in ports)


def local_values(config: StackConfig, work_dir: Path) -> dict[str, str]:
    """Placeholder values for a stack on this machine (plain HTTP on the edge port)."""
    if config.edge_port is None:
        raise TemplateError("the stack has no edge port")
    ports = {spec.name: spec.ports for spec in config.services}

    def servers(name: str) -> str:
        # A service left out of the stack still needs a syntactically valid upstream.
        return server_lines(config.host, ports.get(name, (1,)))

    return {
        "EDGE_PID": str(work_dir / "nginx.pid"),
        "EDGE_ERROR_LOG": str(config.logs / "edge-error.log"),
        "EDGE_ACCESS_LOG": str(config.logs / "edge-access.log"),
        "EDGE_TEMP_DIR": str(work_dir / "tmp"),
        "EDGE_INCLUDE_DIR": str(work_dir),
        "EDGE_LISTEN": f"{config.host}:{config.edge_port}",
        "EDGE_FRONTEND_ROOT": str(config.frontend_dist),
        "EDGE_AUTH_SERVERS": servers("auth"),
        "EDGE_GATEWAY_SERVERS": servers("gateway"),
        "EDGE_MESSAGE_SERVERS": servers("message"),
        "EDGE_PRESENCE_SERVERS": servers("presence"),
        "EDGE_FILE_SERVERS": servers("file"),
        # api-v1.1 E: upload bodies up to CHAT_FILE_MAX_BYTES, plus room for the multipart framing.
        "EDGE_FILE_MAX_BODY": str(file_body_limit(config.env)),
        **limit_values(config.env),
    }


def template_path(config: StackConfig) -> Path:
    return config.root / "deploy" / "nginx" / "nginx.conf"


def write_local_config(
    config: StackConfig, work_dir: Path, overrides: Mapping[str, str] | None = None
) -> Path:
    """Render the template into work_dir/nginx.conf with empty include dirs; return its path.

    `overrides` replaces placeholder values (the supervised run logs to stdout/stderr, which
    supervisord writes to rotated files).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    for sub in ("http.d", "server.d", "tmp"):
        (work_dir / sub).mkdir(exist_ok=True)
    config.logs.mkdir(parents=True, exist_ok=True)
    values = {**local_values(config, work_dir), **(overrides or {})}
    text = render(template_path(config).read_text(), values)
    target = work_dir / "nginx.conf"
    target.write_text(text)
    return target


def find_nginx(binary: str = "nginx") -> str | None:
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/usr/local/sbin:/sbin")
    return found


def nginx_argv(binary: str, work_dir: Path, conf: Path, error_log: Path | str) -> list[str]:
    """Foreground nginx (no daemon) with our own prefix, so we hold its PID and it dies with us."""
    # Workers run as whoever started the stack; as root nginx would otherwise drop them to
    # `nobody`, which cannot read a checkout under a private home directory.
    user = " user root;" if os.geteuid() == 0 else ""
    return [
        binary,
        "-p",
        str(work_dir),
        "-c",
        str(conf),
        # -e: the error log before the config is read (else /var/log/nginx/error.log).
        "-e",
        str(error_log),
        "-g",
        f"daemon off; master_process on;{user}",
    ]
