"""The benchmark's convergence check: does every client, applying what it received with the
`state_seq` rule, hold the server's state of every message?

The reducer is the reference one, `chat_devtools.timeline` (api-v1.1 A, "Applying entries").
Each client is checked as a real one works: it catches up from history up to the run's first
entry (the room's creation and joins, before its socket opened), then takes its live entries in
the order they arrived. Its applied `text` entries are then compared, field by
field, with the history's copies of the run's messages (reactions in order: an emoji keeps its
place while its count is above 0, the rule client and server share). No I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chat_devtools.timeline import TextState, Timeline, snapshot_of

Entry = Mapping[str, Any]


def client_view(history: Sequence[Entry], run_from: int, live: Iterable[Entry]) -> Timeline:
    """A client's room: caught up from history below `run_from` (the seq of the run's first
    entry, sent after every socket was open), then the entries it received live, as they came."""
    timeline = Timeline()
    for entry in history:
        if int(entry["seq"]) < run_from:
            timeline.receive(entry)
    for entry in live:
        timeline.receive(entry)
    return timeline


def _same_time(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    try:
        return datetime.fromisoformat(a) == datetime.fromisoformat(b)
    except ValueError:
        return a == b


def _reactions(snapshot: Mapping[str, Any]) -> list[tuple[str, int, list[str]]]:
    """(emoji, count, user_ids) in order, from a reference snapshot."""
    listed = snapshot["reactions"]
    if isinstance(listed, Mapping):  # an older reference reducer: emoji -> {count, user_ids}
        listed = [{"emoji": e, **r} for e, r in listed.items()]
    return [(str(r["emoji"]), int(r["count"]), [str(u) for u in r["user_ids"]]) for r in listed]


def diff(mine: TextState, server: Entry) -> list[str]:
    """The fields in which a client's copy differs from the server's. `reaction_counts` and
    `reaction_users` (who, in any order) are what every client must agree on;
    `reaction_order` is the order of the emoji and of their users (`me` is per caller)."""
    ours, theirs = mine.snapshot(), snapshot_of(server)
    wrong = [name for name in ("text", "deleted", "state_seq") if ours[name] != theirs[name]]
    if not _same_time(ours["edited_at"], theirs["edited_at"]):
        wrong.append("edited_at")
    a, b = _reactions(ours), _reactions(theirs)
    if {e: c for e, c, _ in a} != {e: c for e, c, _ in b}:
        wrong.append("reaction_counts")
    if {e: set(u) for e, _, u in a} != {e: set(u) for e, _, u in b}:
        wrong.append("reaction_users")
    elif a != b:
        wrong.append("reaction_order")
    return wrong


@dataclass
class Comparison:
    """How clients' rooms differ from the server's history (mergeable across workers)."""

    clients: int = 0
    entries_checked: int = 0
    missing: int = 0  # a text entry of the run the client does not hold
    mismatch: dict[str, int] = field(default_factory=dict)  # field -> count
    clients_differing: int = 0
    clients_with_gap: int = 0  # entries held above a missing seq at the end
    conflicts: int = 0  # two different entries with one seq
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, timeline: Timeline, texts: Iterable[Entry], who: str) -> None:
        """Compare one client's room with the history copies of the run's text entries."""
        self.clients += 1
        self.conflicts += len(timeline.conflicts)
        differing = timeline.has_gap or bool(timeline.conflicts)
        self.clients_with_gap += int(timeline.has_gap)
        for server in texts:
            self.entries_checked += 1
            mine = timeline.texts.get(str(server["id"]))
            if mine is None:
                self.missing += 1
                differing = True
                continue
            wrong = diff(mine, server)
            for name in wrong:
                self.mismatch[name] = self.mismatch.get(name, 0) + 1
            if wrong:
                differing = True
                if len(self.examples) < 5:
                    self.examples.append(
                        {
                            "client": who,
                            "fields": wrong,
                            "client_view": mine.snapshot(),
                            "server": snapshot_of(server),
                        }
                    )
        self.clients_differing += int(differing)

    def merge(self, other: Mapping[str, Any]) -> None:
        for name in ("clients", "entries_checked", "missing", "clients_differing"):
            setattr(self, name, getattr(self, name) + int(other[name]))
        for name in ("clients_with_gap", "conflicts"):
            setattr(self, name, getattr(self, name) + int(other[name]))
        for key, count in other["mismatch"].items():
            self.mismatch[key] = self.mismatch.get(key, 0) + int(count)
        self.examples = (self.examples + list(other["examples"]))[:5]

    def report(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "entries_checked": self.entries_checked,
            "missing": self.missing,
            "mismatch": dict(sorted(self.mismatch.items())),
            "clients_differing": self.clients_differing,
            "converged": self.clients_differing == 0 and self.clients > 0,
            "clients_with_gap": self.clients_with_gap,
            "conflicts": self.conflicts,
            "examples": self.examples,
        }
