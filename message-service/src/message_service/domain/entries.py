"""Rules of api-v1.1 A timeline entries that are not about planning a batch: the content hash
that idempotency compares, how stored reactions aggregate, the text of system entries."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from uuid import UUID

from message_service.domain.model import Message, Reaction, ReactionMark

# api-v1.1 A: the first reactors of each emoji that a `text` entry carries.
REACTORS_SHOWN = 50


def content_hash(
    room_id: UUID,
    kind: str,
    target_id: UUID | None = None,
    text: str = "",
    emoji: str | None = None,
    added: bool | None = None,
    thread_root_id: UUID | None = None,
    attachments: Sequence[UUID] = (),
) -> bytes:
    """sha256 over what a send asked for (DESIGN "Content hash"): room, kind, target, the text of
    `text`/`edit` entries, the emoji and `added` of a reaction (absent `added` = true). Kept at
    send, so a repeat is told from a reuse even after a delete erased the text.

    The bytes are unambiguous: the room and target are fixed-size, the kind (a-z, _) ends with
    a NUL, the emoji is length-prefixed and the text, free-form, comes last. A plain text send
    (the hot path) hashes one short concatenation. A reply (a `text` entry with its
    `thread_root_id`) hashes as kind `reply` (no kind has that name) with its fixed-size root,
    so the same client_msg_id sent once top-level and once in a thread is a reuse. A text entry
    with attachments (api-v1.1 E) hashes as kind `text+files` (`+` is in no kind's name): its
    root or none, the number of files, their fixed-size ids in order, then the text; entries
    without attachments hash as they always did."""
    if attachments and kind == "text":
        root = b"\x01" + thread_root_id.bytes if thread_root_id is not None else b"\x00"
        return hashlib.sha256(
            room_id.bytes
            + b"text+files\x00"
            + root
            + len(attachments).to_bytes(2, "big")
            + b"".join(file_id.bytes for file_id in attachments)
            + text.encode("utf-8", "surrogatepass")
        ).digest()
    if kind == "text" and target_id is None and emoji is None and added is None:
        if thread_root_id is not None:
            return hashlib.sha256(
                room_id.bytes
                + b"reply\x00"
                + thread_root_id.bytes
                + text.encode("utf-8", "surrogatepass")
            ).digest()
        return hashlib.sha256(
            room_id.bytes + b"text\x00\x00" + text.encode("utf-8", "surrogatepass")
        ).digest()
    parts = [room_id.bytes, kind.encode("utf-8", "surrogatepass"), b"\x00"]
    parts.append(b"\x01" + target_id.bytes if target_id is not None else b"\x00")
    if kind == "reaction":
        raw = (emoji or "").encode("utf-8", "surrogatepass")
        parts += [b"0" if added is False else b"1", len(raw).to_bytes(4, "big"), raw]
    if kind in ("text", "edit"):
        parts.append(text.encode("utf-8", "surrogatepass"))
    return hashlib.sha256(b"".join(parts)).digest()


def stored_hash(message: Message) -> bytes:
    """The content hash of a stored entry; rows from before api-v1.1 have none: theirs is the
    hash of the plain text entry they are (room + kind text + text)."""
    if message.content_hash is not None:
        return message.content_hash
    return content_hash(
        message.room_id,
        message.kind,
        message.target_id,
        message.text,
        thread_root_id=message.thread_root_id,
    )


def aggregate_reactions(marks: Iterable[ReactionMark]) -> tuple[Reaction, ...]:
    """Stored reactions as a `text` entry carries them: emoji in the order they appeared
    (`emoji_seq`), each with its count and first REACTORS_SHOWN users in the order they reacted."""
    by_emoji: dict[str, list[UUID]] = {}
    for mark in sorted(marks, key=lambda m: (m.emoji_seq, m.emoji, m.seq, m.user_id)):
        by_emoji.setdefault(mark.emoji, []).append(mark.user_id)
    return tuple(
        Reaction(emoji=emoji, count=len(users), user_ids=tuple(users[:REACTORS_SHOWN]))
        for emoji, users in by_emoji.items()
    )


def system_text(
    event: str,
    display_name: str,
    subject_name: str | None = None,
    value: str | None = None,
) -> str:
    """The plain fallback sentence of a system entry (api-v1.1 A): `display_name` is the actor,
    `subject_name` the member the change is about (removal, role), `value` the new name, topic
    or role."""
    name = display_name.strip() or "Someone"
    subject = (subject_name or "").strip() or "someone"
    if event == "member_joined":
        return f"{name} joined the channel"
    if event == "member_left":
        return f"{name} left the channel"
    if event == "renamed":
        return f"{name} renamed the channel to #{value}" if value else f"{name} renamed the channel"
    if event == "topic_changed":
        return f"{name} set the topic: {value}" if value else f"{name} cleared the topic"
    if event == "archived":
        return f"{name} archived the channel"
    if event == "unarchived":
        return f"{name} unarchived the channel"
    if event == "member_removed":
        return f"{name} removed {subject} from the channel"
    if event == "role_changed":
        if value == "admin":
            return f"{name} made {subject} a room admin"
        return f"{name} removed {subject} as a room admin"
    return f"{name} changed the channel"
