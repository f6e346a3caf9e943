"""GET /v1/presence: everyone online or away, or the presence of the given users."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from chat_runtime.http import FieldError, Problem
from fastapi import APIRouter, Query
from pydantic import BaseModel

from presence_service.deps import CurrentUser, PresenceDep
from presence_service.domain.state import Presence
from presence_service.timestamps import rfc3339

MAX_USER_IDS = 500
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

router = APIRouter(prefix="/v1", tags=["presence"])


class PresenceOut(BaseModel):
    user_id: str
    status: Literal["online", "away", "offline"]
    last_seen_at: str | None
    connections: int

    @classmethod
    def of(cls, p: Presence) -> PresenceOut:
        return cls(
            user_id=p.user_id,
            status=p.status,
            last_seen_at=rfc3339(p.last_seen_at) if p.last_seen_at is not None else None,
            connections=p.connections,
        )


class PresenceList(BaseModel):
    users: list[PresenceOut]


def parse_user_ids(values: list[str]) -> list[str]:
    """Comma lists (the parameter may also repeat); every broken value is named, not only one."""
    raw = [part.strip() for value in values for part in value.split(",")]
    errors: list[FieldError] = []
    ids: list[str] = []
    for value in raw:
        if not value:
            errors.append(
                {
                    "field": "user_ids",
                    "code": "empty",
                    "message": "The list has an empty entry; give user ids separated by commas.",
                }
            )
        elif not _UUID.match(value):
            shown = value if len(value) <= 40 else value[:40] + "…"
            errors.append(
                {
                    "field": "user_ids",
                    "code": "invalid_uuid",
                    "message": f"“{shown}” is not a user id; user ids are UUIDs.",
                }
            )
        else:
            ids.append(value.lower())
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_USER_IDS:
        errors.append(
            {
                "field": "user_ids",
                "code": "too_many",
                "message": (
                    f"Ask for at most {MAX_USER_IDS} users at once (you asked for {len(unique)})."
                ),
            }
        )
    if errors:
        raise Problem(
            422,
            "validation_failed",
            _summary(errors),
            errors=errors,
        )
    return unique


def _summary(errors: list[FieldError]) -> str:
    more = len(errors) - 1
    tail = f" ({more} more problem{'s' if more > 1 else ''} listed in errors.)" if more else ""
    return f"The user_ids parameter is not valid. {errors[0]['message']}{tail}"


@router.get("/presence", response_model=PresenceList)
async def get_presence(
    service: PresenceDep,
    _user: CurrentUser,
    user_ids: Annotated[
        list[str] | None, Query(description="comma-separated user ids, ≤ 500")
    ] = None,
) -> PresenceList:
    if user_ids is None:
        found = service.everyone_present()
    else:
        found = await service.presence_of(parse_user_ids(user_ids))
    return PresenceList(users=[PresenceOut.of(p) for p in found])
