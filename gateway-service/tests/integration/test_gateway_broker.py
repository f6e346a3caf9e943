"""The gateway against a real RabbitMQ (temporary vhost): bindings, commands, fan-out, presence."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aio_pika.abc import AbstractIncomingMessage
from chat_contracts import names
from chat_runtime.messaging import shard_of
from gateway_service.domain.frames import rfc3339
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


def new_id() -> str:
    return str(uuid.uuid4())


def message(room_id: str, sender: str, cmid: str, seq: int = 1) -> dict[str, Any]:
    return {
        "id": new_id(),
        "room_id": room_id,
        "seq": seq,
        "kind": "text",
        "sender_id": sender,
        "text": "hello",
        "client_msg_id": cmid,
        "created_at": "2026-11-26T15:04:05.123Z",
    }


async def get_command(stack: Any, queue: str, timeout: float = 5.0) -> AbstractIncomingMessage:
    # Command shard queues have a single active consumer, which forbids basic.get.
    channel = await stack.broker.connection.channel()
    try:
        q = await channel.declare_queue(queue, passive=True)
        arrived: asyncio.Future[AbstractIncomingMessage] = (
            asyncio.get_running_loop().create_future()
        )

        async def take(msg: AbstractIncomingMessage) -> None:
            await msg.ack()
            if not arrived.done():
                arrived.set_result(msg)

        tag = await q.consume(take)
        try:
            return await asyncio.wait_for(arrived, timeout)
        finally:
            await q.cancel(tag)
    finally:
        await channel.close()


async def _read_forever(ws: Any) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 2)


async def close_code(ws: Any) -> int | None:
    with pytest.raises(ConnectionClosed) as info:
        await _read_forever(ws)
    return info.value.rcvd.code if info.value.rcvd is not None else None


async def test_ready_means_room_events_reach_the_socket(gw_stack: Any) -> None:
    user, room = new_id(), new_id()
    ws, _ = await gw_stack.open(user, [room])
    try:
        msg = message(room, new_id(), new_id())
        # Published right after `ready`: the binding must already exist or this is lost.
        await gw_stack.publish(
            f"room.{room}.message.created.v1", names.MESSAGE_CREATED_V1, {"message": msg}
        )
        assert await gw_stack.recv(ws) == {"type": "message.new", "message": msg}
    finally:
        await ws.close()


async def test_send_is_a_mandatory_persistent_sharded_command_and_created_acks(
    gw_stack: Any,
) -> None:
    alice, bob, carol, room = new_id(), new_id(), new_id(), new_id()
    wa, ready_a = await gw_stack.open(alice, [room])
    wb, _ = await gw_stack.open(bob, [room])
    wc, _ = await gw_stack.open(carol, [new_id()])
    try:
        cmid = new_id()
        await wa.send(
            orjson.dumps(
                {"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "hi"}
            ).decode()
        )
        shard = shard_of(room, gw_stack.settings.send_shards)
        command = await get_command(gw_stack, names.send_queue(shard))
        assert command.type == names.MESSAGE_SEND_V1
        assert command.routing_key == names.send_routing_key(shard)
        assert command.delivery_mode == 2
        body = orjson.loads(command.body)
        assert body["client_msg_id"] == cmid
        assert body["sender_id"] == alice
        assert body["connection_id"] == ready_a["connection_id"]
        assert body["gateway_id"] == gw_stack.settings.gateway_id

        msg = message(room, alice, cmid)
        await gw_stack.publish(
            f"room.{room}.message.created.v1", names.MESSAGE_CREATED_V1, {"message": msg}
        )
        got_a = [await gw_stack.recv(wa), await gw_stack.recv(wa)]
        assert {"type": "message.ack", "client_msg_id": cmid, "message": msg} in got_a
        assert {"type": "message.new", "message": msg} in got_a
        assert await gw_stack.recv(wb) == {"type": "message.new", "message": msg}
        assert await gw_stack.until_pong(wc) == []  # not a member: nothing
    finally:
        for ws in (wa, wb, wc):
            await ws.close()


async def test_unroutable_command_is_unavailable(gw_stack: Any) -> None:
    user, room = new_id(), new_id()
    shard = shard_of(room, gw_stack.settings.send_shards)
    channel = await gw_stack.broker.connection.channel()
    queue = await channel.declare_queue(names.send_queue(shard), passive=True)
    await queue.unbind(names.EXCHANGE_COMMANDS, names.send_routing_key(shard))
    ws, _ = await gw_stack.open(user, [room])
    try:
        cmid = new_id()
        await ws.send(
            orjson.dumps(
                {"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "hi"}
            ).decode()
        )
        err = await gw_stack.recv(ws)
        assert (err["type"], err["code"], err["ref"]) == ("error", "unavailable", cmid)
    finally:
        await queue.bind(names.EXCHANGE_COMMANDS, names.send_routing_key(shard))
        await channel.close()
        await ws.close()


async def test_rejected_becomes_an_error_for_the_sender(gw_stack: Any) -> None:
    user, room, cmid = new_id(), new_id(), new_id()
    ws, _ = await gw_stack.open(user, [room])
    try:
        await gw_stack.publish(
            f"user.{user}.message.rejected.v1",
            names.MESSAGE_REJECTED_V1,
            {
                "client_msg_id": cmid,
                "room_id": room,
                "sender_id": user,
                "code": "client_msg_id_reused",
                "message": "That id was already used in another room.",
            },
        )
        err = await gw_stack.recv(ws)
        assert (err["type"], err["code"], err["ref"]) == ("error", "client_msg_id_reused", cmid)
    finally:
        await ws.close()


async def test_typing_reaches_other_members_only(gw_stack: Any) -> None:
    alice, bob, carol, room = new_id(), new_id(), new_id(), new_id()
    wa, _ = await gw_stack.open(alice, [room])
    wb, _ = await gw_stack.open(bob, [room])
    wc, _ = await gw_stack.open(carol, [new_id()])
    try:
        await wa.send(orjson.dumps({"type": "typing", "room_id": room}).decode())
        assert await gw_stack.recv(wb) == {"type": "typing", "room_id": room, "user_id": alice}
        assert await gw_stack.until_pong(wa) == []
        assert await gw_stack.until_pong(wc) == []
    finally:
        for ws in (wa, wb, wc):
            await ws.close()


async def test_joined_room_reaches_an_open_socket(gw_stack: Any) -> None:
    user, room = new_id(), new_id()
    ws, _ = await gw_stack.open(user, [])
    try:
        await gw_stack.publish(
            f"user.{user}.room.joined.v1",
            names.ROOM_JOINED_V1,
            {"user_id": user, "room_id": room},
        )
        assert await gw_stack.recv(ws) == {
            "type": "room.member_joined",
            "room_id": room,
            "user_id": user,
        }
        msg = message(room, new_id(), new_id())
        await gw_stack.publish(
            f"room.{room}.message.created.v1", names.MESSAGE_CREATED_V1, {"message": msg}
        )
        assert await gw_stack.recv(ws) == {"type": "message.new", "message": msg}
    finally:
        await ws.close()


async def test_room_updated_and_thread_reads_reach_only_their_user(gw_stack: Any) -> None:
    """api-v1.1 B through the broker: `room.updated.v1` on the user's key, and a thread's read
    position (`read.v1` with `thread_root_id`, on the room's key) for the reader only."""
    ana, ben, room, root = new_id(), new_id(), new_id(), new_id()
    wa, _ = await gw_stack.open(ana, [room])
    wb, _ = await gw_stack.open(ben, [room])
    try:
        updated = {
            "id": room,
            "kind": "direct",
            "name": None,
            "visibility": "private",
            "created_by": ben,
            "created_at": "2026-11-26T15:04:05.123Z",
            "member_count": 2,
            "last_seq": 3,
            "last_read_seq": 3,
            "unread_count": 0,
            "mention_count": 0,
            "notify": "none",
        }
        await gw_stack.publish(
            names.user_key(ana, names.ROOM_UPDATED_V1),
            names.ROOM_UPDATED_V1,
            {"user_id": ana, "room": updated},
        )
        assert await gw_stack.recv(wa) == {"type": "room.updated", "room": updated}
        read = {"room_id": room, "user_id": ana, "seq": 3, "thread_root_id": root}
        await gw_stack.publish(names.room_key(room, names.READ_V1), names.READ_V1, read)
        assert await gw_stack.recv(wa) == {"type": "read", **read}
        assert await gw_stack.until_pong(wb) == []
    finally:
        for ws in (wa, wb):
            await ws.close()


async def test_revoked_session_is_closed_4401_within_a_second(gw_stack: Any) -> None:
    user, sid = new_id(), new_id()
    ws, _ = await gw_stack.open(user, [], session_id=sid)
    started = time.monotonic()
    await gw_stack.publish(
        names.AUTH_SESSION_REVOKED_V1,
        names.AUTH_SESSION_REVOKED_V1,
        {
            "session_id": sid,
            "user_id": user,
            "revoked_at": rfc3339(datetime.now(UTC)),
            "reason": "logout",
        },
    )
    assert await close_code(ws) == 4401
    assert time.monotonic() - started < 1.0
    # The host's revocation set has it: the session's tokens are refused from now on.
    assert await sign_in_outcome(gw_stack.ws_url, gw_stack.tokens.issue(user, session_id=sid)) == (
        "unauthorized",
        4401,
    )


async def test_sign_in_is_unavailable_until_revocations_are_loaded(gw_stack: Any) -> None:
    """A gateway whose revocations auth-service has not answered refuses every token as
    `unavailable` (retry), never as `unauthorized` (which would sign the client out)."""
    auth = gw_stack.auth
    auth.answering, asked = False, auth.unanswered
    try:
        async with gw_stack.another_gateway(wait_ready=False) as (_, port2):
            async with asyncio.timeout(10):
                while auth.unanswered == asked:  # it asked, and got no answer
                    await asyncio.sleep(0.05)
            token = gw_stack.tokens.issue(new_id())
            outcome = await sign_in_outcome(f"ws://127.0.0.1:{port2}/v1/ws", token)
            assert outcome == ("unavailable", 1011)
    finally:
        auth.answering = True


async def sign_in_outcome(url: str, token: str) -> tuple[str | None, int | None]:
    """(error code, close code) of a sign-in the gateway refuses."""
    async with connect(url, subprotocols=[Subprotocol("chat.v1")]) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
        frame = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["type"] == "error", frame
        return frame["code"], await close_code(ws)


async def test_presence_frames_only_for_subscribers_and_heartbeat(gw_stack: Any) -> None:
    watched, user = new_id(), new_id()
    sub, ready = await gw_stack.open(user, [])
    other, _ = await gw_stack.open(new_id(), [])
    beats = await gw_stack.broker.connection.channel()
    queue = await beats.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(names.EXCHANGE_EVENTS, names.PRESENCE_GATEWAY_HEARTBEAT_V1)
    try:
        await sub.send(orjson.dumps({"type": "presence.subscribe", "user_ids": [watched]}).decode())
        await gw_stack.until_pong(sub)
        body = {"user_id": watched, "status": "online", "last_seen_at": "2026-11-26T15:04:05.000Z"}
        await gw_stack.publish(names.PRESENCE_CHANGED_V1, names.PRESENCE_CHANGED_V1, body)
        assert await gw_stack.recv(sub) == {"type": "presence", **body}
        assert await gw_stack.until_pong(other) == []

        await sub.send(orjson.dumps({"type": "presence.set", "status": "away"}).decode())
        await gw_stack.until_pong(sub)
        deadline = time.monotonic() + 5
        found = None
        while found is None and time.monotonic() < deadline:
            got = await queue.get(no_ack=True, fail=False)
            if got is None:
                await asyncio.sleep(0.05)
                continue
            beat = orjson.loads(got.body)
            assert beat["gateway_id"] == gw_stack.settings.gateway_id
            assert beat["interval_s"] == 0.5  # 10 in production
            found = next(
                (c for c in beat["connections"] if c["connection_id"] == ready["connection_id"]),
                None,
            )
            if found is not None and found["status"] != "away":
                found = None  # a beat sent before presence.set
        assert found == {"connection_id": ready["connection_id"], "user_id": user, "status": "away"}
    finally:
        await beats.close()
        await sub.close()
        await other.close()


async def test_all_presence_from_the_broker_and_the_cap_of_another_gateway(
    gw_stack: Any,
) -> None:
    """`presence.subscribe {"all": true}` (api-v1.1 C): every change on the broker reaches the
    socket; on a gateway started with CHAT_GATEWAY_PRESENCE_ALL_CAP=1 the second user's change
    is one `presence.truncated` instead, and later changes of the first still come."""
    first, second = new_id(), new_id()
    seen = "2026-12-06T22:00:00.000Z"
    subscribe = orjson.dumps({"type": "presence.subscribe", "all": True}).decode()
    async with gw_stack.another_gateway(presence_all_cap=1) as (_, capped_port):
        everyone, _ = await gw_stack.open(new_id(), [])
        capped, _ = await gw_stack.open(new_id(), [], port=capped_port)
        try:
            for ws in (everyone, capped):
                await ws.send(subscribe)
                assert await gw_stack.until_pong(ws) == []
            frames = []
            for user_id, status in ((first, "online"), (second, "online"), (first, "away")):
                body = {"user_id": user_id, "status": status, "last_seen_at": seen}
                await gw_stack.publish(names.PRESENCE_CHANGED_V1, names.PRESENCE_CHANGED_V1, body)
                frames.append({"type": "presence", **body})
            assert [await gw_stack.recv(everyone) for _ in frames] == frames
            got = [await gw_stack.recv(capped) for _ in frames]
            assert got == [frames[0], {"type": "presence.truncated", "limit": 1}, frames[2]]
            assert await gw_stack.until_pong(capped) == []
        finally:
            await everyone.close()
            await capped.close()


async def test_slow_reader_is_disconnected_instead_of_buffering(gw_stack: Any) -> None:

    user, room = new_id(), new_id()
    gw_stack.rooms[user] = [room]
    gateway = gw_stack.app.gateway
    budget = gw_stack.settings.max_pending_output_bytes
    gw_stack.settings.max_pending_output_bytes = 256 * 1024  # same rule, less to publish
    try:
        await _stall_reader(gw_stack, gateway, user, room)
    finally:
        gw_stack.settings.max_pending_output_bytes = budget


async def _stall_reader(gw_stack: Any, gateway: Any, user: str, room: str) -> None:
    # max_queue=1: the client stops reading its TCP socket, like a stuck browser tab; a small
    # receive buffer keeps the kernel from absorbing megabytes before the gateway notices.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gw_stack.port))
    sock.setblocking(False)
    async with connect(
        gw_stack.ws_url,
        subprotocols=[Subprotocol("chat.v1")],
        max_queue=1,
        sock=sock,
        close_timeout=0.5,
    ) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": gw_stack.tokens.issue(user)}).decode())
        await asyncio.sleep(0.5)
        assert gateway.registry.connections_of_user(user)
        text = "😀" * 4000  # 16 kB per frame
        for batch in range(40):  # ~17 MB: more than the socket buffers plus the 1 MiB budget
            await asyncio.gather(
                *(
                    gw_stack.publish(
                        f"room.{room}.message.created.v1",
                        names.MESSAGE_CREATED_V1,
                        {
                            "message": {
                                **message(room, new_id(), new_id(), batch * 100 + i + 1),
                                "text": text,
                            }
                        },
                    )
                    for i in range(100)
                )
            )
            if not gateway.registry.connections_of_user(user):
                break
        deadline = time.monotonic() + 10
        while gateway.registry.connections_of_user(user) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not gateway.registry.connections_of_user(user), "the slow reader was kept"


async def test_reader_that_falls_behind_then_catches_up_gets_every_frame_in_order(
    gw_stack: Any,
) -> None:
    """Fan-out frames go straight to the transport until it pauses; then they queue in the
    session behind what is already there, and reach the client in order once it reads again."""
    user, room = new_id(), new_id()
    gw_stack.rooms[user] = [room]
    gateway = gw_stack.app.gateway
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the kernel absorbs little
    sock.connect(("127.0.0.1", gw_stack.port))
    sock.setblocking(False)
    async with connect(
        gw_stack.ws_url, subprotocols=[Subprotocol("chat.v1")], max_queue=1, sock=sock
    ) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": gw_stack.tokens.issue(user)}).decode())
        assert orjson.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "ready"
        (connection_id,) = gateway.registry.connections_of_user(user)
        session = gateway.sessions[connection_id]
        text = "😀" * 4000  # 16 kB per frame
        seq = 0

        async def publish(count: int) -> None:
            nonlocal seq
            for _ in range(count):  # one at a time: the bus keeps their order
                seq += 1
                await gw_stack.publish(
                    f"room.{room}.message.created.v1",
                    names.MESSAGE_CREATED_V1,
                    {"message": {**message(room, new_id(), new_id(), seq), "text": text}},
                )

        # The client reads nothing now: publish until the gateway had to queue in the session.
        async with asyncio.timeout(30):
            while session.output.pending_bytes == 0:
                await publish(10)
                await asyncio.sleep(0.05)  # let the deliveries reach the socket
        await publish(10)  # and more behind the queued ones
        assert not session.output.closing  # well under the output budget
        received: list[int] = []
        async with asyncio.timeout(30):
            while len(received) < seq:
                frame = orjson.loads(await ws.recv())
                if frame["type"] == "message.new":
                    received.append(frame["message"]["seq"])
        assert received == list(range(1, seq + 1))
        assert session.output.pending_bytes == 0


async def test_users_on_two_gateways_talk(gw_stack: Any) -> None:
    alice, bob, room = new_id(), new_id(), new_id()
    async with gw_stack.another_gateway() as (app2, port2):
        wa, _ = await gw_stack.open(alice, [room])
        wb, _ = await gw_stack.open(bob, [room], port=port2)
        try:
            gateway2 = app2.gateway
            assert gateway2.gateway_id != gw_stack.settings.gateway_id
            cmid = new_id()
            await wb.send(
                orjson.dumps(
                    {"type": "message.send", "client_msg_id": cmid, "room_id": room, "text": "x"}
                ).decode()
            )
            shard = shard_of(room, gw_stack.settings.send_shards)
            command = await get_command(gw_stack, names.send_queue(shard))
            assert orjson.loads(command.body)["gateway_id"] == gateway2.gateway_id
            # One event, routed by topic to both gateways' queues; the ack only on bob's.
            msg = message(room, bob, cmid)
            await gw_stack.publish(
                f"room.{room}.message.created.v1",
                names.MESSAGE_CREATED_V1,
                {"message": msg},
            )
            assert await gw_stack.recv(wa) == {"type": "message.new", "message": msg}
            got_b = [await gw_stack.recv(wb), await gw_stack.recv(wb)]
            assert {"type": "message.ack", "client_msg_id": cmid, "message": msg} in got_b
            assert await gw_stack.until_pong(wa) == []  # no ack on the other gateway
            # Typing from one gateway reaches the other, through the broker.
            await wa.send(orjson.dumps({"type": "typing", "room_id": room}).decode())
            assert await gw_stack.recv(wb) == {"type": "typing", "room_id": room, "user_id": alice}
        finally:
            await wa.close()
            await wb.close()
