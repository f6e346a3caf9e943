"""api-v1.1 E attachments in the batch planner (pure domain, no I/O): which files a text entry
may carry, the refusals and their codes, the rows the batch writes, a delete emptying them, the
content hash that tells a repeat from a reuse, and the wire object without links."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from message_service.domain import errors
from message_service.domain.entries import content_hash, stored_hash
from message_service.domain.model import FileInfo, Message
from message_service.domain.sending import (
    ATTACH_WITHIN,
    MAX_ATTACHMENTS,
    Created,
    Duplicate,
    Outcome,
    Rejected,
    RoomState,
    SendCommand,
    Stored,
    Target,
    plan_batch,
)
from message_service.handlers.files import file_info
from message_service.services.sending import refusal_error
from message_service.wire import file_struct, message_json, message_struct

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 7, 2, 0, 0, tzinfo=UTC)
ROOM = UUID(int=1)
ANA, BEN = UUID(int=100), UUID(int=101)


def ids() -> Callable[[], UUID]:
    counter = itertools.count(1)
    return lambda: UUID(int=10_000 + next(counter))


def file(
    n: int,
    uploader: UUID = ANA,
    purpose: str = "attachment",
    age: timedelta = timedelta(minutes=1),
    thumbnail: bool = True,
) -> FileInfo:
    return FileInfo(
        id=UUID(int=5_000 + n),
        uploader_id=uploader,
        purpose=purpose,
        name=f"photo-{n}.png",
        size=1000 + n,
        content_type="image/png",
        sha256=f"{n:064x}",
        width=640 if thumbnail else None,
        height=480 if thumbnail else None,
        has_thumbnail=thumbnail,
        created_at=NOW - age,
    )


FILES = {f.id: f for f in (file(n) for n in range(1, 12))}
F1, F2, F3 = (file(n).id for n in (1, 2, 3))


def cmd(
    text: str = "look",
    attachments: Sequence[UUID] | None = (),
    *,
    sender: UUID = ANA,
    kind: str = "text",
    target_id: UUID | None = None,
    client_msg_id: UUID | None = None,
) -> SendCommand:
    return SendCommand(
        client_msg_id=client_msg_id or uuid.uuid4(),
        room_id=ROOM,
        sender_id=sender,
        text=text,
        kind=kind,
        target_id=target_id,
        attachments=tuple(attachments) if attachments is not None else None,
    )


def plan(
    *commands: SendCommand,
    files: Mapping[UUID, FileInfo] = FILES,
    existing: Mapping[tuple[UUID, UUID], Stored] | None = None,
    targets: Mapping[UUID, Target] | None = None,
) -> tuple[list[Outcome], list[tuple[UUID, UUID, int]], list[UUID]]:
    result = plan_batch(
        commands,
        {ROOM: RoomState(last_seq=5, members=frozenset({ANA, BEN}))},
        existing or {},
        now=NOW,
        new_id=ids(),
        targets=targets,
        files=files,
    )
    return result.outcomes, result.attachment_rows, result.erased


def created(outcome: Outcome) -> Message:
    assert isinstance(outcome, Created), outcome
    return outcome.message


def refused(outcome: Outcome) -> tuple[str, str | None]:
    assert isinstance(outcome, Rejected), outcome
    return outcome.code, outcome.field


def test_a_text_entry_carries_its_files_in_order_and_the_batch_writes_their_rows() -> None:
    (outcome,), rows, _ = plan(cmd("look", [F2, F1]))
    message = created(outcome)
    assert [f.id for f in message.attachments] == [F2, F1]
    assert rows == [(message.id, F2, 0), (message.id, F1, 1)]


def test_files_alone_need_no_text_but_no_files_still_need_some() -> None:
    (outcome,), rows, _ = plan(cmd("", [F1]))
    assert created(outcome).text == ""
    assert len(rows) == 1
    (bare,), rows, _ = plan(cmd("", []))
    assert refused(bare) == ("bad_request", "text")
    (blank,), _, _ = plan(cmd("", None))
    assert refused(blank) == ("bad_request", "text")
    # Text with files keeps every other rule (blank text with files, too long).
    (spaces,), _, _ = plan(cmd("   ", [F1]))
    assert refused(spaces) == ("bad_request", "text")
    (long,), _, _ = plan(cmd("x" * 4001, [F1]))
    assert refused(long) == ("message_too_long", "text")


def test_plain_batches_write_no_attachment_rows() -> None:
    outcomes, rows, _ = plan(cmd("one", None), cmd("two", []))
    assert all(not created(o).attachments for o in outcomes)
    assert rows == []


def test_a_file_not_known_yet_is_unavailable_and_refuses_the_whole_entry() -> None:
    unknown = uuid.uuid4()
    (outcome,), rows, _ = plan(cmd("look", [F1, unknown]))
    assert refused(outcome) == ("unavailable", "attachments")
    assert rows == []
    # Once file.uploaded.v1 arrived, the same send passes.
    learned = dataclasses.replace(file(50), id=unknown)
    send = cmd("look", [F1, unknown])
    (outcome,), rows, _ = plan(send, files={**FILES, unknown: learned})
    assert [f.id for f in created(outcome).attachments] == [F1, unknown]


@pytest.mark.parametrize(
    "bad",
    [
        file(60, uploader=BEN),  # someone else's upload
        file(61, purpose="avatar"),  # an avatar
        file(62, age=ATTACH_WITHIN + timedelta(seconds=1)),  # older than 23 hours
    ],
)
def test_files_the_sender_may_not_attach_are_a_field_error(bad: FileInfo) -> None:
    (outcome,), rows, _ = plan(cmd("look", [F1, bad.id]), files={**FILES, bad.id: bad})
    assert refused(outcome) == ("bad_request", "attachments")
    assert rows == []


def test_a_file_uploaded_just_within_23_hours_is_accepted() -> None:
    edge = file(63, age=ATTACH_WITHIN)
    (outcome,), _, _ = plan(cmd("look", [edge.id]), files={**FILES, edge.id: edge})
    assert [f.id for f in created(outcome).attachments] == [edge.id]


def test_duplicates_and_more_than_ten_files_are_field_errors() -> None:
    (twice,), _, _ = plan(cmd("look", [F1, F2, F1]))
    assert refused(twice) == ("bad_request", "attachments")
    eleven = list(FILES)[: MAX_ATTACHMENTS + 1]
    assert len(eleven) == 11
    (many,), _, _ = plan(cmd("look", eleven))
    assert refused(many) == ("bad_request", "attachments")
    (ten,), rows, _ = plan(cmd("look", eleven[:10]))
    assert len(created(ten).attachments) == 10
    assert [p for _, _, p in rows] == list(range(10))


def test_other_kinds_take_no_attachments() -> None:
    target = Message(UUID(int=900), ROOM, 3, "text", ANA, "hi", uuid.uuid4(), NOW)
    (edit,), _, _ = plan(
        cmd("fixed", [F1], kind="edit", target_id=target.id),
        targets={target.id: Target(target)},
    )
    assert refused(edit) == ("bad_request", "attachments")


def test_a_delete_in_the_same_batch_leaves_no_rows_and_no_files_on_the_entry() -> None:
    first = cmd("look", [F1])
    entry_id = UUID(int=10_001)  # the planner's first new id
    outcomes, rows, _ = plan(first, cmd("", None, kind="delete", target_id=entry_id))
    message = created(outcomes[0])
    assert message.id == entry_id
    assert message.deleted
    assert message.attachments == ()
    assert rows == []


def test_deleting_a_stored_entry_empties_its_files_and_erases_it() -> None:
    stored = Message(
        UUID(int=900), ROOM, 3, "text", ANA, "", uuid.uuid4(), NOW, attachments=(file(1),)
    )
    (outcome,), rows, erased = plan(
        cmd("", None, kind="delete", target_id=stored.id), targets={stored.id: Target(stored)}
    )
    assert created(outcome).kind == "delete"
    assert erased == [stored.id]
    assert rows == []


def test_a_repeat_is_told_from_a_reuse_by_its_files() -> None:
    client_msg_id = uuid.uuid4()
    first = cmd("look", [F1, F2], client_msg_id=client_msg_id)
    (outcome,), _, _ = plan(first)
    stored = created(outcome)
    existing: dict[tuple[UUID, UUID], Stored] = {(ANA, client_msg_id): stored}
    (again,), rows, _ = plan(first, existing=existing)
    assert isinstance(again, Duplicate)
    assert [f.id for f in again.message.attachments] == [F1, F2]
    assert rows == []
    for other in ([F2, F1], [F1], [F1, F2, F3], None):
        (reused,), _, _ = plan(cmd("look", other, client_msg_id=client_msg_id), existing=existing)
        assert refused(reused) == ("client_msg_id_reused", None), other


def test_sends_without_files_hash_as_they_always_did() -> None:
    """Rows stored before attachments keep matching their repeats."""
    for root in (None, uuid.uuid4()):
        assert content_hash(
            ROOM, "text", text="hi", attachments=(), thread_root_id=root
        ) == content_hash(ROOM, "text", text="hi", thread_root_id=root)
    message = Message(UUID(int=1), ROOM, 1, "text", ANA, "hi", uuid.uuid4(), NOW)
    assert stored_hash(message) == content_hash(ROOM, "text", text="hi")


uuids = st.uuids()
file_lists = st.lists(uuids, max_size=10, unique=True)


@given(
    a=st.tuples(st.text(max_size=5), file_lists, st.none() | uuids),
    b=st.tuples(st.text(max_size=5), file_lists, st.none() | uuids),
)
def test_the_content_hash_tells_any_two_different_sends_apart(
    a: tuple[str, list[UUID], UUID | None], b: tuple[str, list[UUID], UUID | None]
) -> None:
    """Text, files (their order too) and thread root: equal hashes only for equal sends."""

    def digest(send: tuple[str, list[UUID], UUID | None]) -> bytes:
        text, files, root = send
        return content_hash(ROOM, "text", text=text, attachments=files, thread_root_id=root)

    assert (digest(a) == digest(b)) == (a == b)


def test_the_wire_object_carries_files_without_links_and_none_when_it_has_none() -> None:
    with_files = Message(
        UUID(int=1),
        ROOM,
        1,
        "text",
        ANA,
        "",
        uuid.uuid4(),
        NOW,
        attachments=(file(1), file(2, thumbnail=False)),
    )
    body = message_json(with_files)
    assert [f["id"] for f in body["attachments"]] == [str(F1), str(F2)]
    first = body["attachments"][0]
    assert first == {
        "id": str(F1),
        "name": "photo-1.png",
        "size": 1001,
        "content_type": "image/png",
        "sha256": f"{1:064x}",
        "width": 640,
        "height": 480,
        "has_thumbnail": True,
        "purpose": "attachment",
        "created_at": "2026-12-07T01:59:00.000Z",
        "uploader_id": str(ANA),
    }
    assert body["attachments"][1]["width"] is None
    plain = Message(UUID(int=2), ROOM, 2, "text", ANA, "hi", uuid.uuid4(), NOW)
    assert "attachments" not in message_json(plain)
    assert message_struct(plain).attachments is not None  # UNSET: left out when encoded


def test_unavailable_is_a_retriable_503_and_file_rules_a_422_on_attachments() -> None:
    unavailable = refusal_error(Rejected("unavailable", "not yet", "attachments"))
    assert (unavailable.status, unavailable.code) == (503, "unavailable")
    invalid = refusal_error(Rejected("bad_request", "not yours", "attachments"))
    assert isinstance(invalid, errors.InvalidField)
    assert (invalid.status, invalid.code, invalid.field) == (
        422,
        "validation_failed",
        "attachments",
    )


def test_the_uploaded_event_s_file_becomes_the_projection_row_and_back() -> None:
    """file.uploaded.v1's `file` is kept as is and rendered back the same (without links)."""
    event_file = file_struct(file(7))
    assert file_info(event_file) == file(7)
    assert file_struct(file_info(event_file)) == event_file
