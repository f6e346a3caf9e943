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
    for svc, pkg in [
        ("auth", "auth_service"),
        ("gateway", "gateway_service"),
        ("message", "message_service"),
        ("presence", "presence_service"),
        ("file", "file_service"),
    ]:
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


# The one-shot jobs: services wait for them to complete, not to be healthy.
ONE_SHOT_JOBS = ("broker-definitions", "broker-topology", "database-owners")
# Each service's own secrets (ADR 0015), required in .env.
ACCOUNT_SECRETS = (
    *(f"{s}_AMQP_PASSWORD" for s in ("AUTH", "GATEWAY", "MESSAGE", "PRESENCE", "FILE")),
    *(f"{s}_DATABASE_PASSWORD" for s in ("AUTH", "MESSAGE", "PRESENCE", "FILE")),
)


def test_no_secret_has_a_default(compose_file: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    example = (REPO / "deploy" / "compose" / "env.example").read_text()
    for var in ("POSTGRES_PASSWORD", "RABBITMQ_PASSWORD", *ACCOUNT_SECRETS):
        assert re.search(rf"^{var}=$", example, re.MULTILINE), f"{var} not in env.example"
        uses = re.findall(r"\$\{" + var + r"([^}]*)\}", text)
        assert uses, f"{var} is not used"
        assert all(u.startswith(":?") for u in uses), f"{var} must be required, got {uses}"
    assert "guest" not in text


def test_dependencies_wait_for_health(compose_file: dict[str, Any]) -> None:
    services = compose_file["services"]
    for name, service in services.items():
        for dep, cond in service.get("depends_on", {}).items():
            one_shot = dep.endswith("-migrate") or dep in ONE_SHOT_JOBS
            expected = "service_completed_successfully" if one_shot else "service_healthy"
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
        assert settings.amqp_declare_topology is False, service
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


# -- one broker account and one database role per service (ADR 0015, issue #20) -------------------

# compose service -> the accounts table's service name, and its database (gateway has none).
ACCOUNTS = {
    "auth-service": "auth",
    "gateway-service": "gateway",
    "message-service": "message",
    "presence-service": "presence",
    "file-service": "file",
}
DATABASES = {
    "auth-service": "chat_auth",
    "message-service": "chat_messages",
    "presence-service": "chat_presence",
    "file-service": "chat_files",
}
REQUIRED = r"\$\{(\w+):\?[^}]*\}"  # ${VAR:?message}: VAR, required
AMQP_URL = re.compile(rf"^amqps://([^:@/]+):{REQUIRED}@rabbitmq:5671/$")
DATABASE_URL = re.compile(rf"^postgresql\+asyncpg://([^:@/]+):{REQUIRED}@postgres:5432/(\w+)$")


def _amqp_login(environment: dict[str, Any]) -> tuple[str, str]:
    """The user and the .env variable of its password in a compose CHAT_AMQP_URL."""
    match = AMQP_URL.match(str(environment.get("CHAT_AMQP_URL", "")))
    assert match, environment.get("CHAT_AMQP_URL")
    return match.group(1), match.group(2)


def _database_login(environment: dict[str, Any]) -> tuple[str, str, str]:
    """The role, the .env variable of its password and the database of a CHAT_DATABASE_URL."""
    match = DATABASE_URL.match(str(environment.get("CHAT_DATABASE_URL", "")))
    assert match, environment.get("CHAT_DATABASE_URL")
    return match.group(1), match.group(2), match.group(3)


def test_each_service_uses_its_own_broker_account(compose_file: dict[str, Any]) -> None:
    from chat_runtime.messaging.accounts import broker_account, broker_accounts

    services = compose_file["services"]
    assert set(ACCOUNTS.values()) == {a.service for a in broker_accounts()}
    assert "CHAT_AMQP_URL" not in compose_file["x-service-env"]
    variables: dict[str, str] = {}
    for name, account in ACCOUNTS.items():
        user, variable = _amqp_login(services[name]["environment"])
        assert user == broker_account(account).user, name
        variables[name] = variable
    assert len(set(variables.values())) == len(variables), f"a password is shared: {variables}"
    # The administrator is left to broker-topology (and broker-definitions).
    assert "RABBITMQ_PASSWORD" not in variables.values()
    admin_user, admin_variable = _amqp_login(services["broker-topology"]["environment"])
    assert (admin_user, admin_variable) == ("chat", "RABBITMQ_PASSWORD")


def test_every_service_waits_for_the_shared_topology_and_declares_none(
    compose_file: dict[str, Any],
) -> None:
    services = compose_file["services"]
    topology = services["broker-topology"]
    assert topology["command"] == ["python", "-m", "chat_runtime.provision", "topology"]
    assert topology["depends_on"]["rabbitmq"] == {"condition": "service_healthy"}
    assert topology["environment"]["CHAT_AMQP_CA_FILE"] == "/etc/chat/tls/ca.crt"
    shards = compose_file["x-service-env"]["CHAT_SEND_SHARDS"]
    assert topology["environment"]["CHAT_SEND_SHARDS"] == shards
    for name in ACCOUNTS:
        service = services[name]
        assert service["environment"]["CHAT_AMQP_DECLARE_TOPOLOGY"] == "false", name
        assert service["depends_on"]["broker-topology"] == {
            "condition": "service_completed_successfully"
        }, name


def test_message_service_takes_commands_from_the_gateway_account_only(
    compose_file: dict[str, Any],
) -> None:
    from chat_contracts import names
    from chat_runtime.messaging.accounts import askers, gateway_user

    environment = compose_file["services"]["message-service"]["environment"]
    assert environment["CHAT_COMMAND_SENDER"] == gateway_user()
    assert environment["CHAT_QUERY_SENDERS"] == ",".join(askers(names.MESSAGE_QUERY_QUEUE))
    gateway = compose_file["services"]["gateway-service"]["environment"]
    assert _amqp_login(gateway)[0] == gateway_user()


def test_services_and_migrations_use_their_databases_owner_role(
    compose_file: dict[str, Any],
) -> None:
    from chat_runtime.messaging.accounts import database_role

    services = compose_file["services"]
    variables: dict[str, str] = {}
    for name, database in DATABASES.items():
        migration = name.replace("-service", "-migrate")
        service_login = _database_login(services[name]["environment"])
        assert service_login[0] == database_role(database), name
        assert service_login[2] == database, name
        assert _database_login(services[migration]["environment"]) == service_login, migration
        assert services[migration]["depends_on"]["database-owners"] == {
            "condition": "service_completed_successfully"
        }, migration
        variables[database] = service_login[1]
    assert len(set(variables.values())) == len(variables), f"a password is shared: {variables}"
    assert "POSTGRES_PASSWORD" not in variables.values()
    assert "CHAT_DATABASE_URL" not in services["gateway-service"]["environment"]

    # database-owners makes exactly these roles, each with the password its service logs in with.
    owners = services["database-owners"]
    command = " ".join(owners["command"])
    made = dict(re.findall(r"--database (\w+) --password-env (\w+)", command))
    assert made == {db: variables[db] for db in DATABASES.values()}
    assert command.count("chat_runtime.provision database-owner") == len(DATABASES)
    for variable in variables.values():
        assert owners["environment"][variable] == f"${{{variable}:?set {variable} in .env}}"
    role, variable, database = _database_login(owners["environment"])
    assert (role, variable, database) == ("chat", "POSTGRES_PASSWORD", "postgres")
    assert owners["environment"]["CHAT_DATABASE_CA_FILE"] == "/etc/chat/tls/ca.crt"
    assert owners["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_rabbitmq_imports_the_definitions_broker_definitions_writes(
    compose_file: dict[str, Any],
) -> None:
    services = compose_file["services"]
    job = services["broker-definitions"]
    out = Path(job["command"][job["command"].index("--out") + 1])
    assert job["command"][:4] == ["python", "-m", "chat_runtime.provision", "broker-definitions"]
    assert f"broker-definitions:{out.parent}" in job["volumes"]
    # Root for the root-owned volume, but without any capability and on a read-only filesystem.
    assert job["user"] == "0:0"
    assert job["cap_drop"] == ["ALL"]
    assert job["read_only"] is True
    assert "broker-definitions" in compose_file["volumes"]
    rabbit = services["rabbitmq"]
    assert rabbit["depends_on"]["broker-definitions"] == {
        "condition": "service_completed_successfully"
    }
    conf_file = REPO / "deploy" / "compose" / "rabbitmq-definitions.conf"
    mounts = [m for m in rabbit["volumes"] if m.startswith("./deploy/compose/rabbitmq-definitions")]
    assert len(mounts) == 1
    source, target, mode = mounts[0].split(":")
    assert REPO / source == conf_file
    assert target.startswith("/etc/rabbitmq/conf.d/")
    assert target.endswith(".conf")
    assert mode == "ro"
    conf = dict(
        (key.strip(), value.strip())
        for key, _, value in (
            line.partition("=")
            for line in conf_file.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        )
    )
    assert conf["definitions.import_backend"] == "local_filesystem"
    path = Path(conf["definitions.local.path"])
    [volume] = [m for m in rabbit["volumes"] if m.startswith("broker-definitions:")]
    assert volume == f"broker-definitions:{path.parent}:ro"
    assert path.name == out.name


def _password_matches(stored: str, password: str) -> bool:
    """RabbitMQ's rabbit_password_hashing_sha256: base64(salt(4) + sha256(salt + password))."""
    import base64
    import hashlib

    raw = base64.b64decode(stored)
    return hashlib.sha256(raw[:4] + password.encode()).digest() == raw[4:]


def test_broker_definitions_from_the_compose_environment_hold_every_account(
    compose_file: dict[str, Any], tmp_path: Path
) -> None:
    """The job run with compose's own variable names: every account of the table is in the
    file, with the password its service's CHAT_AMQP_URL carries (a renamed variable fails)."""
    from chat_runtime.messaging.accounts import broker_accounts
    from chat_runtime.provision import main

    services = compose_file["services"]
    environ = {k: _filled(str(v)) for k, v in services["broker-definitions"]["environment"].items()}
    out = tmp_path / "definitions.json"
    assert main(["broker-definitions", "--out", str(out)], environ=environ) == 0
    written = json.loads(out.read_text())
    users = {u["name"]: u for u in written["users"]}
    assert set(users) == {"chat", *(a.user for a in broker_accounts())}
    assert users["chat"]["tags"] == ["administrator"]
    logins = [_amqp_login(services[name]["environment"]) for name in ACCOUNTS]
    logins.append(_amqp_login(services["broker-topology"]["environment"]))
    for user, variable in logins:
        password = _filled(f"${{{variable}:?x}}")
        assert _password_matches(users[user]["password_hash"], password), user
    permitted = {p["user"] for p in written["permissions"]}
    assert permitted == set(users)


def test_a_restore_gives_the_databases_to_their_owner_roles(compose_file: dict[str, Any]) -> None:
    from chat_runtime.messaging.accounts import database_role

    suffix = compose_file["x-backup"]["environment"]["CHAT_BACKUP_OWNER_SUFFIX"]
    for database in DATABASES.values():
        assert database + suffix == database_role(database)
    restore = compose_file["services"]["restore"]
    assert restore["depends_on"]["database-owners"] == {
        "condition": "service_completed_successfully"
    }
    assert "CHAT_BACKUP_OWNER_SUFFIX" in (REPO / "deploy" / "compose" / "backup.sh").read_text()
