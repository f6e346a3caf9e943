"""What the use cases refuse with; `api/errors.py` turns each into its problem response."""

from __future__ import annotations


class FileServiceError(Exception):
    """Base of the refusals below."""


class FileTooLarge(FileServiceError):
    """The upload passed CHAT_FILE_MAX_BYTES (413 `file_too_large`)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"larger than {max_bytes} bytes")
        self.max_bytes = max_bytes


class BadUpload(FileServiceError):
    """A body that is not a usable multipart form (415 not multipart, 400 malformed)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class NotFound(FileServiceError):
    """No such file, or not for this caller (404: never tell which)."""


class StorageUnavailable(FileServiceError):
    """The bytes could not be written or read right now (503 `unavailable`)."""
