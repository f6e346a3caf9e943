"""Refusals of the use cases; the HTTP layer turns them into RFC 9457 problems."""

from __future__ import annotations


class DomainError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class RoomNotFound(DomainError):
    status = 404
    code = "room_not_found"

    def __init__(self, detail: str = "There is no such room, or you are not in it.") -> None:
        super().__init__(detail)


class NotAMember(DomainError):
    status = 404
    code = "not_a_member"

    def __init__(self, detail: str = "You are not a member of this room.") -> None:
        super().__init__(detail)


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class UserNotFound(DomainError):
    status = 404
    code = "user_not_found"

    def __init__(self, detail: str = "There is no user with this id.") -> None:
        super().__init__(detail)


class ClientMsgIdReused(DomainError):
    status = 409
    code = "client_msg_id_reused"


class NotFound(DomainError):
    """The target of an entry (api-v1.1 A) is absent from the room, not a `text` entry, or
    deleted."""

    status = 404
    code = "not_found"

    def __init__(
        self, detail: str = "There is no such message in this room, or it was deleted."
    ) -> None:
        super().__init__(detail)


class InvalidField(DomainError):
    """A value breaks a content rule: REST answers 422 `validation_failed` with the field in
    `errors` (`rule` is the error's `code`: `bad_request`, `message_too_long`, ...)."""

    status = 422
    code = "validation_failed"

    def __init__(self, detail: str, rule: str, field: str) -> None:
        super().__init__(detail)
        self.rule = rule
        self.field = field


class InvalidText(InvalidField):
    def __init__(self, detail: str, rule: str) -> None:
        super().__init__(detail, rule, "text")


class Unsupported(DomainError):
    """A kind or field this release does not implement (api-v1.1 preamble)."""

    status = 422
    code = "unsupported"


class FeatureDisabled(DomainError):
    """An addition this release implements but whose feature is switched off."""

    status = 403
    code = "feature_disabled"


class Deactivated(DomainError):
    """A direct entry to a user whose account is deactivated (api-v1.1 A)."""

    status = 403
    code = "deactivated"


class Archived(DomainError):
    """An archived room is read-only (api-v1.1 C): entries (but a room admin's delete), renames,
    topics, joins and invites are refused."""

    status = 403
    code = "archived"

    def __init__(self, detail: str = "This room is archived: it is read-only.") -> None:
        super().__init__(detail)


class Blocked(DomainError):
    """A direct entry between two users where one blocks the other (api-v1.1 A)."""

    status = 403
    code = "blocked"


class Unavailable(DomainError):
    """Something the request needs is not there yet (api-v1.1 E: a file message-service has
    not learned of): 503, the client retries."""

    status = 503
    code = "unavailable"


class LastRoomAdmin(DomainError):
    """Removing or demoting the last room admin of a channel (api-v1.1 C)."""

    status = 409
    code = "last_room_admin"

    def __init__(
        self,
        detail: str = "This is the room's last admin: make someone else an admin first.",
    ) -> None:
        super().__init__(detail)
