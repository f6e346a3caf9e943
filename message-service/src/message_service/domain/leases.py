"""How many send shards a replica should hold, and which to give up (ADR 0008). Pure."""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass


def fair_share(shards: int, replicas: int) -> int:
    """ceil(shards / replicas): every shard has a holder while each replica holds at most this."""
    return math.ceil(shards / max(1, replicas))


@dataclass(frozen=True, slots=True)
class Plan:
    release: tuple[int, ...]  # give these up (their queues first, then the leases)
    acquire: int  # take up to this many free or expired shards


def plan(shards: int, replicas: int, held: Collection[int], leaving: int = 0) -> Plan:
    """What one replica does this round: above its fair share it gives up the excess (the
    highest-numbered shards), below it takes what is free. `leaving`: shards it is still handing
    over; it takes nothing new meanwhile (they are not free until then anyway)."""
    share = fair_share(shards, replicas)
    ordered = sorted(held)
    if len(ordered) > share:
        return Plan(release=tuple(ordered[share:]), acquire=0)
    if leaving:
        return Plan(release=(), acquire=0)
    return Plan(release=(), acquire=share - len(ordered))
