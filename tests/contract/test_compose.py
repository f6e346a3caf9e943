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
