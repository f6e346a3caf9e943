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


class InvalidText(DomainError):
    status = 422
    code = "validation_failed"

    def __init__(self, detail: str, rule: str) -> None:
        super().__init__(detail)
        self.rule = rule
