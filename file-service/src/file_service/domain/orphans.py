"""Which old files the sweep deletes (DESIGN §6, api-v1.1 E): pure decisions, no I/O."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from uuid import UUID

__all__ = ["Verdict", "attachment_verdict", "avatar_verdict", "orphan_cutoff"]


class Verdict(enum.Enum):
    KEEP = "keep"  # an attachment on some entry: marked kept, never asked about again
    DELETE = "delete"  # bytes and row go
    LEAVE = "leave"  # not (yet) an orphan: nothing changes


def orphan_cutoff(now: datetime, orphan_after_s: float) -> datetime:
    """Files created before this may be orphans."""
    return now - timedelta(seconds=orphan_after_s)


def attachment_verdict(
    created_at: datetime, kept: bool, attached: bool, *, cutoff: datetime
) -> Verdict:
    """An attachment past the cutoff: kept for good when message-service says it is on an
    entry (`attached`), else deleted; a younger or already kept one is left alone."""
    if kept or created_at >= cutoff:
        return Verdict.LEAVE
    return Verdict.KEEP if attached else Verdict.DELETE


def avatar_verdict(
    file_id: UUID, created_at: datetime, current_avatar: UUID | None, *, cutoff: datetime
) -> Verdict:
    """An avatar past the cutoff that is not its uploader's current avatar is deleted."""
    if created_at >= cutoff or current_avatar == file_id:
        return Verdict.LEAVE
    return Verdict.DELETE
