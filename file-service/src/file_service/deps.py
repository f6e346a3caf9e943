"""What the routes and handlers of one running file-service share (made in `on_start`)."""

from __future__ import annotations

from dataclasses import dataclass

from file_service.access import FileAccess
from file_service.downloads import Downloads
from file_service.settings import FileSettings
from file_service.storage import FileStorage
from file_service.store import FileStore
from file_service.uploads import Uploads


@dataclass(frozen=True, slots=True)
class FileDeps:
    settings: FileSettings
    store: FileStore
    storage: FileStorage
    access: FileAccess
    uploads: Uploads
    downloads: Downloads
