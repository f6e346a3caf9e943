"""chat_runtime.provision's broker definitions (compose's accounts, ADR 0015), without servers."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path

import pytest
from chat_runtime import provision
from chat_runtime.messaging.accounts import broker_accounts, gateway_user

pytestmark = pytest.mark.unit

SERVICES = [a.service for a in broker_accounts()]
ENV = {
    "CHAT_AMQP_ADMIN_USER": "chat",
    "CHAT_AMQP_ADMIN_PASSWORD": "admin-pw-real",
    **{provision.password_variable(s): f"pw-{s}-real" for s in SERVICES},
}


def _verifies(password_hash: str, password: str) -> bool:
    raw = base64.b64decode(password_hash)
    salt, digest = raw[:4], raw[4:]
    return hashlib.sha256(salt + password.encode()).digest() == digest


def test_every_account_gets_its_password_and_permissions(tmp_path: Path) -> None:
    out = tmp_path / "definitions.json"
    assert provision.main(["broker-definitions", "--out", str(out)], environ=ENV) == 0
    written = json.loads(out.read_text())
    users = {u["name"]: u for u in written["users"]}
    assert set(users) == {"chat", *(a.user for a in broker_accounts())}
    assert users["chat"]["tags"] == ["administrator"]
    assert _verifies(users["chat"]["password_hash"], "admin-pw-real")
    for account in broker_accounts():
        user = users[account.user]
        assert user["tags"] == []  # no management access for a service
        assert _verifies(user["password_hash"], f"pw-{account.service}-real")
        assert "pw-" not in json.dumps(user)  # hashes only, never the password
    permissions = {p["user"]: p for p in written["permissions"]}
    gateway = permissions[gateway_user()]
    assert gateway["write"] == next(a.write for a in broker_accounts() if a.service == "gateway")
    assert permissions["chat"]["configure"] == ".*"
    topics = {p["user"] for p in written["topic_permissions"]}
    assert topics == {a.user for a in broker_accounts()}  # the administrator has none to limit
    assert written["vhosts"] == [{"name": "/"}]
    # The broker (another user in its container) reads the file.
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


@pytest.mark.parametrize("variable", sorted(v for v in ENV if v != "CHAT_AMQP_ADMIN_USER"))
def test_an_empty_or_default_password_is_refused_by_name(
    tmp_path: Path, variable: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "definitions.json"
    for weak in ("", "guest"):
        code = provision.main(
            ["broker-definitions", "--out", str(out)], environ={**ENV, variable: weak}
        )
        assert code == 2
        assert variable in capsys.readouterr().err
        assert not out.exists()


def test_the_administrator_must_be_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "definitions.json"
    code = provision.main(
        ["broker-definitions", "--out", str(out)], environ={**ENV, "CHAT_AMQP_ADMIN_USER": ""}
    )
    assert code == 2
    assert "CHAT_AMQP_ADMIN_USER" in capsys.readouterr().err


def test_the_other_jobs_refuse_without_their_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert provision.main(["topology"], environ={}) == 2
    assert "CHAT_AMQP_URL" in capsys.readouterr().err
    args = ["database-owner", "--database", "chat_auth", "--password-env", "AUTH_DATABASE_PASSWORD"]
    assert provision.main(args, environ={"AUTH_DATABASE_PASSWORD": "pw-real"}) == 2
    assert "CHAT_DATABASE_URL" in capsys.readouterr().err
    url = "postgresql://chat:pw@127.0.0.1:1/postgres"
    assert provision.main(args, environ={"CHAT_DATABASE_URL": url}) == 2
    assert "AUTH_DATABASE_PASSWORD" in capsys.readouterr().err
