"""Signed links to file bytes (api-v1.1 E): `<img>`, links and range requests reach a file
without a bearer header, for one file and the one user the link was given to, for 10 minutes.

file-service signs them in its answers and honours them; message-service signs them in the
history it answers, so both hold the same key (`CHAT_FILE_LINK_KEY`). A link names its user, so
every GET through it still checks that user's access at that moment.
"""

from __future__ import annotations

from itsdangerous import BadData, URLSafeTimedSerializer

LINK_TTL_S = 600
_SALT = "chat-file-link"


def _serializer(key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=_SALT)


def file_link_token(key: str, file_id: str, user_id: str) -> str:
    """The token of a link to `file_id` for `user_id` (valid LINK_TTL_S from now)."""
    return str(_serializer(key).dumps({"f": file_id.lower(), "u": user_id.lower()}))


def sign_file_links(
    key: str, file_id: str, user_id: str, has_thumbnail: bool
) -> tuple[str, str | None]:
    """(`url`, `thumbnail_url` or None) of a file for one user."""
    token = file_link_token(key, file_id, user_id)
    url = f"/v1/files/{file_id}?token={token}"
    thumb = f"/v1/files/{file_id}/thumbnail?token={token}" if has_thumbnail else None
    return url, thumb


def read_file_link(key: str, token: str, file_id: str, max_age_s: int = LINK_TTL_S) -> str | None:
    """The user a valid, unexpired token for `file_id` was given to; None for anything else."""
    try:
        data = _serializer(key).loads(token, max_age=max_age_s)
    except BadData:
        return None
    if not isinstance(data, dict) or data.get("f") != file_id.lower():
        return None
    user = data.get("u")
    return user if isinstance(user, str) else None
