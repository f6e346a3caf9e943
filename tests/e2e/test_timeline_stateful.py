"""Stateful: every client rebuilds the server's room from entries (api-v1.1 A; issue #14).

Through the edge of a running stack with real sockets. Three users (the first created the
channel, so it may delete anyone's message) follow one room with five sockets (two, one, two);
hypothesis interleaves:

- sends of every kind from any socket: texts, edits, deletes, reactions added and removed,
  no-op reactions (acked `noop: true` with the current target) and refused changes
  (`forbidden`, `not_found`), one at a time or in concurrent bursts from several sockets; a
  socket that is down sends over REST instead (as the user's other device would);
- deliveries of each socket's received `message.new` / `message.ack` frames to its client's
  reducer in a drawn order, some repeated, the rest kept back for later;
- dropped sockets (frames still held back are partly lost), reconnects (catch-up with
  `GET .../messages?after_seq=<contiguous>`, as a client does on `ready`) and catch-ups on gaps.

Each client rebuilds its room with `chat_devtools.timeline` (entries applied in seq order up to
the contiguous mark, changes applied when `entry.seq > target.state_seq`, a copy with a higher
`state_seq` replacing the cached one). At the end of every run each client (back online, held
frames delivered, caught up by its own gap rule) must equal the server's history
(`after_seq=0`): the same entries, and every text entry's text, `edited_at`, `deleted`,
reactions (in order, with counts and users) and `state_seq`; and the history must equal what
a model of the room predicts from the acknowledged sends, every ack and refusal as predicted.

Example budget: CHAT_TIMELINE_EXAMPLES (default 30) runs of up to CHAT_TIMELINE_STEPS (25)
steps: about 20 s on two idle cores, 40 s on busy ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from chat_devtools.timeline import Timeline, snapshot_of
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.support.chat import (  # noqa: E402
    Edge,
    Frame,
    Message,
    Socket,
    SocketClosed,
    User,
    authenticated_socket,
    open_edge,
    unique_name,
)
from tests.support.fixtures import resolve_edge_url  # noqa: E402

T = TypeVar("T")
EXAMPLES = int(os.environ.get("CHAT_TIMELINE_EXAMPLES", "30"))
STEPS = int(os.environ.get("CHAT_TIMELINE_STEPS", "25"))

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120 + EXAMPLES * STEPS // 4)]
SOCKETS_PER_USER = (2, 1, 2)
CLIENTS = sum(SOCKETS_PER_USER)
EMOJI = ("👍", "🎉", "❤️")
OPS = ("text", "text", "edit", "delete", "react", "react", "noop", "refused")
OUTCOME_TIMEOUT_S = 15.0
RETRYABLE = frozenset({"rate_limited", "unavailable"})
REST_CODES = {"forbidden": 403, "not_found": 404}
SEEDS = st.integers(0, 2**32 - 1)


# --- the model of the room (what the server must end with) ----------------------------------


@dataclass
class Expected:
    id: str
    seq: int
    sender: int  # user index
    text: str
    deleted: bool = False
    edited: bool = False
    reactions: dict[str, set[int]] = field(default_factory=dict)  # emoji -> user indexes


@dataclass
class Op:
    """One planned send and what the model says the server answers."""

    client: int
    user: int
    fields: dict[str, Any]  # kind, target_id, text, emoji, added
    expect: str  # "entry", "noop" or the refusal's code
    target: str | None = None
    client_msg_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class RoomModel:
    def __init__(self) -> None:
        self.texts: dict[str, Expected] = {}
        self.counter = 0

    def live(self) -> list[Expected]:
        return sorted((t for t in self.texts.values() if not t.deleted), key=lambda t: t.seq)

    def plan(self, client: int, user: int, op: str, pick: int, busy: set[str]) -> Op:
        """The op `op` for `user` on a target drawn by `pick` (not one in `busy`); a plain text
        when the room holds no fitting target."""
        self.counter += 1
        live = [t for t in self.live() if t.id not in busy]
        own = [t for t in live if t.sender == user]
        mine = own if user != 0 else live  # the channel's creator deletes anyone's message

        def choose(targets: list[Expected]) -> Expected:
            return targets[pick % len(targets)]

        if op == "edit" and own:
            t = choose(own)
            fields: dict[str, Any] = {
                "kind": "edit",
                "target_id": t.id,
                "text": f"u{user} edit {self.counter}",
            }
            return Op(client, user, fields, "entry", t.id)
        if op == "delete" and mine:
            t = choose(mine)
            return Op(client, user, {"kind": "delete", "target_id": t.id}, "entry", t.id)
        if op in ("react", "noop") and live:
            t = choose(live)
            emoji = EMOJI[(pick // len(live)) % len(EMOJI)]
            held = user in t.reactions.get(emoji, set())
            added = held if op == "noop" else not held
            fields = {"kind": "reaction", "target_id": t.id, "emoji": emoji, "added": added}
            return Op(client, user, fields, "noop" if op == "noop" else "entry", t.id)
        if op == "refused":
            others = [t for t in live if t.sender != user]
            gone = [t for t in self.texts.values() if t.deleted and t.id not in busy]
            if others:
                t = choose(others)
                fields = {"kind": "edit", "target_id": t.id, "text": "not mine"}
                return Op(client, user, fields, "forbidden", t.id)
            if gone:
                t = choose(gone)
                fields = {"kind": "reaction", "target_id": t.id, "emoji": EMOJI[0]}
                return Op(client, user, fields, "not_found", t.id)
            fields = {"kind": "edit", "target_id": str(uuid.uuid4()), "text": "nowhere"}
            return Op(client, user, fields, "not_found")
        return Op(client, user, {"text": f"u{user} says {self.counter}"}, "entry")

    def applied(self, op: Op, message: Message) -> None:
        """The model after `op` was acknowledged with `message`."""
        kind = op.fields.get("kind", "text")
        if kind == "text":
            self.texts[message["id"]] = Expected(
                message["id"], int(message["seq"]), op.user, op.fields["text"]
            )
            return
        assert op.target is not None
        t = self.texts[op.target]
        if kind == "edit":
            t.text, t.edited = op.fields["text"], True
        elif kind == "delete":
            t.text, t.deleted, t.reactions = "", True, {}
        else:
            users = t.reactions.setdefault(op.fields["emoji"], set())
            if op.fields["added"]:
                users.add(op.user)
            else:
                users.discard(op.user)
            if not users:
                del t.reactions[op.fields["emoji"]]


# --- the clients ----------------------------------------------------------------------------


@dataclass
class Client:
    """One socket of one user, with the room as that client rebuilds it."""

    name: str
    user_index: int
    user: User
    timeline: Timeline = field(default_factory=Timeline)
    socket: Socket | None = None
    taken: int = 0  # frames of `socket` moved to `held`
    held: list[Message] = field(default_factory=list)  # received, not yet given to timeline

    def collect(self) -> None:
        if self.socket is None:
            return
        frames = self.socket.frames[self.taken :]
        self.taken += len(frames)
        for frame in frames:
            if frame.get("type") in ("message.new", "message.ack"):
                self.held.append(frame["message"])


async def wait_outcome(socket: Socket, client_msg_id: str) -> Frame:
    """The `message.ack` or `error` frame answering this send."""

    def find() -> Frame | None:
        for frame in reversed(socket.frames):
            kind = frame.get("type")
            if kind == "message.ack" and frame.get("client_msg_id") == client_msg_id:
                return frame
            if kind == "error" and frame.get("ref") == client_msg_id:
                return frame
        return None

    async def wait() -> Frame:
        async with socket._changed:
            while (found := find()) is None:
                if socket.closed:
                    raise SocketClosed(f"socket closed before the answer to {client_msg_id}")
                await socket._changed.wait()
            return found

    return await asyncio.wait_for(wait(), OUTCOME_TIMEOUT_S)


@dataclass
class World:
    """What every run shares: one event loop, the edge, the three users."""

    runner: asyncio.Runner
    edge: Edge
    users: list[User]
    seen: Counter[str] = field(default_factory=Counter)  # what the runs went through

    def run(self, coro: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await coro

        return self.runner.run(wrapped())


class TimelineMachine(RuleBasedStateMachine):
    world: ClassVar[World]

    def __init__(self) -> None:
        super().__init__()
        self.model = RoomModel()
        self.clients: list[Client] = []
        self.room_id = ""
        self.world.run(self._open())

    # --- setup / teardown ------------------------------------------------------------------

    async def _open(self) -> None:
        users = self.world.users
        room = await users[0].create_room(unique_name("timeline"))
        self.room_id = str(room["id"])
        for user in users[1:]:
            await user.join(self.room_id)
        for index, count in enumerate(SOCKETS_PER_USER):
            for n in range(count):
                self.clients.append(Client(f"u{index}s{n}", index, users[index]))
        await asyncio.gather(*(self._connect(c) for c in self.clients))

    async def _connect(self, client: Client) -> None:
        client.socket = await authenticated_socket(self.world.edge.ws_url, client.user.token)
        client.taken = 0
        await self._catch_up(client)  # api-v1 §6: on `ready`, fetch after the contiguous mark

    async def _catch_up(self, client: Client) -> None:
        for message in await client.user.history(self.room_id, client.timeline.contiguous):
            client.timeline.receive(message)

    def teardown(self) -> None:
        try:
            if self.room_id:
                self.world.run(self._converge_and_check())
        finally:
            self.world.run(self._close())

    async def _close(self) -> None:
        await asyncio.gather(
            *(c.socket.close() for c in self.clients if c.socket is not None),
            return_exceptions=True,
        )
        if self.room_id:
            for user in self.world.users:
                await user.leave(self.room_id)

    async def _converge_and_check(self) -> None:
        for client in self.clients:
            if client.socket is None:
                await self._connect(client)
        history = await self.world.users[0].history(self.room_id)
        for client in self.clients:
            client.collect()
            for message in reversed(client.held):  # what is still held back, out of order
                client.timeline.receive(message)
            client.held = []
            # The client's own rule: a gap (or entries it has not seen yet) -> fetch after it.
            for _ in range(3):
                if client.timeline.contiguous >= len(history):
                    break
                await self._catch_up(client)
        ids = [str(m["id"]) for m in history]
        assert [int(m["seq"]) for m in history] == list(range(1, len(history) + 1))
        server = [snapshot_of(m) for m in history if m["kind"] == "text"]
        for client in self.clients:
            tl = client.timeline
            assert tl.conflicts == [], f"{client.name}: two entries for one seq {tl.conflicts}"
            assert tl.ids() == ids, f"{client.name}'s entries differ from the history"
            mine = tl.snapshot()
            for got, want in zip(mine, server, strict=True):
                assert got == want, f"{client.name} rebuilt {got}, the server has {want}"
        self._check_model(history)

    def _check_model(self, history: list[Message]) -> None:
        """The history is what the acknowledged sends make (the server applied each once)."""
        user_ids = [u.id for u in self.world.users]
        texts = {m["id"]: m for m in history if m["kind"] == "text"}
        assert set(texts) == set(self.model.texts), "text entries differ from the acked sends"
        for want in self.model.texts.values():
            got = texts[want.id]
            reactions = {r["emoji"]: set(r["user_ids"]) for r in got.get("reactions") or []}
            counts = {r["emoji"]: r["count"] for r in got.get("reactions") or []}
            expected = {e: {user_ids[u] for u in us} for e, us in want.reactions.items()}
            assert (got["text"], got["deleted"], got.get("edited_at") is not None) == (
                want.text,
                want.deleted,
                want.edited,
            ), f"text entry {want.id}: {got}"
            assert reactions == expected, f"reactions of {want.id}: {got.get('reactions')}"
            assert counts == {e: len(us) for e, us in expected.items()}

    # --- sending ---------------------------------------------------------------------------

    async def _send_all(self, ops: list[Op]) -> None:
        results = await asyncio.gather(*(self._send(op) for op in ops))
        for op, (outcome, message) in zip(ops, results, strict=True):
            self.world.seen[f"{op.fields.get('kind', 'text')}:{outcome}"] += 1
            assert outcome == op.expect, (
                f"{op.fields} by u{op.user}: the server answered {outcome}, the model says "
                f"{op.expect}"
            )
            if outcome == "entry":
                assert message is not None
                assert message["sender_id"] == self.world.users[op.user].id
                assert message["kind"] == op.fields.get("kind", "text")
                assert message.get("target_id") == op.target
                self.model.applied(op, message)
            elif outcome == "noop":
                assert message is not None
                assert (message["id"], message["kind"]) == (op.target, "text")

    async def _send(self, op: Op) -> tuple[str, Message | None]:
        client = self.clients[op.client]
        for _ in range(20):
            if client.socket is not None:
                outcome, message = await self._send_ws(client, op)
            else:
                self.world.seen["sent over REST"] += 1
                outcome, message = await self._send_rest(client, op)
            if outcome not in RETRYABLE:
                return outcome, message
            await asyncio.sleep(0.2)  # same client_msg_id again, as a client retries
        raise AssertionError(f"{op.fields}: still {outcome} after 20 tries")

    async def _send_ws(self, client: Client, op: Op) -> tuple[str, Message | None]:
        assert client.socket is not None
        frame = {
            "type": "message.send",
            "client_msg_id": op.client_msg_id,
            "room_id": self.room_id,
            **op.fields,
        }
        await client.socket.send(frame)
        answer = await wait_outcome(client.socket, op.client_msg_id)
        if answer["type"] == "error":
            return str(answer["code"]), None
        return ("noop" if answer.get("noop") else "entry"), answer["message"]

    async def _send_rest(self, client: Client, op: Op) -> tuple[str, Message | None]:
        r = await client.user.post(
            f"/v1/rooms/{self.room_id}/messages",
            json={"client_msg_id": op.client_msg_id, **op.fields},
        )
        if r.status_code in (201, 200):
            body = r.json()
            # The answer is a copy like any other: the client takes it into its room.
            client.timeline.receive(body["message"])
            return ("noop" if body.get("noop") else "entry"), body["message"]
        if r.status_code in (429, 503):
            return "unavailable", None
        code = str(r.json().get("code"))
        assert REST_CODES.get(code) == r.status_code, f"REST {r.status_code} {r.text[:300]}"
        return code, None

    # --- rules -----------------------------------------------------------------------------

    @rule(who=st.integers(0, CLIENTS - 1), op=st.sampled_from(OPS), pick=st.integers(0, 999))
    def send(self, who: int, op: str, pick: int) -> None:
        planned = self.model.plan(who, self.clients[who].user_index, op, pick, set())
        self.world.run(self._send_all([planned]))

    @rule(
        sends=st.lists(
            st.tuples(st.integers(0, CLIENTS - 1), st.sampled_from(OPS), st.integers(0, 999)),
            min_size=2,
            max_size=5,
        )
    )
    def burst(self, sends: list[tuple[int, str, int]]) -> None:
        """Concurrent sends from several sockets, each on a target of its own (so the model's
        answer does not depend on the order the server takes them in)."""
        busy: set[str] = set()
        ops = []
        for who, op, pick in sends:
            planned = self.model.plan(who, self.clients[who].user_index, op, pick, busy)
            if planned.target is not None:
                busy.add(planned.target)
            ops.append(planned)
        self.world.run(self._send_all(ops))

    # How many frames a socket holds depends on the network's timing, so the drawn order and
    # losses come from a seeded Random (hypothesis must draw the same amount of data on replay).

    @rule(who=st.integers(0, CLIENTS - 1), seed=SEEDS)
    def deliver(self, who: int, seed: int) -> None:
        """Some of the frames received so far reach the reducer, in a drawn order, some twice."""
        client = self.clients[who]
        client.collect()
        held = client.held
        if not held:
            return
        rng = random.Random(seed)
        order = list(range(len(held)))
        rng.shuffle(order)
        count = rng.randint(0, len(held))
        rest = [held[i] for i in order[count:]]
        if order[:count] != sorted(order[:count]):
            self.world.seen["delivered out of order"] += 1
        for i in order[:count]:
            client.timeline.receive(held[i])
            if rng.random() < 0.3:
                rest.append(held[i])  # the same frame comes again later
        client.held = rest

    def _online(self) -> list[int]:
        return [i for i, c in enumerate(self.clients) if c.socket is not None]

    def _offline(self) -> list[int]:
        return [i for i, c in enumerate(self.clients) if c.socket is None]

    @precondition(lambda self: bool(self._online()))
    @rule(data=st.data(), seed=SEEDS)
    def drop(self, data: st.DataObject, seed: int) -> None:
        """A socket drops; part of what it received but the client had not handled is lost."""
        who = data.draw(st.sampled_from(self._online()), label="drop")
        client = self.clients[who]
        assert client.socket is not None
        self.world.run(client.socket.close())
        client.collect()
        client.socket = None
        self.world.seen["dropped"] += 1
        rng = random.Random(seed)
        client.held = [m for m in client.held if rng.random() < 0.5]

    @precondition(lambda self: bool(self._offline()))
    @rule(data=st.data())
    def reconnect(self, data: st.DataObject) -> None:
        who = data.draw(st.sampled_from(self._offline()), label="reconnect")
        self.world.seen["reconnected"] += 1
        self.world.run(self._connect(self.clients[who]))

    @rule(who=st.integers(0, CLIENTS - 1))
    def catch_up(self, who: int) -> None:
        """The gap rule: entries wait above a missing seq -> fetch after the contiguous mark."""
        client = self.clients[who]
        if client.timeline.has_gap:
            self.world.seen["caught up on a gap"] += 1
            self.world.run(self._catch_up(client))


def run_machine(world: World, machine: type[TimelineMachine]) -> None:
    machine.world = world
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_every_client_rebuilds_the_servers_room(request: pytest.FixtureRequest) -> None:
    edge_url = resolve_edge_url(request)
    with asyncio.Runner() as runner:
        edge_cm = open_edge(edge_url)
        edge = runner.run(edge_cm.__aenter__())
        try:
            world = World(runner, edge, runner.run(edge.pooled_users(3)))
            run_machine(world, TimelineMachine)
        finally:
            runner.run(edge_cm.__aexit__(None, None, None))
    logging.getLogger("e2e").info("timeline runs went through: %s", dict(world.seen))
    # The runs covered what the rules are about (a budget too small to reach them fails here).
    wanted = {
        "edit:entry",
        "delete:entry",
        "reaction:entry",
        "reaction:noop",
        "edit:forbidden",
        "sent over REST",
        "delivered out of order",
        "dropped",
        "reconnected",
        "caught up on a gap",
    }
    assert wanted <= set(world.seen), f"not covered: {wanted - set(world.seen)}"

