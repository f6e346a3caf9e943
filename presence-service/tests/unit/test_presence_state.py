"""Property and example tests of the pure presence aggregate and announcer."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from presence_service.domain.announcer import (
    Announced,
    Announcer,
    Recovery,
    view,
    visible_users,
)
from presence_service.domain.state import (
    ConnectionStatus,
    HeartbeatConnection,
    PresenceState,
    derive_status,
)

pytestmark = pytest.mark.unit

USERS = ["u1", "u2", "u3"]
GATEWAYS = ["g1", "g2"]
CONNS = ["c1", "c2", "c3", "c4"]
NO_RECOVERY = Recovery(started_at=0.0, until=0.0)

statuses = st.sampled_from(["online", "away"])
# A connection id belongs to one user (as on a real gateway), so derive it from the user.
conn_keys = st.tuples(st.sampled_from(GATEWAYS), st.sampled_from(CONNS), st.sampled_from(USERS))

ops = st.one_of(
    st.tuples(st.just("open"), conn_keys, statuses),
    st.tuples(st.just("close"), conn_keys, st.just("online")),
    st.tuples(
        st.just("heartbeat"),
        st.tuples(
            st.sampled_from(GATEWAYS),
            st.lists(st.tuples(st.sampled_from(CONNS), st.sampled_from(USERS), statuses)),
        ),
        st.just("online"),
    ),
)


class Model:
    """The obvious reference: a dict of (gateway, connection) -> (user, status)."""

    def __init__(self) -> None:
        self.conns: dict[tuple[str, str], tuple[str, str]] = {}

    def status(self, user: str) -> str:
        mine = [s for (u, s) in self.conns.values() if u == user]
        if not mine:
            return "offline"
        return "online" if "online" in mine else "away"


def conn_id(gw: str, conn: str, user: str) -> str:
    return f"{gw}:{conn}:{user}"


def apply(state: PresenceState, model: Model, op: tuple[Any, ...], now: float) -> None:
    kind = op[0]
    if kind == "open":
        (gw, conn, user), status = op[1], op[2]
        state.connection_opened(gw, conn_id(gw, conn, user), user, status, now)
        model.conns[(gw, conn_id(gw, conn, user))] = (user, status)
    elif kind == "close":
        gw, conn, user = op[1]
        state.connection_closed(gw, conn_id(gw, conn, user), user, now)
        model.conns.pop((gw, conn_id(gw, conn, user)), None)
    else:
        gw, entries = op[1]
        hb = {
            conn_id(gw, c, u): HeartbeatConnection(conn_id(gw, c, u), u, s) for c, u, s in entries
        }
        state.heartbeat(gw, hb.values(), now)
        for key in [k for k in model.conns if k[0] == gw]:
            del model.conns[key]
        for c in hb.values():
            model.conns[(gw, c.connection_id)] = (c.user_id, c.status)


@given(st.lists(statuses, max_size=6))
def test_derive_status_online_if_any_online_away_if_all_away(
    values: list[ConnectionStatus],
) -> None:
    expected = "offline" if not values else ("online" if "online" in values else "away")
    assert derive_status(values) == expected


@settings(max_examples=300)
@given(st.lists(ops, max_size=40))
def test_state_matches_the_reference_model(sequence: list[tuple[Any, ...]]) -> None:
    state, model = PresenceState(silence_s=30), Model()
    for i, op in enumerate(sequence):
        apply(state, model, op, float(i))
        for user in USERS:
            assert state.status_of(user) == model.status(user)
            assert state.presence_of(user, float(i)).connections == sum(
                1 for u, _ in model.conns.values() if u == user
            )


@settings(max_examples=300)
@given(st.lists(ops, max_size=40), st.integers(min_value=1, max_value=5))
def test_announcer_emits_only_real_transitions_and_never_twice(
    sequence: list[tuple[Any, ...]], flush_every: int
) -> None:
    state, model = PresenceState(silence_s=30), Model()
    announcer = Announcer({}, NO_RECOVERY)
    last: dict[str, str] = defaultdict(lambda: "offline")
    for i, op in enumerate(sequence):
        apply(state, model, op, float(i))
        if i % flush_every == 0:
            changes = announcer.changes_for(state, state.take_dirty(), float(i))
            announcer.record(changes)
            for change in changes:
                assert change.status != last[change.user_id], "announced a non-change"
                last[change.user_id] = change.status
            assert len({c.user_id for c in changes}) == len(changes)
    changes = announcer.changes_for(state, state.take_dirty(), 99.0)
    announcer.record(changes)
    for change in changes:
        assert change.status != last[change.user_id]
        last[change.user_id] = change.status
    # After a final flush, what was announced is exactly the truth.
    for user in USERS:
        assert last[user] == model.status(user)
    assert announcer.all_changes(state, 100.0) == []


@given(st.lists(ops, max_size=30))
def test_repeating_any_signal_changes_nothing(sequence: list[tuple[Any, ...]]) -> None:
    state, model = PresenceState(silence_s=30), Model()
    for i, op in enumerate(sequence):
        apply(state, model, op, float(i))
        state.take_dirty()
        apply(state, model, op, float(i))
        assert state.take_dirty() == set()


def test_flapping_between_flushes_announces_nothing() -> None:
    state = PresenceState(silence_s=30)
    announcer = Announcer({}, NO_RECOVERY)
    state.connection_opened("g1", "c1", "u1", "online", 1.0)
    announcer.record(announcer.changes_for(state, state.take_dirty(), 1.0))
    state.connection_closed("g1", "c1", "u1", 2.0)
    state.connection_opened("g1", "c2", "u1", "online", 2.1)
    assert announcer.changes_for(state, state.take_dirty(), 2.2) == []


def test_two_tabs_stay_online_when_one_closes_and_away_needs_all() -> None:
    state = PresenceState(silence_s=30)
    state.connection_opened("g1", "c1", "u1", "online", 1.0)
    state.connection_opened("g2", "c2", "u1", "online", 1.0)
    state.connection_closed("g1", "c1", "u1", 2.0)
    assert state.status_of("u1") == "online"
    state.connection_opened("g1", "c3", "u1", "away", 3.0)
    assert state.status_of("u1") == "online"
    state.connection_updated("g2", "c2", "u1", "away", 4.0)
    assert state.status_of("u1") == "away"
    state.connection_updated("g1", "c3", "u1", "online", 5.0)
    assert state.status_of("u1") == "online"
    state.connection_closed("g1", "c3", "u1", 6.0)
    state.connection_closed("g2", "c2", "u1", 7.0)
    assert state.presence_of("u1", 8.0).status == "offline"
    assert state.presence_of("u1", 8.0).last_seen_at == 7.0


@given(
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=0, max_value=100),
)
def test_silent_gateway_expires_exactly_after_silence(silence: int, elapsed: int) -> None:
    state = PresenceState(silence_s=silence)
    state.connection_opened("g1", "c1", "u1", "online", 10.0)
    state.connection_opened("g2", "c2", "u2", "online", 10.0)
    state.heartbeat("g2", [HeartbeatConnection("c2", "u2", "online")], 10.0 + elapsed)
    dead = state.expire_silent_gateways(10.0 + elapsed)
    if elapsed >= silence:
        assert dead == ["g1"]
        assert state.status_of("u1") == "offline"
        # Last seen when the gateway last spoke, not when its death was noticed.
        assert state.last_seen("u1") == 10.0
    else:
        assert dead == []
        assert state.status_of("u1") == "online"
    assert state.status_of("u2") == "online"


def test_broker_reconnect_restarts_silence_timers() -> None:
    state = PresenceState(silence_s=30)
    state.connection_opened("g1", "c1", "u1", "online", 0.0)
    state.restart_silence_timers(25.0)  # our link came back at t=25
    assert state.expire_silent_gateways(40.0) == []
    assert state.status_of("u1") == "online"
    assert state.expire_silent_gateways(55.0) == ["g1"]
    assert state.status_of("u1") == "offline"


def test_heartbeat_repairs_missed_opened_and_closed() -> None:
    state = PresenceState(silence_s=30)
    state.connection_opened("g1", "c1", "u1", "online", 0.0)
    # closed(c1) and opened(c2) were lost; the heartbeat tells the truth.
    state.heartbeat("g1", [HeartbeatConnection("c2", "u2", "away")], 10.0)
    assert state.status_of("u1") == "offline"
    assert state.last_seen("u1") == 10.0
    assert state.status_of("u2") == "away"
    assert state.take_dirty() == {"u1", "u2"}


def test_old_signal_does_not_move_the_silence_timer_back() -> None:
    state = PresenceState(silence_s=30)
    state.connection_opened("g1", "c1", "u1", "online", 20.0)
    state.connection_opened("g1", "c2", "u2", "online", 5.0)
    assert state.expire_silent_gateways(40.0) == []


# --- restart recovery --------------------------------------------------------------------------


def recovered_announcer() -> tuple[PresenceState, Announcer, dict[str, Announced]]:
    announced = {
        "stays": Announced("online", 1.0),
        "left": Announced("online", 1.0),
        "away": Announced("away", 1.0),
    }
    return PresenceState(silence_s=30), Announcer(announced, Recovery(100.0, 112.0)), announced


def test_restart_never_announces_offline_someone_still_connected() -> None:
    state, announcer, _ = recovered_announcer()
    assert announcer.all_changes(state, 100.5) == []  # nothing heard yet: all held
    state.heartbeat("g1", [HeartbeatConnection("c1", "stays", "online")], 105.0)
    state.heartbeat("g2", [HeartbeatConnection("c2", "away", "away")], 106.0)
    assert announcer.changes_for(state, state.take_dirty(), 106.0) == []
    # After one heartbeat round, only the one nobody reported is announced offline.
    changes = announcer.all_changes(state, 112.0)
    assert [(c.user_id, c.status) for c in changes] == [("left", "offline")]
    assert changes[0].last_seen_at == 100.0


def test_restart_announces_at_once_who_is_seen_leaving_during_recovery() -> None:
    state, announcer, _ = recovered_announcer()
    state.connection_opened("g1", "c1", "stays", "online", 101.0)
    state.connection_closed("g1", "c1", "stays", 102.0)
    changes = announcer.changes_for(state, state.take_dirty(), 102.0)
    assert [(c.user_id, c.status, c.last_seen_at) for c in changes] == [("stays", "offline", 102.0)]


def test_restart_announces_real_changes_of_held_users() -> None:
    state, announcer, _ = recovered_announcer()
    state.heartbeat("g1", [HeartbeatConnection("c1", "stays", "away")], 101.0)
    changes = announcer.changes_for(state, state.take_dirty(), 101.0)
    assert [(c.user_id, c.status) for c in changes] == [("stays", "away")]


def test_queries_show_held_users_during_recovery_only() -> None:
    state, _, announced = recovered_announcer()
    recovery = Recovery(100.0, 112.0)
    assert view(state, announced, recovery, "left", 101.0).status == "online"
    assert view(state, announced, recovery, "away", 101.0).status == "away"
    assert visible_users(state, announced, recovery, 101.0) == ["away", "left", "stays"]
    assert view(state, announced, recovery, "left", 113.0).status == "offline"
    assert visible_users(state, announced, recovery, 113.0) == []


def test_new_leader_announces_the_differences_with_the_table() -> None:
    state = PresenceState(silence_s=30)
    state.connection_opened("g1", "c1", "new", "online", 5.0)
    state.connection_opened("g1", "c2", "same", "online", 5.0)
    state.connection_opened("g1", "c3", "gone", "online", 5.0)
    state.connection_closed("g1", "c3", "gone", 6.0)
    table = {"same": Announced("online", 1.0), "gone": Announced("online", 1.0)}
    announcer = Announcer(table, NO_RECOVERY)
    changes = {(c.user_id, c.status) for c in announcer.all_changes(state, 10.0)}
    assert changes == {("new", "online"), ("gone", "offline")}


def test_offline_grace_defers_and_a_quick_return_says_nothing() -> None:
    state = PresenceState(silence_s=30)
    announcer = Announcer({}, NO_RECOVERY, offline_grace_s=1.0)
    state.connection_opened("g1", "c1", "u1", "online", 1.0)
    state.connection_opened("g1", "c2", "u2", "online", 1.0)
    announcer.record(announcer.changes_for(state, state.take_dirty(), 1.0))
    state.connection_closed("g1", "c1", "u1", 2.0)
    state.connection_closed("g1", "c2", "u2", 2.0)
    assert announcer.changes_for(state, state.take_dirty(), 2.2) == []
    state.connection_opened("g1", "c3", "u2", "online", 2.5)  # a page reload
    assert announcer.changes_for(state, state.take_dirty(), 2.6) == []
    changes = announcer.changes_for(state, state.take_dirty(), 3.1)
    assert [(c.user_id, c.status, c.last_seen_at) for c in changes] == [("u1", "offline", 2.0)]
    assert announcer.changes_for(state, set(), 4.0) == []
