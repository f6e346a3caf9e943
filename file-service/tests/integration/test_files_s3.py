"""The upload/download round trip with CHAT_FILE_STORAGE=s3 (moto in server mode, the
`s3_server` / `s3_env` fixtures of conftest.py)."""

from __future__ import annotations

import hashlib
import io
import sys
import uuid
from pathlib import Path

import pytest
from PIL import Image

if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from fileservice_stack import auth, file_stack, jpeg_with_gps, s3_settings

pytestmark = [pytest.mark.integration]


async def test_s3_round_trip(tmp_path: Path, s3_env: dict[str, str]) -> None:
    async with file_stack(tmp_path / "files", **s3_settings(s3_env)) as stack:
        user = uuid.uuid4()
        content = bytes(range(256)) * 3000
        file = await stack.uploaded(user, content, filename="data.bin")
        assert file["sha256"] == hashlib.sha256(content).hexdigest()
        r = await stack.client.get(file["url"])
        assert r.status_code == 200
        assert r.content == content
        r = await stack.client.get(file["url"], headers={"Range": "bytes=100000-100009"})
        assert r.status_code == 206
        assert r.content == content[100000:100010]

        image = await stack.uploaded(user, jpeg_with_gps(), filename="photo.jpg")
        served = (await stack.client.get(image["url"])).content
        assert hashlib.sha256(served).hexdigest() == image["sha256"]
        assert b"CameraMaker" not in served
        thumb = await stack.client.get(image["thumbnail_url"])
        with Image.open(io.BytesIO(thumb.content)) as decoded:
            assert decoded.format == "JPEG"

        # Nothing went to the local directory but the (empty) spool.
        stored = [p for p in (tmp_path / "files").rglob("*") if p.is_file()]
        assert stored == []
        r = await stack.client.get(f"/v1/files/{file['id']}", headers=auth(user))
        assert r.content == content
