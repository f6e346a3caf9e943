"""docker-compose.yml is a valid Compose file and everything it builds has a Dockerfile.

There is no Docker engine on this machine, so the Compose Specification's JSON Schema stands in
for `docker compose config`. CI places the shared specs beside the clone (`<repo>/../shared`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO.parent / "shared" / "schemas" / "compose-spec.json"
COMPOSE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose_file() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_matches_the_compose_specification(compose_file: dict[str, Any]) -> None:
    assert SCHEMA.is_file(), f"compose schema expected at {SCHEMA}"
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(compose_file)]
    assert errors == []


def test_every_built_service_has_an_existing_dockerfile(compose_file: dict[str, Any]) -> None:
    built = {n: s["build"] for n, s in compose_file["services"].items() if "build" in s}
    assert built, "compose builds nothing"
    for name, build in built.items():
        if isinstance(build, str):
            context, dockerfile = REPO / build, "Dockerfile"
        else:
            context = REPO / build.get("context", ".")
            dockerfile = build.get("dockerfile", "Dockerfile")
        assert (context / dockerfile).is_file(), f"{name}: no Dockerfile at {context / dockerfile}"


def test_each_service_image_runs_its_package_as_non_root() -> None:
    for svc, pkg in [("auth", "auth_service"), ("gateway", "gateway_service"),
                     ("message", "message_service"), ("presence", "presence_service"),
                     ("file", "file_service")]:
        text = (REPO / f"{svc}-service" / "Dockerfile").read_text()
        assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm\b", text, re.MULTILINE), (
            f"{svc}: base image not pinned to a full python:3.11.x-slim-bookworm tag"
        )
        assert "uv sync --frozen" in text, f"{svc}: not installed from uv.lock"
        assert re.search(r"^USER (?!root)\S+", text, re.MULTILINE), f"{svc}: runs as root"
        assert f'CMD ["python", "-m", "{pkg}"]' in text
        assert "HEALTHCHECK" in text


def test_every_image_is_pinned_to_a_full_version_tag(compose_file: dict[str, Any]) -> None:
    """Floating tags (`rabbitmq:4.1-management`, `node:20-...`) change under a rebuild."""
    full = re.compile(r"^[\w./-]+:v?\d+\.\d+(\.\d+)?[-\w.]*$")  # v0.17.1 is a full tag too
    pulled = [s["image"] for s in compose_file["services"].values() if "build" not in s]
    dockerfiles = [*REPO.glob("*/Dockerfile"), REPO / "deploy" / "nginx" / "Dockerfile"]
    based = [
        m.group(1)
        for path in dockerfiles
        for m in re.finditer(r"^FROM (\S+)", path.read_text(), re.MULTILINE)
    ]
    assert pulled
    assert based
    for pinned in pulled + based:
        image = pinned.split("@sha256:")[0]  # a release adds the digest (deploy/README.md)
        name, _, tag = image.partition(":")
        assert full.match(image), f"{image}: pin a full version tag"
        assert tag.count(".") >= 2 or name in ("postgres",), f"{image}: pin a full version tag"


def test_no_secret_has_a_default(compose_file: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    for var in ("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"):
        uses = re.findall(r"\$\{" + var + r"([^}]*)\}", text)
        assert uses, f"{var} is not used"
        assert all(u.startswith(":?") for u in uses), f"{var} must be required, got {uses}"
    assert "guest" not in text


def test_dependencies_wait_for_health(compose_file: dict[str, Any]) -> None:
    services = compose_file["services"]
    for name, service in services.items():
        for dep, cond in service.get("depends_on", {}).items():
            expected = (
                "service_completed_successfully" if dep.endswith("-migrate") else "service_healthy"
            )
            assert cond["condition"] == expected, f"{name} -> {dep}"
            if expected == "service_healthy":
                assert "healthcheck" in services[dep] or dep == "edge", f"{dep} has no healthcheck"


def workspace_members() -> list[str]:
    import tomllib

    root = tomllib.loads((REPO / "pyproject.toml").read_text())
    return list(root["tool"]["uv"]["workspace"]["members"])


def test_every_service_image_describes_the_whole_workspace_for_uv() -> None:
    """`uv sync --frozen` refuses a workspace whose members' pyproject.toml are missing."""
    members = workspace_members()
    assert "file-service" in members
    images = [p for p in REPO.glob("*/Dockerfile") if "uv sync" in p.read_text()]
    assert len(images) >= 5
    for path in images:
        text = path.read_text()
        for member in members:
            whole = re.search(rf"^COPY {re.escape(member)}/ {re.escape(member)}/$", text, re.M)
            pyproject = f"COPY {member}/pyproject.toml {member}/" in text
            assert whole or pyproject, f"{path.relative_to(REPO)} lacks {member}/pyproject.toml"


def test_file_service_has_its_database_store_and_link_key(compose_file: dict[str, Any]) -> None:
    services = compose_file["services"]
    created = re.findall(
        r"CREATE DATABASE (\w+)",
        (REPO / "deploy" / "compose" / "postgres-init" / "01-databases.sql").read_text(),
    )
    assert "chat_files" in created
    files = services["file-service"]
    env = files["environment"]
    assert env["CHAT_PORT"] == "8005"
    assert env["CHAT_DATABASE_URL"].endswith("@postgres:5432/chat_files")
    assert env["CHAT_RUN_MIGRATIONS"] == "false"
    assert files["depends_on"]["file-migrate"] == {"condition": "service_completed_successfully"}
    assert "--lock" in " ".join(services["file-migrate"]["command"])
    # The store is the volume the backup service archives.
    assert f"files:{env['CHAT_FILE_DIR']}" in files["volumes"]
    backup_env = services["backup"]["environment"]
    assert backup_env["CHAT_BACKUP_FILE_DIR"] == env["CHAT_FILE_DIR"]
    assert backup_env["CHAT_BACKUP_DATABASES"].split() == [
        "chat_auth", "chat_files", "chat_messages", "chat_presence",
    ]  # fmt: skip
    # One link key for both services, required (no default secret).
    key = "${CHAT_FILE_LINK_KEY:?set CHAT_FILE_LINK_KEY in .env}"
    assert env["CHAT_FILE_LINK_KEY"] == key
    assert services["message-service"]["environment"]["CHAT_FILE_LINK_KEY"] == key
    assert "CHAT_FILE_LINK_KEY=" in (REPO / "deploy" / "compose" / "env.example").read_text()
    # The edge routes /v1/files there and lets an upload of the largest size through.
    edge = services["edge"]["environment"]
    assert edge["EDGE_FILE_SERVERS"] == "server file-service:8005;"
    default = re.compile(r"^\$\{\w+:-(\d+)\}$")
    max_bytes = int(default.match(env["CHAT_FILE_MAX_BYTES"]).group(1))  # type: ignore[union-attr]
    body = int(default.match(edge["EDGE_FILE_MAX_BODY"]).group(1))  # type: ignore[union-attr]
    assert body == max_bytes + 1024 * 1024
    assert services["edge"]["depends_on"]["file-service"] == {"condition": "service_healthy"}


def test_the_file_service_image_owns_its_store_mount_point(compose_file: dict[str, Any]) -> None:
    """A new named volume takes the owner of the image's directory: without it, the volume is
    root's and the service (uid 10001) cannot write an upload."""
    store = compose_file["services"]["file-service"]["environment"]["CHAT_FILE_DIR"]
    text = (REPO / "file-service" / "Dockerfile").read_text()
    assert re.search(rf"mkdir -p {re.escape(store)}\b.*chown chat:chat {re.escape(store)}", text)


def test_the_edge_limits_default_to_the_images_production_values(
    compose_file: dict[str, Any],
) -> None:
    """Issue #20: the edge's per-address zones, tunable from .env, default to the image's values;
    no client address is exempt in compose."""
    dockerfile = (REPO / "deploy" / "nginx" / "Dockerfile").read_text()
    image = dict(re.findall(r'\b(EDGE_[A-Z_]+)=("[^"]*"|\S+)', dockerfile))
    edge = compose_file["services"]["edge"]["environment"]
    zone = re.compile(r"EDGE_(AUTH|WRITE|WS|UPLOAD|RETRY)_(RATE|BURST|CONN|AFTER)$")
    limits = {k: v for k, v in edge.items() if zone.match(k)}
    assert len(limits) == 11
    for name, value in limits.items():
        default = re.fullmatch(r"\$\{(\w+):-([^}]+)\}", value)
        assert default is not None, f"{name}: {value}"
        assert default.group(1) == name
        assert default.group(2) == image[name], name
    assert "EDGE_LIMIT_EXEMPT" not in edge
    assert image["EDGE_LIMIT_EXEMPT"] == '""'


# -- secrets and internal TLS (issue #20) ---------------------------------------------------------

PYTHON_SERVICES = {
    "auth-service": "auth_service.settings:AuthSettings",
    "gateway-service": "gateway_service.settings:GatewaySettings",
    "message-service": "message_service.settings:MessageSettings",
    "presence-service": "presence_service.settings:PresenceSettings",
    "file-service": "file_service.settings:FileSettings",
}


def _filled(value: str) -> str:
    """An environment value as compose would give it from a filled-in .env: `${X:?…}` is X's
    (strong, made-up) value, `${X:-d}` its default."""
    value = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: f"{m.group(1).lower()}-Zq81-strong", value)
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: m.group(2), value)


def test_every_service_starts_in_prod_with_the_secrets_compose_supplies(
    compose_file: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each service's settings build in prod from its compose environment: no secret is left at
    its default (which prod refuses, naming the variable), every link has its TLS settings."""
    import importlib
    import os

    for service, path in PYTHON_SERVICES.items():
        environment = compose_file["services"][service]["environment"]
        env = {k: _filled(str(v)) for k, v in environment.items()}
        for name in [n for n in os.environ if n.startswith("CHAT_")]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        module, cls = path.split(":")
        settings = getattr(importlib.import_module(module), cls)()
        assert settings.is_prod, service
        assert settings.amqp_url.startswith("amqps://"), service
        assert "@rabbitmq:5671/" in settings.amqp_url, service
        assert str(settings.amqp_ca_file) == "/etc/chat/tls/ca.crt", service
        assert settings.jwks_url == "https://auth-service:8443/v1/auth/jwks", service
        assert str(settings.jwks_ca_file) == "/etc/chat/tls/ca.crt", service
        if hasattr(settings, "database_url"):
            assert str(settings.database_ca_file) == "/etc/chat/tls/ca.crt", service
        mounts = compose_file["services"][service].get("volumes", [])
        assert any(str(m).endswith(":/etc/chat/tls:ro") for m in mounts), f"{service}: no CA mount"


def test_postgres_rabbitmq_and_auth_serve_tls(compose_file: dict[str, Any]) -> None:
    services = compose_file["services"]
    postgres = services["postgres"]
    assert "ssl=on" in postgres["command"]
    hba = (REPO / "deploy" / "compose" / "pg_hba.conf").read_text()
    assert re.search(r"^hostnossl\s+all\s+all\s+all\s+reject$", hba, re.MULTILINE)
    assert "postgres.key" in " ".join(postgres["entrypoint"])
    rabbit = services["rabbitmq"]
    conf_mount = "./deploy/compose/rabbitmq-tls.conf:/etc/rabbitmq/conf.d/20-tls.conf:ro"
    assert conf_mount in rabbit["volumes"]
    conf = (REPO / "deploy" / "compose" / "rabbitmq-tls.conf").read_text()
    assert "listeners.tcp = none" in conf
    assert "listeners.ssl.default = 5671" in conf
    auth = services["auth-service"]["environment"]
    assert auth["CHAT_TLS_PORT"] == "8443"
    for job in ("auth-migrate", "message-migrate", "presence-migrate", "file-migrate"):
        assert services[job]["environment"]["CHAT_DATABASE_CA_FILE"] == "/etc/chat/tls/ca.crt"
    script = (REPO / "deploy" / "compose" / "make-certs.sh").read_text()
    for name in ("postgres", "rabbitmq", "auth-service"):
        assert f"issue {name} " in script
    backup = compose_file["x-backup"]["environment"]
    assert backup["PGSSLMODE"] == "verify-full"
    assert "sslmode=verify-full" in services["postgres-exporter"]["environment"]["DATA_SOURCE_URI"]
