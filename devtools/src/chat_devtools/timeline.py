"""A room's timeline as a client rebuilds it from entries (api-v1.1 A, "Applying entries").

The reference reducer for Python test clients and the benchmark, written from the contract:

- entries are applied in `seq` order; one above the highest contiguous `seq` waits until the gap
  below it is filled (a catch-up with `after_seq=<contiguous>` fills it);
- `edit`, `delete` and `reaction` entries apply to their target when `entry.seq >
  target.state_seq`, and then set `target.state_seq = entry.seq`;
- a copy of a `text` entry (history, a later `message.new`, the target of a `noop` ack) with a
  higher `state_seq` replaces the cached one. (The spec's "held entries above it are applied
  again on top" needs no work here: entries above the contiguous mark are only applied when the
  gap closes, each still checked against the target's `state_seq`, and every change at or below
  the mark has a `seq` at most the cached `state_seq`, so at most the copy's);
- an entry repeated (live frames may come twice) changes nothing; two different entries with
  one `seq` are recorded in `conflicts` (a broken server).

Entries are the wire's JSON objects (`message`), so any client can feed frames as it got them.
`TextState.snapshot()` / `snapshot_of(entry)` give the comparable state of a `text` entry
(everything but the per-caller `me`), `Timeline.snapshot()` lists them in `seq` order. Reactions
keep the server's order: an emoji is appended when it first appears and keeps its place while
its count is above 0 (removed at 0, appended again by a later add); users in the order they
reacted. Only `user_ids` beyond the first 50 cannot converge (a copy does not name them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHANGE_KINDS", "EmojiReactions", "TextState", "Timeline", "snapshot_of"]

Entry = Mapping[str, Any]
CHANGE_KINDS = frozenset({"edit", "delete", "reaction"})
USER_IDS_SHOWN = 50  # a text entry carries the first 50 reacting users of each emoji


@dataclass
class EmojiReactions:
    """One emoji on one message: who reacted (user id -> order key) and how many the copy it
    came from counted beyond its `user_ids`."""

    users: dict[str, tuple[int, int]] = field(default_factory=dict)
    hidden: int = 0

    @property
    def count(self) -> int:
        return len(self.users) + self.hidden

    def shown(self) -> list[str]:
        """The first 50 users in the order they reacted."""
        return sorted(self.users, key=lambda u: self.users[u])[:USER_IDS_SHOWN]


@dataclass
class TextState:
    """The current state of one `text` entry."""

    id: str
    seq: int
    sender_id: str
    text: str
    edited_at: str | None
    deleted: bool
    state_seq: int
    reactions: dict[str, EmojiReactions] = field(default_factory=dict)

    @classmethod
    def from_entry(cls, entry: Entry) -> TextState:
        seq = int(entry["seq"])
        state_seq = int(entry.get("state_seq") or seq)
        reactions: dict[str, EmojiReactions] = {}
        for reaction in entry.get("reactions") or ():
            user_ids = [str(u) for u in reaction.get("user_ids") or ()]
            # A copy does not say when each user reacted; its order is kept below every entry
            # applied later (their seq is above the copy's state_seq).
            users = {u: (state_seq, i - len(user_ids)) for i, u in enumerate(user_ids)}
            count = int(reaction.get("count", len(user_ids)))
            reactions[str(reaction["emoji"])] = EmojiReactions(users, max(0, count - len(users)))
        return cls(
            id=str(entry["id"]),
            seq=seq,
            sender_id=str(entry["sender_id"]),
            text=str(entry.get("text") or ""),
            edited_at=entry.get("edited_at"),
            deleted=bool(entry.get("deleted", False)),
            state_seq=state_seq,
            reactions=reactions,
        )

    def apply(self, change: Entry) -> None:
        """Apply an `edit`, `delete` or `reaction` entry (the caller checked its seq)."""
        seq = int(change["seq"])
        kind = change["kind"]
        if kind == "edit":
            self.text = str(change.get("text") or "")
            self.edited_at = str(change["created_at"])
        elif kind == "delete":
            self.text = ""
            self.deleted = True
            self.reactions = {}
        elif kind == "reaction":
            emoji = str(change["emoji"])
            user = str(change["sender_id"])
            slot = self.reactions.setdefault(emoji, EmojiReactions())
            if change.get("added", True):
                slot.users[user] = (seq, 0)
            elif user in slot.users:
                del slot.users[user]
            elif slot.hidden > 0:
                slot.hidden -= 1  # one of the users beyond the copy's first 50
            if slot.count == 0:
                del self.reactions[emoji]
        self.state_seq = seq

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "sender_id": self.sender_id,
            "text": self.text,
            "edited_at": self.edited_at,
            "deleted": self.deleted,
            "state_seq": self.state_seq,
            "reactions": [
                {"emoji": emoji, "count": r.count, "user_ids": r.shown()}
                for emoji, r in self.reactions.items()
            ],
        }


def snapshot_of(entry: Entry) -> dict[str, Any]:
    """The comparable state of a `text` entry as the server sent it."""
    return TextState.from_entry(entry).snapshot()


class Timeline:
    """One room: every entry received, the contiguous part applied."""

    def __init__(self) -> None:
        self.entries: dict[int, Entry] = {}
        self.applied = 0  # the highest contiguous seq; everything up to it is applied
        self.texts: dict[str, TextState] = {}
        self.conflicts: list[tuple[Entry, Entry]] = []

    @property
    def contiguous(self) -> int:
        return self.applied

    @property
    def highest(self) -> int:
        return max(self.entries, default=0)

    @property
    def has_gap(self) -> bool:
        """Entries wait above a missing seq: fetch `after_seq=contiguous`."""
        return self.highest > self.applied

    def receive(self, entry: Entry) -> None:
        """Take one entry (live frame, ack or history), in any order, any number of times."""
        seq = int(entry["seq"])
        held = self.entries.get(seq)
        if held is not None and held["id"] != entry["id"]:
            self.conflicts.append((held, entry))
            return
        if entry.get("kind") == "text":
            if seq <= self.applied:
                self._offer_copy(entry)
            elif held is None or _state_seq(entry) > _state_seq(held):
                self.entries[seq] = entry
        elif held is None:
            self.entries[seq] = entry
        self._advance()

    def _advance(self) -> None:
        while self.applied + 1 in self.entries:
            self.applied += 1
            entry = self.entries[self.applied]
            kind = entry.get("kind")
            if kind == "text":
                self.texts[str(entry["id"])] = TextState.from_entry(entry)
            elif kind in CHANGE_KINDS:
                target = self.texts.get(str(entry.get("target_id")))
                # A target outside what this client holds (none here: catch-up starts at 0).
                if target is not None and self.applied > target.state_seq:
                    target.apply(entry)
            # system entries and kinds this client does not know: they only hold their seq.

    def _offer_copy(self, entry: Entry) -> None:
        """A copy of an applied text entry: the newer state wins."""
        text_id = str(entry["id"])
        cached = self.texts.get(text_id)
        if cached is not None and _state_seq(entry) <= cached.state_seq:
            return
        self.entries[int(entry["seq"])] = entry
        self.texts[text_id] = TextState.from_entry(entry)

    def ids(self) -> list[str]:
        """Every entry id held, applied or waiting, in seq order."""
        return [str(self.entries[s]["id"]) for s in sorted(self.entries)]

    def snapshot(self) -> list[dict[str, Any]]:
        """The applied text entries' states in seq order."""
        return [s.snapshot() for s in sorted(self.texts.values(), key=lambda s: s.seq)]


def _state_seq(entry: Entry) -> int:
    return int(entry.get("state_seq") or entry["seq"])
