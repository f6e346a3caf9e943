"""The Stack machinery and the real nginx edge, with stub services instead of the real ones."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from chat_devtools.nginx import find_nginx
from chat_devtools.stack import Stack, StackError
from chat_devtools.stub_stack import stub_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed (make setup)"),
]



@pytest.fixture
def stub_stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(stub_config(tmp_path, gateways=2))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def port_of(stack: Stack, name: str) -> int:
    return int(stack.url(name).rsplit(":", 1)[1])


def test_edge_routes_each_prefix_to_its_service(stub_stack: Stack) -> None:
    expected = {
        "/v1/auth/login": "auth",
        "/v1/users/me": "auth",
        "/v1/users?q=al": "auth",
        "/v1/rooms": "message",
        "/v1/rooms/abc/messages?after_seq=0": "message",
        "/v1/dms": "message",
        "/v1/presence?user_ids=a": "presence",
    }
    with httpx.Client(base_url=stub_stack.url("edge"), trust_env=False) as client:
        for path, service in expected.items():
            body = client.get(path).json()
            assert body["port"] == port_of(stub_stack, service), path
            assert body["path"] == path


def test_websocket_path_reaches_a_gateway_with_upgrade_headers(stub_stack: Stack) -> None:
    gateways = {port_of(stub_stack, "gateway"), port_of(stub_stack, "gateway-2")}
    with httpx.Client(base_url=stub_stack.url("edge"), trust_env=False) as client:
        body = client.get(
            "/v1/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade"}
        ).json()
    assert body["port"] in gateways
    assert body["headers"]["upgrade"] == "websocket"
    assert body["headers"]["connection"] == "upgrade"


def test_client_cannot_forge_its_address(stub_stack: Stack) -> None:
    with httpx.Client(base_url=stub_stack.url("edge"), trust_env=False) as client:
        headers = client.get(
            "/v1/users/me", headers={"X-Real-IP": "203.0.113.9", "X-Forwarded-For": "203.0.113.9"}
        ).json()["headers"]
    assert headers["x-real-ip"] == "127.0.0.1"
    assert headers["x-forwarded-for"] == "127.0.0.1"


def test_spa_fallback_and_security_headers_everywhere(stub_stack: Stack) -> None:
    with httpx.Client(base_url=stub_stack.url("edge"), trust_env=False) as client:
        home = client.get("/")
        deep = client.get("/rooms/123")
        api = client.get("/v1/rooms")
        unknown = client.get("/v1/unknown")
    assert home.status_code == 200
    assert "<title>chat</title>" in home.text
    assert deep.text == home.text
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    for response in (home, deep, api, unknown):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "script-src 'self'" in response.headers["content-security-policy"]


def test_oversized_body_and_dead_upstream_are_problem_json(stub_stack: Stack) -> None:
    with httpx.Client(base_url=stub_stack.url("edge"), trust_env=False) as client:
        too_big = client.post("/v1/rooms", content=b"x" * (64 * 1024 + 1))
        stub_stack.kill("presence")
        dead = client.get("/v1/presence")
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/problem+json"
    assert too_big.json()["status"] == 413
    assert dead.status_code == 502
    assert dead.json()["code"] == "unavailable"
    assert dead.headers["x-frame-options"] == "DENY"
    assert "presence" in stub_stack.dead()


def test_long_query_reaches_the_service_and_a_huge_one_is_a_problem(stub_stack: Stack) -> None:
    ids = ",".join("00000000-0000-0000-0000-000000000000" for _ in range(501))  # ~19 KB
    with httpx.Client(base_url=stub_stack.url("edge"), trust_env=False) as client:
        long = client.get("/v1/presence", params={"user_ids": ids})
        huge = client.get("/v1/presence", params={"user_ids": ids * 2})
    assert long.status_code == 200
    assert long.json()["port"] == port_of(stub_stack, "presence")
    assert huge.status_code == 414
    assert huge.headers["content-type"] == "application/problem+json"
    assert huge.json()["code"] == "uri_too_long"


def test_restart_brings_a_killed_service_back(stub_stack: Stack) -> None:
    stub_stack.kill("message")
    stub_stack.restart("message")
    with httpx.Client(trust_env=False) as client:
        assert client.get(f"{stub_stack.url('message')}/readyz").status_code == 200


def test_stop_ends_every_process_it_started(tmp_path: Path) -> None:
    stack = Stack(stub_config(tmp_path))
    stack.start()
    pids = list(stack.pids().values())
    children = [c.pid for pid in pids for c in psutil.Process(pid).children(recursive=True)]
    assert len(pids) == 6  # edge + 5 services
    stack.stop()
    alive = [p for p in pids + children if psutil.pid_exists(p)
             and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []


def test_a_service_that_exits_at_start_fails_fast_with_its_log(tmp_path: Path) -> None:
    stack = Stack(stub_config(tmp_path, STUB_EXIT="3"))
    with pytest.raises(StackError, match=r"exited with code 3") as info:
        stack.start()
    assert "configured to fail at start" in str(info.value)
    assert stack.pids() == {}


def test_a_service_that_never_gets_ready_times_out_clearly(tmp_path: Path) -> None:
    config = replace(stub_config(tmp_path, STUB_READY_AFTER="3600"), ready_timeout_s=1.5)
    stack = Stack(config)
    with pytest.raises(StackError, match=r"not ready after 2s") as info:
        stack.start()
    assert "HTTP 503" in str(info.value)
    assert stack.pids() == {}


def test_an_edge_port_in_use_is_reported(tmp_path: Path) -> None:
    config = stub_config(tmp_path)
    busy = Stack(replace(config, services=()))
    busy.start()  # nginx alone holds the edge port
    try:
        second = Stack(replace(config, log_dir=tmp_path / "log2", run_dir=tmp_path / "run2"))
        with pytest.raises(StackError, match="ports already in use"):
            second.start()
    finally:
        busy.stop()
