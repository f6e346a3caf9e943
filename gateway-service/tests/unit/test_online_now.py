""" "Online now" (api-v1.1 C): `presence.subscribe {"all": true}`, its cap and `presence.truncated`.

The subscription index alone (pure, with a model checked by hypothesis), then the protocol
through the app with fake broker and verifier: the feature switch, replacing, the cap.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import chat_contracts
import pytest
from gateway_service.domain.presence import SubscriptionIndex
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import WebSocketTestSession

pytestmark = pytest.mark.unit

SEEN = "2026-12-06T22:00:00.000Z"


def new_id() -> str:
    return str(uuid.uuid4())


# --- the index ---------------------------------------------------------------------------------


def test_all_sockets_hear_every_user_and_list_sockets_only_theirs() -> None:
    index = SubscriptionIndex()
    index.subscribe_all("all1", cap=10)
    index.subscribe_all("all2", cap=10)
    index.replace("list", ["u1"])
    assert sorted(index.changed("u1").forward) == ["all1", "all2", "list"]
    assert sorted(index.changed("u2").forward) == ["all1", "all2"]
    assert index.subscribers("u2") == []  # `all` is not a list subscription
    assert index.cohorts() == 1


def test_a_later_subscribe_replaces_all_and_all_replaces_a_list() -> None:
    index = SubscriptionIndex()
    index.replace("c", ["u1"])
    index.subscribe_all("c", cap=10)
    assert index.subscriptions("c") == frozenset()
    assert index.wants_all("c")
    index.replace("c", ["u2"])
    assert not index.wants_all("c")
    assert index.changed("u1").forward == []
    assert index.changed("u2").forward == ["c"]
    index.replace("c", [])  # `{"all": false}` alone: nobody
    assert index.changed("u2").forward == []
    assert index.cohorts() == 0


def test_the_cap_admits_the_first_users_and_truncates_once() -> None:
    index = SubscriptionIndex()
    index.subscribe_all("c", cap=2)
    assert index.changed("u1").forward == ["c"]
    assert index.changed("u2").forward == ["c"]
    third = index.changed("u3")
    assert third.forward == []
    assert [(t.limit, t.connection_ids) for t in third.truncations] == [(2, ["c"])]
    fourth = index.changed("u4")
    assert fourth.forward == []
    assert fourth.truncations == []  # told once
    assert index.changed("u1").forward == ["c"]  # admitted users keep coming


def test_a_socket_subscribing_to_a_full_set_starts_its_own() -> None:
    index = SubscriptionIndex()
    index.subscribe_all("old", cap=1)
    index.changed("u1")
    index.subscribe_all("new", cap=1)  # the old set is full: the new socket gets a fresh one
    assert index.cohorts() == 2
    second = index.changed("u2")
    assert second.forward == ["new"]
    assert [t.connection_ids for t in second.truncations] == [["old"]]
    assert index.changed("u1").forward == ["old"]
    index.remove("old")
    index.remove("new")
    assert index.cohorts() == 0


def test_many_sockets_share_one_admitted_set() -> None:
    """Memory and work per change do not grow with users x sockets: the sockets that subscribe
    while the set has room share it, and a change is one lookup per set."""
    index = SubscriptionIndex()
    for i in range(1000):
        index.subscribe_all(f"c{i}", cap=5000)
    for u in range(300):
        assert len(index.changed(f"u{u}").forward) == 1000
    assert index.cohorts() == 1


def test_a_cap_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        SubscriptionIndex().subscribe_all("c", cap=0)


@dataclass
class Subscription:
    """One `all` subscription as its socket sees it (a model of what the frames must be)."""

    cap: int
    forwarded: set[str] = field(default_factory=set)
    truncated: int = 0
    dropped: bool = False


CONNS = [f"c{i}" for i in range(4)]
USERS = [f"u{i}" for i in range(8)]
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("all"), st.sampled_from(CONNS), st.integers(1, 4)),
        st.tuples(st.just("list"), st.sampled_from(CONNS), st.sets(st.sampled_from(USERS))),
        st.tuples(st.just("remove"), st.sampled_from(CONNS)),
        st.tuples(st.just("change"), st.sampled_from(USERS)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops=OPS)
def test_never_more_than_cap_users_and_truncated_exactly_once(ops: list[tuple[Any, ...]]) -> None:
    index = SubscriptionIndex()
    alls: dict[str, Subscription] = {}
    lists: dict[str, set[str]] = {}
    for op in ops:
        if op[0] == "all":
            index.subscribe_all(op[1], cap=op[2])
            lists.pop(op[1], None)
            alls[op[1]] = Subscription(op[2])
        elif op[0] == "list":
            index.replace(op[1], op[2])
            alls.pop(op[1], None)
            lists[op[1]] = set(op[2])
        elif op[0] == "remove":
            index.remove(op[1])
            alls.pop(op[1], None)
            lists.pop(op[1], None)
        else:
            user = op[1]
            fanout = index.changed(user)
            forward = fanout.forward
            assert len(forward) == len(set(forward))  # nobody gets the frame twice
            told = {c: t.limit for t in fanout.truncations for c in t.connection_ids}
            assert not set(forward) & set(told)
            want_list = {c for c, users in lists.items() if user in users}
            assert want_list <= set(forward)
            for conn, sub in alls.items():
                was_forwarded = user in sub.forwarded
                if conn in forward:
                    sub.forwarded.add(user)
                else:
                    # An admitted user is never dropped; a drop is never silent.
                    assert not was_forwarded
                    sub.dropped = True
                if conn in told:
                    assert told[conn] == sub.cap
                    sub.truncated += 1
                assert len(sub.forwarded) <= sub.cap
                assert sub.truncated == (1 if sub.dropped else 0)
            assert set(forward) <= want_list | set(alls)
            assert set(told) <= set(alls)
    assert index.cohorts() <= len(alls)
    for conn in CONNS:
        index.remove(conn)
    assert index.cohorts() == 0


# --- through the protocol ----------------------------------------------------------------------


def _changed(h: Any, user_id: str, status: str = "online") -> dict[str, Any]:
    body = {"user_id": user_id, "status": status, "last_seen_at": SEEN}
    h.event("presence.changed.v1", body)
    return {"type": "presence", **body}


def _until_pong(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    """The frames queued before the answer to a fresh ping."""
    ws.send_json({"type": "ping"})
    seen = []
    while (frame := ws.receive_json())["type"] != "pong":
        seen.append(frame)
    return seen


def _checked(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for frame in frames:
        chat_contracts.validate(f"ws.server.{frame['type']}.v1", frame)
    return frames


def test_all_hears_every_user_and_a_list_replaces_it(gw_harness: Any) -> None:
    stranger, listed = new_id(), new_id()
    with (
        gw_harness.connected(new_id(), []) as (everyone, _),
        gw_harness.connected(new_id(), []) as (only_listed, _),
    ):
        everyone.send_json({"type": "presence.subscribe", "all": True, "user_ids": [listed]})
        only_listed.send_json({"type": "presence.subscribe", "user_ids": [listed]})
        assert _until_pong(everyone) == _until_pong(only_listed) == []
        expected = [_changed(gw_harness, stranger), _changed(gw_harness, listed, "away")]
        assert _checked(_until_pong(everyone)) == expected
        assert _until_pong(only_listed) == expected[1:]  # the stranger is nobody's business

        everyone.send_json({"type": "presence.subscribe", "user_ids": [listed]})
        _until_pong(everyone)
        assert gw_harness.gateway.subscriptions.cohorts() == 0
        _changed(gw_harness, stranger)
        expected = [_changed(gw_harness, listed)]
        assert _until_pong(everyone) == expected


def test_all_false_alone_subscribes_to_nobody(gw_harness: Any) -> None:
    watched = new_id()
    with gw_harness.connected(new_id(), []) as (ws, _):
        ws.send_json({"type": "presence.subscribe", "user_ids": [watched]})
        ws.send_json({"type": "presence.subscribe", "all": False})
        _until_pong(ws)
        _changed(gw_harness, watched)
        assert _until_pong(ws) == []


def test_all_is_refused_while_online_now_is_off(gw_features_off: Any) -> None:
    watched = new_id()
    with gw_features_off.connected(new_id(), []) as (ws, _):
        ws.send_json({"type": "presence.subscribe", "user_ids": [watched]})
        ws.send_json({"type": "presence.subscribe", "all": True})
        (error,) = _checked(_until_pong(ws))
        assert error["code"] == "feature_disabled"
        assert error["ref"] == "presence.subscribe"
        assert "online_now" in error["message"]
        # The refused frame changed nothing: the list still holds, and nobody else is heard.
        expected = _changed(gw_features_off, watched)
        _changed(gw_features_off, new_id())
        assert _until_pong(ws) == [expected]
        # A plain list (v1) needs no feature.
        ws.send_json({"type": "presence.subscribe", "user_ids": []})
        assert _until_pong(ws) == []


def test_the_cap_sends_truncated_once_then_only_admitted_users(gw_harness: Any) -> None:
    gw_harness.gateway.settings.presence_all_cap = 2
    first, second, third, fourth = (new_id() for _ in range(4))
    with gw_harness.connected(new_id(), []) as (ws, _):
        ws.send_json({"type": "presence.subscribe", "all": True})
        _until_pong(ws)
        admitted = [_changed(gw_harness, first), _changed(gw_harness, second)]
        _changed(gw_harness, third)
        _changed(gw_harness, fourth)
        again = _changed(gw_harness, first, "away")
        truncated = {"type": "presence.truncated", "limit": 2}
        assert _checked(_until_pong(ws)) == [*admitted, truncated, again]
        _changed(gw_harness, third, "offline")
        assert _until_pong(ws) == []  # told once, and the third user stays out


def test_a_closed_all_socket_is_forgotten(gw_harness: Any) -> None:
    with gw_harness.connected(new_id(), []) as (ws, _):
        ws.send_json({"type": "presence.subscribe", "all": True})
        _until_pong(ws)
        assert gw_harness.gateway.subscriptions.cohorts() == 1
    assert gw_harness.gateway.subscriptions.cohorts() == 0
