"""api-v1.1 E attachments against real PostgreSQL and RabbitMQ: the `files` projection of
`file.uploaded.v1`, sends with files over REST and the bus (refusals included: the upload-then-
send race is a retriable `unavailable`), every REST answer's links signed for its caller, the
bus without links, a delete emptying the files, `file.access.query.v1`, the feature switch and
the statements a batch with files runs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import orjson
import pytest
import sqlalchemy as sa
from chat_contracts import names, types
from chat_runtime.features import IMPLEMENTED
from chat_runtime.file_links import read_file_link
from chat_runtime.messaging import OutgoingMessage, shard_of
from message_service.domain.sending import SendCommand
from message_service.services import sending
from message_service.store import UnitOfWork, tables

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

SHARDS = 2


def problem(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["code"] == code, body
    assert body["detail"]
    return body


def stamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def a_file(
    uploader: uuid.UUID,
    *,
    purpose: str = "attachment",
    age: timedelta = timedelta(seconds=5),
    image: bool = True,
    name: str | None = None,
) -> types.File:
    file_id = str(uuid.uuid4())
    return types.File(
        id=file_id,
        name=name or f"file-{file_id[:8]}.{'png' if image else 'pdf'}",
        size=12345,
        content_type="image/png" if image else "application/pdf",
        sha256=uuid.uuid4().hex * 2,
        width=800 if image else None,
        height=600 if image else None,
        has_thumbnail=image,
        purpose=purpose,  # type: ignore[arg-type]
        created_at=stamp(datetime.now(UTC) - age),
        uploader_id=str(uploader),
    )


async def publish_uploaded(s: Any, file: types.File) -> None:
    """file.uploaded.v1 as file-service's outbox relay publishes it."""
    event = types.FileUploadedV1(file=file)
    result = await s.broker.publish(
        names.EXCHANGE_EVENTS, OutgoingMessage.of(names.FILE_UPLOADED_V1, event)
    )
    result.raise_first()


async def stored_file(s: Any, file_id: str) -> Any:
    async with s.host.require_sessions()() as session:
        f = tables.files
        return (await session.execute(sa.select(f).where(f.c.id == uuid.UUID(file_id)))).first()


async def learned(s: Any, *files: types.File) -> None:
    """Publish the files' events and wait until the projection has them all."""
    for file in files:
        await publish_uploaded(s, file)
    for _ in range(250):
        if all([await stored_file(s, f.id) for f in files]):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("file.uploaded.v1 was not projected")


async def uploaded(s: Any, uploader: uuid.UUID, n: int = 1, **kwargs: Any) -> list[types.File]:
    files = [a_file(uploader, **kwargs) for _ in range(n)]
    await learned(s, *files)
    return files


async def member_room(s: Any, owner: uuid.UUID, *others: uuid.UUID) -> str:
    room: str = await s.room(owner)
    for user in others:
        r = await s.client.post(f"/v1/rooms/{room}/members", json={}, headers=s.auth(user))
        assert r.status_code == 200, r.text
    return room


async def post(s: Any, room: str, user: uuid.UUID, cmid: str | None = None, **fields: Any) -> Any:
    body = {"client_msg_id": cmid or str(uuid.uuid4()), **fields}
    return await s.client.post(f"/v1/rooms/{room}/messages", json=body, headers=s.auth(user))


async def history(s: Any, room: str, user: uuid.UUID, query: str = "after_seq=0") -> Any:
    r = await s.client.get(f"/v1/rooms/{room}/messages?{query}", headers=s.auth(user))
    assert r.status_code == 200, r.text
    return r.json()


async def access(s: Any, file_id: str, user: uuid.UUID) -> tuple[bool, bool]:
    reply = await s.broker.request(
        names.MESSAGE_QUERY_QUEUE,
        types.FileAccessQueryV1(file_id=file_id, user_id=str(user)),
        reply_type=types.FileAccessReplyV1,
    )
    assert (reply.file_id, reply.user_id) == (file_id, str(user))
    return reply.readable, reply.attached


def key_of(s: Any) -> str:
    key: str = s.app.state.settings.file_link_key.get_secret_value()
    return key


def assert_signed(s: Any, attachment: dict[str, Any], user: uuid.UUID) -> None:
    """`url` and `thumbnail_url` lead to this file and work for `user` only."""
    file_id = attachment["id"]
    for field, path in (("url", f"/v1/files/{file_id}"), ("thumbnail_url", None)):
        link = attachment[field]
        if path is None:
            if not attachment["has_thumbnail"]:
                assert link is None
                continue
            path = f"/v1/files/{file_id}/thumbnail"
        parts = urlsplit(link)
        assert parts.path == path
        (token,) = parse_qs(parts.query)["token"]
        assert read_file_link(key_of(s), token, file_id) == str(user)
        assert read_file_link(key_of(s), token, str(uuid.uuid4())) is None


def without_links(attachments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in a.items() if k not in ("url", "thumbnail_url")} for a in attachments]


def wire(file: types.File) -> dict[str, Any]:
    body: dict[str, Any] = msgspec.to_builtins(file)
    return body


async def test_files_ride_on_the_entry_signed_for_each_caller_and_without_links_on_the_bus(
    ms_bus: Any,
) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await member_room(s, ana, ben)
    image, pdf = await uploaded(s, ana), await uploaded(s, ana, image=False)
    files = [pdf[0], image[0]]
    r = await post(s, room, ana, text="", attachments=[f.id for f in files])
    assert r.status_code == 201, r.text
    sent = r.json()["message"]
    assert sent["text"] == ""
    assert without_links(sent["attachments"]) == [wire(f) for f in files]
    for attachment in sent["attachments"]:
        assert_signed(s, attachment, ana)
    assert sent["attachments"][0]["thumbnail_url"] is None  # the PDF has no thumbnail

    # The event (and so the frames) carries the files without links.
    def events() -> list[dict[str, Any]]:
        return [
            e
            for e in s.spy.of(f"room.{room}.message.created.v1")
            if e["message"]["id"] == sent["id"]
        ]

    await s.spy.wait_for(lambda _: bool(events()))
    (event,) = events()
    assert event["message"]["attachments"] == [wire(f) for f in files]

    # History: the same files, links signed for whoever asks; entries without files have none.
    plain = await post(s, room, ben, text="nice")
    assert "attachments" not in plain.json()["message"]
    for user in (ana, ben):
        for query in ("after_seq=0", "", f"around_seq={sent['seq']}&content_only=true"):
            page = await history(s, room, user, query)
            entries = {m["id"]: m for m in page["messages"]}
            assert without_links(entries[sent["id"]]["attachments"]) == [wire(f) for f in files]
            for attachment in entries[sent["id"]]["attachments"]:
                assert_signed(s, attachment, user)
            assert "attachments" not in entries[plain.json()["message"]["id"]]


async def test_thread_replies_and_search_hits_carry_their_files(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await member_room(s, ana, ben)
    (root_file,) = await uploaded(s, ana)
    (reply_file,) = await uploaded(s, ben)
    word = f"quarterly{uuid.uuid4().hex[:6]}"
    root = await post(s, room, ana, text=f"the {word} report", attachments=[root_file.id])
    assert root.status_code == 201, root.text
    root_id = root.json()["message"]["id"]
    reply = await post(s, room, ben, text="", attachments=[reply_file.id], thread_root_id=root_id)
    assert reply.status_code == 201, reply.text

    r = await s.client.get(f"/v1/rooms/{room}/threads/{root_id}", headers=s.auth(ana))
    assert r.status_code == 200, r.text
    thread = r.json()
    assert [a["id"] for a in thread["root"]["attachments"]] == [root_file.id]
    (answer,) = thread["replies"]
    assert [a["id"] for a in answer["attachments"]] == [reply_file.id]
    assert_signed(s, answer["attachments"][0], ana)

    r = await s.client.get(f"/v1/search?q={word}&room_id={room}", headers=s.auth(ben))
    assert r.status_code == 200, r.text
    (hit,) = r.json()["results"]
    assert [a["id"] for a in hit["message"]["attachments"]] == [root_file.id]
    assert_signed(s, hit["message"]["attachments"][0], ben)


async def test_a_file_not_known_yet_is_unavailable_until_its_upload_event_arrives(
    ms_bus: Any,
) -> None:
    """The upload-then-send race: the client got its 201 from file-service before
    file.uploaded.v1 reached message-service; its send is refused retriably, then passes."""
    s = ms_bus
    ana = await s.register_user()
    room = await member_room(s, ana)
    early = a_file(ana)
    cmid = str(uuid.uuid4())
    r = await post(s, room, ana, cmid, text="here", attachments=[early.id])
    problem(r, 503, "unavailable")
    assert r.headers["retry-after"] == "1"
    # Over the bus: message.rejected.v1 with code `unavailable` (the gateway's frame code).
    bus_cmid = str(uuid.uuid4())
    await publish_send(s, room, ana, bus_cmid, attachments=[early.id])
    await s.spy.wait_for(lambda spy: bool(spy.of(f"user.{ana}.message.rejected.v1")))
    (rejected,) = s.spy.of(f"user.{ana}.message.rejected.v1")
    assert (rejected["client_msg_id"], rejected["code"]) == (bus_cmid, "unavailable")

    await learned(s, early)
    r = await post(s, room, ana, cmid, text="here", attachments=[early.id])
    assert r.status_code == 201, r.text
    assert [a["id"] for a in r.json()["message"]["attachments"]] == [early.id]
    await publish_send(s, room, ana, bus_cmid, attachments=[early.id])
    await s.spy.wait_for(
        lambda spy: any(
            e["message"]["client_msg_id"] == bus_cmid
            for e in spy.of(f"room.{room}.message.created.v1")
        )
    )
    # Refused sends took no seq: the two entries are 1 and 2.
    page = await history(s, room, ana)
    assert [m["seq"] for m in page["messages"]] == [1, 2]


async def publish_send(
    s: Any, room: str, sender: uuid.UUID, cmid: str, *, attachments: list[str], text: str = ""
) -> None:
    """A gateway's command; a send of files alone leaves `text` out (the command's schema takes
    no blank text)."""
    command = types.MessageSendV1(
        client_msg_id=cmid,
        room_id=room,
        sender_id=str(sender),
        session_id=str(uuid.uuid4()),
        text=text or msgspec.UNSET,
        gateway_id=str(uuid.uuid4()),
        connection_id=str(uuid.uuid4()),
        attachments=attachments,
    )
    key = names.send_routing_key(shard_of(room, SHARDS))
    result = await s.broker.publish(
        names.EXCHANGE_COMMANDS, OutgoingMessage.of(key, command), mandatory=True
    )
    result.raise_first()


async def test_files_the_sender_may_not_attach_are_422_on_attachments(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await member_room(s, ana, ben)
    (mine,) = await uploaded(s, ana)
    (bens,) = await uploaded(s, ben)
    (avatar,) = await uploaded(s, ana, purpose="avatar")
    (old,) = await uploaded(s, ana, age=timedelta(hours=23, minutes=1))
    for bad in (bens, avatar, old):
        r = await post(s, room, ana, text="x", attachments=[mine.id, bad.id])
        body = problem(r, 422, "validation_failed")
        assert [e["field"] for e in body["errors"]] == ["attachments"], body
    body = problem(
        await post(s, room, ana, text="x", attachments=[mine.id, mine.id]), 422, "validation_failed"
    )
    assert [e["field"] for e in body["errors"]] == ["attachments"]
    eleven = await uploaded(s, ana, 11)
    body = problem(
        await post(s, room, ana, text="x", attachments=[f.id for f in eleven]),
        422,
        "validation_failed",
    )
    assert any("attachments" in e["field"] for e in body["errors"]), body
    ten = await post(s, room, ana, text="", attachments=[f.id for f in eleven[:10]])
    assert ten.status_code == 201, ten.text
    assert [a["id"] for a in ten.json()["message"]["attachments"]] == [f.id for f in eleven[:10]]
    # No text and no files is still refused.
    problem(await post(s, room, ana, text="", attachments=[]), 422, "validation_failed")
    # Over the bus the same rules are `bad_request` (the gateway's frame code).
    cmid = str(uuid.uuid4())
    await publish_send(s, room, ana, cmid, attachments=[bens.id])
    await s.spy.wait_for(lambda spy: bool(spy.of(f"user.{ana}.message.rejected.v1")))
    (rejected,) = s.spy.of(f"user.{ana}.message.rejected.v1")
    assert (rejected["client_msg_id"], rejected["code"]) == (cmid, "bad_request")


async def test_a_client_msg_id_reused_with_other_files_is_409(ms_bus: Any) -> None:
    s = ms_bus
    ana = await s.register_user()
    room = await member_room(s, ana)
    one, two = await uploaded(s, ana, 2)
    cmid = str(uuid.uuid4())
    first = await post(s, room, ana, cmid, text="hi", attachments=[one.id])
    assert first.status_code == 201, first.text
    again = await post(s, room, ana, cmid, text="hi", attachments=[one.id])
    assert again.status_code == 200, again.text
    assert [a["id"] for a in again.json()["message"]["attachments"]] == [one.id]
    for other in ([two.id], [one.id, two.id], []):
        problem(
            await post(s, room, ana, cmid, text="hi", attachments=other),
            409,
            "client_msg_id_reused",
        )
    problem(await post(s, room, ana, cmid, text="hi"), 409, "client_msg_id_reused")


async def test_a_delete_empties_the_files_and_ends_access_at_once(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben = await s.register_user(), await s.register_user()
    room = await member_room(s, ana, ben)
    (file,) = await uploaded(s, ana)
    sent = await post(s, room, ana, text="secret plan", attachments=[file.id])
    assert sent.status_code == 201, sent.text
    message = sent.json()["message"]
    await s.spy.wait_for(lambda spy: bool(spy.of(f"room.{room}.message.created.v1")))
    assert await access(s, file.id, ben) == (True, True)

    r = await post(s, room, ana, kind="delete", target_id=message["id"])
    assert r.status_code == 201, r.text
    assert await access(s, file.id, ben) == (False, False)
    assert await access(s, file.id, ana) == (False, False)
    entries = {m["id"]: m for m in (await history(s, room, ben))["messages"]}
    tombstone = entries[message["id"]]
    assert tombstone["deleted"] is True
    assert "attachments" not in tombstone
    async with s.host.require_sessions()() as session:
        a = tables.message_attachments
        rows = await session.execute(sa.select(a).where(a.c.file_id == uuid.UUID(file.id)))
        assert list(rows) == []
        # The outbox row of its created event keeps neither the text nor the files.
        found = await session.execute(
            sa.text(
                "SELECT body::text AS body FROM outbox"
                f" WHERE {tables.OUTBOX_MESSAGE_REF} = :id AND {tables.OUTBOX_MESSAGE_TYPES}"
            ),
            {"id": message["id"]},
        )
        bodies = [orjson.loads(row.body) for row in found]
    assert bodies
    for body in bodies:
        assert body["message"]["text"] == ""
        assert "attachments" not in body["message"]


async def test_the_access_query_follows_membership(ms_bus: Any) -> None:
    s = ms_bus
    ana, ben, cy, eve = [await s.register_user() for _ in range(4)]
    room = await member_room(s, ana, ben, cy)
    (file,) = await uploaded(s, ana)
    (loose,) = await uploaded(s, ana)  # uploaded, never attached
    assert await access(s, file.id, ben) == (False, False)
    r = await post(s, room, ana, text="", attachments=[file.id])
    assert r.status_code == 201, r.text
    assert await access(s, file.id, ana) == (True, True)
    assert await access(s, file.id, ben) == (True, True)
    assert await access(s, file.id, eve) == (False, True)  # not a member
    assert await access(s, loose.id, ana) == (False, False)
    assert await access(s, str(uuid.uuid4()), ana) == (False, False)  # unknown file
    # Removed by a room admin; left on their own: no longer readable.
    r = await s.client.delete(f"/v1/rooms/{room}/members/{ben}", headers=s.auth(ana))
    assert r.status_code in (200, 204), r.text
    assert await access(s, file.id, ben) == (False, True)
    r = await s.client.delete(f"/v1/rooms/{room}/members/me", headers=s.auth(cy))
    assert r.status_code in (200, 204), r.text
    assert await access(s, file.id, cy) == (False, True)
    # The membership query still answers on the same queue.
    reply = await s.broker.request(
        names.MESSAGE_QUERY_QUEUE,
        types.MembershipQueryV1(user_id=str(ana)),
        reply_type=types.MembershipReplyV1,
    )
    assert room in reply.room_ids


async def test_file_uploaded_is_projected_once_whatever_the_redeliveries(ms_bus: Any) -> None:
    s = ms_bus
    ana = await s.register_user()
    file = a_file(ana, image=False, name="notes.pdf")
    await learned(s, file)
    await learned(s, file)
    # A second copy that differs (it never should) changes nothing: files never change.
    await publish_uploaded(s, msgspec.structs.replace(file, name="other.pdf"))
    await learned(s, a_file(ana))  # a later event on the same queue is through: so is that one
    row = await stored_file(s, file.id)
    assert (row.name, row.uploader_id, row.purpose, row.width, row.has_thumbnail) == (
        "notes.pdf",
        ana,
        "attachment",
        None,
        False,
    )
    async with s.host.require_sessions()() as session:
        f = tables.files
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(f).where(f.c.id == uuid.UUID(file.id))
        )
    assert count == 1


async def test_attachments_are_feature_disabled_while_the_feature_is_off(ms_bus: Any) -> None:
    s = ms_bus
    ana = await s.register_user()
    room = await member_room(s, ana)
    (file,) = await uploaded(s, ana)
    async with s.rest_replica(",".join(sorted(IMPLEMENTED - {"attachments"}))) as off:
        r = await off.post(
            f"/v1/rooms/{room}/messages",
            json={"client_msg_id": str(uuid.uuid4()), "text": "x", "attachments": [file.id]},
            headers=s.auth(ana),
        )
        problem(r, 403, "feature_disabled")
        # Plain text still goes through.
        r = await off.post(
            f"/v1/rooms/{room}/messages",
            json={"client_msg_id": str(uuid.uuid4()), "text": "x"},
            headers=s.auth(ana),
        )
        assert r.status_code == 201, r.text


async def test_a_batch_with_files_adds_one_read_and_one_insert(ms_bus: Any) -> None:
    """The hot path stays four statements; files add the projection read and the rows."""
    s = ms_bus
    ana = await s.register_user()
    room = await member_room(s, ana)
    files = await uploaded(s, ana, 3)
    engine = s.host.require_sessions().kw["bind"]
    seen: list[tuple[Any, str]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append((conn, statement))

    async def batch(*commands: SendCommand) -> list[str]:
        seen.clear()
        async with UnitOfWork(s.host.require_sessions(), s.host.relay) as session:
            mine = (await session.connection()).sync_connection
            outcomes = await sending.send_messages(session, commands)
        assert all(type(o).__name__ == "Created" for o in outcomes), outcomes
        return [x for conn, x in seen if conn is mine]

    def send(text: str, attachments: list[types.File] | None = None) -> SendCommand:
        ids = tuple(uuid.UUID(f.id) for f in attachments) if attachments is not None else None
        return SendCommand(uuid.uuid4(), uuid.UUID(room), ana, text, attachments=ids)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        plain = await batch(send("one"), send("two"))
        assert len(plain) == 4, plain
        assert not any("FROM files" in x or "message_attachments (" in x for x in plain)
        with_files = await batch(send("", files[:2]), send("three"), send("", files[2:]))
        assert len(with_files) == 6, with_files
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", record)
    page = await history(s, room, ana)
    assert [[a["id"] for a in m.get("attachments", [])] for m in page["messages"]] == [
        [],
        [],
        [files[0].id, files[1].id],
        [],
        [files[2].id],
    ]
