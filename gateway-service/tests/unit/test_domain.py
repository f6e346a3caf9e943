"""Pure domain logic: frames, token bucket, bindings, pending sends, subscriptions, expiry."""

from __future__ import annotations

import uuid

import orjson
import pytest
from chat_contracts import types
from gateway_service.domain import frames as f
from gateway_service.domain.expiry import ExpiryQueue
from gateway_service.domain.pending import PendingSends
from gateway_service.domain.presence import SubscriptionIndex
from gateway_service.domain.ratelimit import RateLimiter, TokenBucket, Verdict
from gateway_service.domain.registry import Registry, room_key, user_key

pytestmark = pytest.mark.unit

ROOM = str(uuid.uuid4())
CMID = str(uuid.uuid4())


def send(text: str, **extra: object) -> str:
    body: dict[str, object] = {
        "type": "message.send",
        "client_msg_id": CMID,
        "room_id": ROOM,
        "text": text,
    }
    body.update(extra)
    return orjson.dumps(body).decode()


# --- frames -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "ref"),
    [
        ("{not json", None),
        ("[1, 2]", None),
        ('{"no_type": 1}', None),
        ('{"type": 7}', None),
        ('{"type": "teleport"}', "teleport"),
        ('{"type": "typing"}', "typing"),
        ('{"type": "typing", "room_id": "not-a-uuid"}', "typing"),
        ('{"type": "read", "room_id": "' + ROOM + '", "seq": "5"}', "read"),
        ('{"type": "read", "room_id": "' + ROOM + '", "seq": -1}', "read"),
        ('{"type": "read", "room_id": "' + ROOM + '", "seq": 0}', "read"),
        ('{"type": "presence.set", "status": "busy"}', "presence.set"),
        ('{"type": "auth"}', "auth"),
        ('{"type": "read", "room_id": "' + ROOM + '", "seq": 9223372036854775808}', "read"),
        ('{"type": "auth.refresh", "token": "' + "t" * 8193 + '"}', "auth.refresh"),
        (
            '{"type": "presence.subscribe", "user_ids": ["' + ROOM + '", "' + ROOM + '"]}',
            "presence.subscribe",
        ),
    ],
)
def test_bad_frames_are_bad_request_with_ref(raw: str, ref: str | None) -> None:
    result = f.parse_frame(raw)
    assert isinstance(result, f.FrameError)
    assert result.code == "bad_request"
    assert result.ref == ref
    assert result.message


def test_message_send_refs_its_client_msg_id() -> None:
    result = f.parse_frame(send("hi", room_id="nope"))
    assert isinstance(result, f.FrameError)
    assert (result.code, result.ref) == ("bad_request", CMID)
    assert "room_id" in result.message


def test_invalid_client_msg_id_refs_the_frame_type() -> None:
    result = f.parse_frame(send("hi", client_msg_id="123"))
    assert isinstance(result, f.FrameError)
    assert (result.code, result.ref) == ("bad_request", "message.send")


def test_text_length_counts_code_points() -> None:
    ok = f.parse_frame(send("😀" * 4000))
    assert isinstance(ok, f.SendFrame)
    assert isinstance(ok.frame.text, str)
    assert len(ok.frame.text) == 4000
    too_long = f.parse_frame(send("a" * 4001))
    assert isinstance(too_long, f.FrameError)
    assert (too_long.code, too_long.ref) == ("message_too_long", CMID)


def test_too_long_text_is_message_too_long_only_when_it_is_the_one_fault() -> None:
    both = f.parse_frame(send("a" * 4001, room_id="nope"))
    assert isinstance(both, f.FrameError)
    assert (both.code, both.ref) == ("bad_request", CMID)
    blank_and_long = f.parse_frame(send(" " * 4001))
    assert isinstance(blank_and_long, f.FrameError)
    assert blank_and_long.code == "message_too_long"
    assert "4001" in blank_and_long.message


def test_every_client_frame_has_a_handler() -> None:
    from gateway_service.frame_handlers import FRAME_HANDLERS

    # message.send comes as a SendFrame (the frame and the fields to forward beside it).
    parsed = {f.SendFrame if s is types.WsClientMessageSendV1 else s for s in f.CLIENT_FRAMES}
    assert set(FRAME_HANDLERS) == parsed
    assert {f.frame_type(s) for s in f.CLIENT_FRAMES} == {
        "auth",
        "auth.refresh",
        "message.send",
        "typing",
        "read",
        "presence.set",
        "presence.subscribe",
        "ping",
    }


@pytest.mark.parametrize("text", ["", " ", " \n\t ", "\u3000\u00a0"])
def test_whitespace_only_text_is_bad_request(text: str) -> None:
    result = f.parse_frame(send(text))
    assert isinstance(result, f.FrameError)
    assert (result.code, result.ref) == ("bad_request", CMID)


def test_text_must_be_a_string_not_a_number() -> None:
    result = f.parse_frame(send(12))  # type: ignore[arg-type]
    assert isinstance(result, f.FrameError)
    assert result.code == "bad_request"


def test_valid_frames_parse_and_canonicalise_ids() -> None:
    parsed = f.parse_frame(send("  hello  ", extra_field=True, room_id=ROOM.upper()))
    assert isinstance(parsed, f.SendFrame)
    result = parsed.frame
    assert result.room_id.lower() == ROOM
    assert result.text == "  hello  "  # verbatim, never trimmed
    # A field this release does not know is kept, raw, to be forwarded with the command.
    assert {k: bytes(v) for k, v in parsed.unknown.items()} == {"extra_field": b"true"}
    assert isinstance(f.parse_frame('{"type":"ping"}'), types.WsClientPingV1)
    sub = f.parse_frame(orjson.dumps({"type": "presence.subscribe", "user_ids": [ROOM]}))
    assert isinstance(sub, types.WsClientPresenceSubscribeV1)


def test_presence_subscribe_is_capped_at_500() -> None:
    ids = [str(uuid.uuid4()) for _ in range(501)]
    result = f.parse_frame(orjson.dumps({"type": "presence.subscribe", "user_ids": ids}))
    assert isinstance(result, f.FrameError)
    assert result.code == "bad_request"


def test_error_frame_shape() -> None:
    frame = orjson.loads(f.error_frame(f.FrameError("not_a_member", "nope", CMID)))
    assert frame == {"type": "error", "code": "not_a_member", "message": "nope", "ref": CMID}


# --- rate limit ---------------------------------------------------------------------------------


def test_token_bucket_burst_then_rate() -> None:
    bucket = TokenBucket(rate=20, burst=100, updated_at=0.0)
    assert sum(bucket.take(0.0) for _ in range(150)) == 100
    assert not bucket.take(0.0)
    assert sum(bucket.take(1.0) for _ in range(50)) == 20


def test_rate_limiter_closes_only_when_flooding_goes_on() -> None:
    limiter = RateLimiter.create(20, 100, now=0.0, close_after_s=10.0)
    verdicts = [limiter.check(0.0) for _ in range(101)]
    assert verdicts[:100] == [Verdict.ALLOW] * 100
    assert verdicts[100] is Verdict.REJECT
    # A flood at 100 frames/s: refusals every 10 ms; the close comes at 10 s, not before.
    t, seen = 0.0, []
    while t < 10.5:
        t += 0.01
        seen.append((t, limiter.check(t)))
    first_close = next(at for at, v in seen if v is Verdict.CLOSE)
    assert 9.9 <= first_close <= 10.1


def test_rate_limiter_forgets_after_a_quiet_second() -> None:
    limiter = RateLimiter.create(20, 100, now=0.0, close_after_s=10.0)
    for _ in range(101):
        limiter.check(0.0)
    assert limiter.limited_since == 0.0
    # Polite for a while, then over again at 12 s: a new streak, no close.
    for i in range(1, 60):
        assert limiter.check(i * 0.2) is Verdict.ALLOW
    for _ in range(200):
        assert limiter.check(12.0) is not Verdict.CLOSE


# --- registry and binding reference counts --------------------------------------------------------


def test_bindings_are_reference_counted_over_users() -> None:
    reg = Registry()
    assert reg.add_connection("c1", "u1", "s1").bind == (user_key("u1"),)
    assert reg.add_connection("c2", "u1", "s1").bind == ()  # second tab: no new binding
    assert reg.add_rooms("u1", ["r1", "r2"]).bind == (room_key("r1"), room_key("r2"))
    reg.add_connection("c3", "u2", "s2")
    assert reg.add_rooms("u2", ["r1"]).bind == ()  # already bound for u1
    assert sorted(reg.room_connections("r1")) == ["c1", "c2", "c3"]
    assert reg.remove_connection("c1").unbind == ()
    change = reg.remove_connection("c2")
    assert change.unbind == (user_key("u1"), room_key("r2"))  # r1 still has u2
    assert reg.room_connections("r1") == ["c3"]
    assert reg.remove_room("u2", "r1").unbind == (room_key("r1"),)
    assert reg.remove_connection("c3").unbind == (user_key("u2"),)
    assert reg.binding_keys() == []
    assert reg.remove_connection("c3").unbind == ()  # idempotent


def test_rooms_of_unconnected_users_are_ignored() -> None:
    reg = Registry()
    assert reg.add_rooms("ghost", ["r1"]).bind == ()
    assert not reg.is_member("ghost", "r1")


def test_sessions_index_follows_refresh() -> None:
    reg = Registry()
    reg.add_connection("c1", "u1", "s1")
    reg.change_session("c1", "s2")
    assert reg.connections_of_session("s1") == []
    assert reg.connections_of_session("s2") == ["c1"]


# --- pending sends, subscriptions, expiry -------------------------------------------------------


def test_pending_sends_pop_once_and_drop_with_connection() -> None:
    table = PendingSends(ttl_s=60)
    table.add("u1", "m1", "c1", now=0)
    table.add("u1", "m2", "c2", now=0)
    assert table.pop("u1", "m1") == "c1"
    assert table.pop("u1", "m1") is None
    assert table.pop("u2", "m2") is None  # another sender's client_msg_id is not ours
    table.drop_connection("c2")
    assert table.pop("u1", "m2") is None
    table.add("u1", "m3", "c1", now=0)
    table.add("u1", "m3", "c3", now=1)  # retry from another tab takes over
    table.drop_connection("c1")
    assert table.pop("u1", "m3") == "c3"


def test_pending_sends_expire() -> None:
    table = PendingSends(ttl_s=60)
    table.add("u1", "m1", "c1", now=0)
    table.add("u1", "m2", "c1", now=50)
    assert table.expire(now=70) == 1
    assert len(table) == 1


def test_subscription_index_replaces() -> None:
    index = SubscriptionIndex()
    index.replace("c1", ["a", "b"])
    index.replace("c2", ["b"])
    assert sorted(index.subscribers("b")) == ["c1", "c2"]
    index.replace("c1", ["c"])
    assert index.subscribers("b") == ["c2"]
    assert index.subscribers("a") == []
    index.remove("c2")
    assert index.subscribers("b") == []
    assert index.subscriptions("c1") == frozenset({"c"})


def test_expiry_queue_uses_the_latest_expiry() -> None:
    queue = ExpiryQueue()
    queue.set("c1", 10)
    queue.set("c2", 20)
    queue.set("c1", 30)  # refreshed
    assert queue.due(15) == []
    assert queue.due(25) == ["c2"]
    queue.discard("c1")
    assert queue.due(100) == []
    assert len(queue) == 0


@pytest.mark.parametrize(
    "raw", ['{"type":"ping"}', b'{"type":"ping"}', '{ "type": "ping", "x": 1 }']
)
def test_ping_parses_on_the_fast_path_and_the_general_one(raw: str | bytes) -> None:
    frame = f.parse_frame(raw)
    assert isinstance(frame, types.WsClientPingV1)
    assert frame.type == "ping"


def test_fast_path_does_not_swallow_near_misses() -> None:
    assert isinstance(f.parse_frame('{"type":"pinG"}'), f.FrameError)
    assert isinstance(f.parse_frame('{"type":"ping"}x'), f.FrameError)
