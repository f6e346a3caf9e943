"""The search benchmark's corpus (issue #18): messages in rooms, word frequencies following a Zipf
law, a few rare words and phrases planted, loaded with COPY.

Deterministic for a seed. Every room has `members` members out of a pool of users; a message's
sender is a member of its room. `created_at` grows by `step_s` every `batch` messages, so each
group of `batch` messages shares one `created_at` as a group commit gives them.
"""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Stop words (dropped by the english configuration) and real words with their other forms at
# the top of the ranking, then synthetic words: the Zipf law ranks them all together.
STOP = [
    "the",
    "a",
    "to",
    "and",
    "is",
    "of",
    "in",
    "it",
    "you",
    "that",
    "for",
    "on",
    "we",
    "this",
    "be",
    "at",
    "with",
    "i",
    "are",
    "not",
    "have",
]
COMMON = [
    "deploy deployed deploying deployment",
    "meeting meetings",
    "release released releases",
    "review reviewed reviewing",
    "build builds building",
    "test tests testing tested",
    "customer customers",
    "issue issues",
    "server servers",
    "design designs designed",
    "update updated updates",
    "ticket tickets",
    "database",
    "tomorrow today yesterday",
    "thanks please",
    "merge merged merging",
    "bug bugs",
    "invoice invoices",
    "roadmap",
    "budget",
]
# Planted: (text, how many messages carry it). Accents and phrases included.
PLANTED = [
    ("zanzibarquux", 12),
    ("flibbertigibbet", 25),
    ("crème brûlée", 40),
    ("naïveté", 30),
    ("postmortem kickoff", 60),
    ("quarterly okr retrospective", 80),
]
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "te",
    "su",
    "ra",
    "ne",
    "po",
    "vi",
    "da",
    "ge",
    "bu",
    "fo",
    "ri",
    "sa",
    "tu",
    "le",
    "no",
    "ma",
    "zi",
]


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """`size` distinct words: stop words and common real words first, then synthetic ones."""
    words: list[str] = []
    seen: set[str] = set()
    real = [w for group in COMMON for w in group.split()]
    for a, b in itertools.zip_longest(STOP, real):
        for w in (a, b):
            if w is not None and w not in seen:
                seen.add(w)
                words.append(w)
    while len(words) < size:
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


@dataclass
class Corpus:
    messages: int = 1_000_000
    rooms: int = 1_000
    users: int = 2_000
    members: int = 20
    vocabulary: int = 50_000
    zipf_s: float = 1.05
    min_words: int = 3
    max_words: int = 24
    batch: int = 4
    step_s: float = 30.0
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    seed: int = 18
    room_ids: list[uuid.UUID] = field(default_factory=list)
    user_ids: list[uuid.UUID] = field(default_factory=list)
    room_members: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    words: list[str] = field(default_factory=list)
    last_seq: dict[uuid.UUID, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.room_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(self.rooms)]
        self.user_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(self.users)]
        self.room_members = {r: rng.sample(self.user_ids, self.members) for r in self.room_ids}
        self.words = vocabulary(self.vocabulary, rng)

    def word_rank(self, word: str) -> int:
        return self.words.index(word) + 1

    def rows(self) -> Iterator[tuple[object, ...]]:
        """messages rows: (id, room_id, seq, kind, sender_id, text, client_msg_id, created_at)."""
        rng = random.Random(self.seed + 1)
        weights = list(
            itertools.accumulate(1 / (r**self.zipf_s) for r in range(1, len(self.words) + 1))
        )
        planted: dict[int, str] = {}
        for text, count in PLANTED:
            for index in rng.sample(range(self.messages), count):
                planted[index] = text
        seqs = dict.fromkeys(self.room_ids, 0)
        words = self.words
        for i in range(self.messages):
            room = self.room_ids[rng.randrange(self.rooms)]
            seqs[room] += 1
            n = rng.randint(self.min_words, self.max_words)
            chosen = rng.choices(words, cum_weights=weights, k=n)
            if i in planted:
                chosen.insert(rng.randrange(len(chosen) + 1), planted[i])
            text = " ".join(chosen)
            text = text[0].upper() + text[1:]
            created = self.start + timedelta(seconds=(i // self.batch) * self.step_s)
            yield (
                uuid.UUID(int=rng.getrandbits(128), version=4),
                room,
                seqs[room],
                "text",
                rng.choice(self.room_members[room]),
                text,
                uuid.UUID(int=rng.getrandbits(128), version=4),
                created,
            )
        self.last_seq = seqs

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=(self.messages // self.batch) * self.step_s)
