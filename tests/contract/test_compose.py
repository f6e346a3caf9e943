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
                     ("message", "message_service"), ("presence", "presence_service")]:
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
