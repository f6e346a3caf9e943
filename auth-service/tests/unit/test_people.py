"""Pure rules of api-v1.1 C: who acts on whom, registration modes, time zones, erased names,
the refresh idle limit and the auth.user.updated.v1 event against its contract."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from auth_service.domain.people import (
    deleted_username,
    is_admin,
    may_manage,
    may_set_role,
    registration_refusal,
    timezone_errors,
)
from auth_service.domain.sessions import RefreshAction, RefreshTokenState, decide_refresh
from auth_service.events import user_updated
from auth_service.store import UserRecord
from chat_contracts import encode, names, validate

pytestmark = pytest.mark.unit

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ROLES = ("owner", "admin", "member")


@pytest.mark.parametrize(
    ("actor", "target", "manage", "set_role"),
    [
        ("owner", "owner", False, False),
        ("owner", "admin", True, True),
        ("owner", "member", True, True),
        ("admin", "owner", False, False),
        ("admin", "admin", False, False),
        ("admin", "member", True, False),
        ("member", "owner", False, False),
        ("member", "admin", False, False),
        ("member", "member", False, False),
    ],
)
def test_who_acts_on_whom(actor: str, target: str, manage: bool, set_role: bool) -> None:
    assert may_manage(actor, target) is manage
    assert may_set_role(actor, target) is set_role


def test_only_owner_and_admins_administer() -> None:
    assert [is_admin(r) for r in ROLES] == [True, True, False]
    assert not is_admin("superuser")


@pytest.mark.parametrize(
    ("mode", "first", "invite", "refusal"),
    [
        ("open", False, False, None),
        ("invite", False, False, "invite_required"),
        ("invite", False, True, None),
        ("closed", False, True, "registration_closed"),
        ("invite", True, False, None),
        ("closed", True, False, None),
    ],
)
def test_registration_modes(mode: str, first: bool, invite: bool, refusal: str | None) -> None:
    got = registration_refusal(mode, first_account=first, invite_valid=invite)  # type: ignore[arg-type]
    assert got == refusal


@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Argentina/Buenos_Aires", "UTC"])
def test_known_time_zones(zone: str) -> None:
    assert timezone_errors(zone) == []


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc/passwd", "", "europe/paris", "x" * 100])
def test_unknown_time_zones(zone: str) -> None:
    assert [e.code for e in timezone_errors(zone)] == ["unknown_timezone"]


def test_deleted_usernames_are_valid_usernames() -> None:
    name = deleted_username()
    assert re.fullmatch(r"deleted-[0-9a-f]{8}", name)
    assert deleted_username() != name


def state(last_used: datetime | None) -> RefreshTokenState:
    return RefreshTokenState(
        rotated_at=None,
        successor_rotated=False,
        session_revoked=False,
        session_expires_at=AT + timedelta(days=30),
        last_used_at=last_used,
    )


def test_refresh_idle_limit() -> None:
    idle = timedelta(days=14)
    grace = timedelta(seconds=30)
    fresh = state(AT - timedelta(days=13))
    stale = state(AT - timedelta(days=14, seconds=1))
    assert decide_refresh(fresh, AT, grace, idle) is RefreshAction.ROTATE
    assert decide_refresh(stale, AT, grace, idle) is RefreshAction.REFUSE
    assert decide_refresh(stale, AT, grace) is RefreshAction.ROTATE  # no limit given
    assert decide_refresh(state(None), AT, grace, idle) is RefreshAction.ROTATE


def test_user_updated_event_matches_its_contract() -> None:
    user = UserRecord(
        uuid.uuid4(),
        "deleted-0a1b2c3d",
        "Deleted user",
        "",
        AT,
        role="member",
        deactivated=True,
        deleted=True,
        version=7,
    )
    data = encode(user_updated(user))
    body = json.loads(data)
    validate(names.AUTH_USER_UPDATED_V1, body)
    assert body["version"] == 7
    assert body["user"]["deleted"] is True
    assert body["user"]["avatar_file_id"] is None
