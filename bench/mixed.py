"""What a mixed run sends: text, reactions, edits and deletes in given shares (issue #14's
benchmark: 70 % text, 15 % reactions, 10 % edits, 5 % deletes), chosen so that none is refused.

- A reactor takes back one of its reactions (on an undeleted target) with probability
  REMOVE_SHARE, else adds an emoji it does not have yet to a text entry of its room that reached
  the worker less than ADD_AGE_S ago (anyone's; the worker holds every member of a room, so it
  sees every entry) and is not deleted.
  No reaction is a no-op by construction (a no-op is still counted if one happens).
- Edits go to one of the sender's own last EDIT_WINDOW acknowledged, undeleted text entries.
- Deletes go to the sender's oldest own undeleted text entry that is at least DELETE_AGE_S old
  and had no reaction sent to it for QUIET_S. A delete and a reaction from another socket are
  not ordered by the server, so these gaps (far above p99) keep every reaction off a deleted
  target; once a delete is sent, nobody reacts to its target any more.
- An operation a client cannot do yet (no own entry old enough to delete, say) is owed: the
  client sends text now and the owed operation at the next text turn it can, so the shares hold
  over the run. What is still owed at the end is reported.

Pure bookkeeping, no I/O: the load generator calls `Mixer.next_frame` and feeds acks and
entries back.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

KINDS = ("text", "reaction", "edit", "delete")
# A handful of common emoji, all RGI fully-qualified (contracts/emoji/emoji-15.1.json).
EMOJI = ("👍", "❤️", "😂", "🎉", "🙏", "👀", "🔥", "✅")
EMOJI_WEIGHTS = (30, 20, 15, 10, 8, 7, 5, 5)
ADD_AGE_S = 1.5
DELETE_AGE_S = 5.0
QUIET_S = 3.0
EDIT_WINDOW = 5
REMOVE_SHARE = 0.35


def parse_mix(text: str) -> dict[str, float]:
    """`text=70,reaction=15,edit=10,delete=5` -> shares summing to 1."""
    shares: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise ValueError(f"unknown kind {name!r} in --mix (known: {', '.join(KINDS)})")
        shares[name] = float(value)
    total = sum(shares.values())
    if total <= 0:
        raise ValueError("--mix needs a positive share")
    return {name: shares.get(name, 0.0) / total for name in KINDS}


@dataclass
class Actor:
    """One client's own state as the mixed sender needs it."""

    user_id: str
    room_id: str
    own: deque[tuple[str, float]] = field(default_factory=deque)  # (id, sent at), undeleted
    # (target id, emoji) -> when this client added it, for the reactions it has on.
    reactions: dict[tuple[str, str], float] = field(default_factory=dict)


@dataclass
class RoomTargets:
    """A room's recent text entries (id, when the worker first saw it), oldest first."""

    recent: deque[tuple[str, float]] = field(default_factory=deque)

    def young(self, now: float) -> list[tuple[str, float]]:
        while self.recent and now - self.recent[0][1] > ADD_AGE_S:
            self.recent.popleft()
        return list(self.recent)


@dataclass
class Op:
    kind: str
    frame: dict[str, Any]
    actor: Actor
    reaction_key: tuple[str, str] | None = None
    added: bool | None = None


class Mixer:
    def __init__(self, shares: dict[str, float], seed: int) -> None:
        self.shares = shares
        self.random = random.Random(seed)
        self.rooms: dict[str, RoomTargets] = {}
        self.seen_text: set[str] = set()
        self.deleted: set[str] = set()  # targets of the deletes sent
        self.last_reaction: dict[str, float] = {}  # target -> when a reaction to it was last sent
        self.owed: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.by_kind: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.reaction_removes = 0
        self.cum = []
        acc = 0.0
        for kind in KINDS:
            acc += shares[kind]
            self.cum.append((acc, kind))

    # -- what the receive side tells it ----------------------------------------------------
    def saw_text(self, message: dict[str, Any], arrived: float) -> None:
        """A text entry of this run reached some socket of the worker (its room's target list)."""
        entry_id = message["id"]
        if entry_id in self.seen_text:
            return
        self.seen_text.add(entry_id)
        room = self.rooms.get(message["room_id"])
        if room is None:
            room = self.rooms[message["room_id"]] = RoomTargets()
        room.recent.append((entry_id, arrived))

    @staticmethod
    def acked_text(actor: Actor, entry_id: str, sent_at: float) -> None:
        actor.own.append((entry_id, sent_at))

    @staticmethod
    def refused(op: Op) -> None:
        """A refused or no-op reaction: the client's idea of its reactions was wrong; forget it."""
        if op.reaction_key is not None and op.added:
            op.actor.reactions.pop(op.reaction_key, None)

    # -- what to send next -------------------------------------------------------------------
    def _roll(self) -> str:
        x = self.random.random()
        for bound, kind in self.cum:
            if x < bound:
                return kind
        return KINDS[0]

    def next_op(self, actor: Actor, serial: int, now: float) -> Op:
        kind = self._roll()
        op: Op | None = None
        if kind != "text":
            op = self._make(kind, actor, serial, now)
            if op is None:
                self.owed[kind] += 1
        else:
            for owed in ("delete", "edit", "reaction"):
                if self.owed[owed] and (op := self._make(owed, actor, serial, now)) is not None:
                    self.owed[owed] -= 1
                    break
        if op is None:
            op = Op("text", {"text": f"bench {serial}"}, actor)
        self.by_kind[op.kind] += 1
        return op

    def _make(self, kind: str, actor: Actor, serial: int, now: float) -> Op | None:
        if kind == "edit":
            if not actor.own:
                return None
            window = list(actor.own)[-EDIT_WINDOW:]
            target, _ = self.random.choice(window)
            frame = {"kind": "edit", "target_id": target, "text": f"bench {serial} edited"}
            return Op("edit", frame, actor)
        if kind == "delete":
            for index, (target, sent_at) in enumerate(actor.own):
                if now - sent_at < DELETE_AGE_S:
                    return None  # the rest are younger still
                if now - self.last_reaction.get(target, -QUIET_S) >= QUIET_S:
                    del actor.own[index]
                    self.deleted.add(target)
                    return Op("delete", {"kind": "delete", "target_id": target}, actor)
            return None
        return self._reaction(actor, now)

    def _reaction(self, actor: Actor, now: float) -> Op | None:
        for key in [k for k in actor.reactions if k[0] in self.deleted]:
            del actor.reactions[key]  # gone with their target
        if actor.reactions and self.random.random() < REMOVE_SHARE:
            key = self.random.choice(list(actor.reactions))
            del actor.reactions[key]
            self.reaction_removes += 1
            self.last_reaction[key[0]] = now
            frame = {"kind": "reaction", "target_id": key[0], "emoji": key[1], "added": False}
            return Op("reaction", frame, actor, key, False)
        room = self.rooms.get(actor.room_id)
        young = [t for t in room.young(now) if t[0] not in self.deleted] if room else []
        if not young:
            return None
        target, _ = self.random.choice(young)
        for _ in range(4):
            emoji = self.random.choices(EMOJI, EMOJI_WEIGHTS)[0]
            if (target, emoji) not in actor.reactions:
                break
        else:
            free = [e for e in EMOJI if (target, e) not in actor.reactions]
            if not free:
                return None
            emoji = free[0]
        actor.reactions[(target, emoji)] = now
        self.last_reaction[target] = now
        frame = {"kind": "reaction", "target_id": target, "emoji": emoji, "added": True}
        return Op("reaction", frame, actor, (target, emoji), True)
