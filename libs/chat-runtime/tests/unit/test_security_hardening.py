"""Issue #20 in the runtime: name rules (api-v1.1 F), `Cache-Control: no-store` by default,
security log lines (`security_event`, 403s, refused tokens)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
from chat_runtime.http import Problem, create_app
from chat_runtime.logging import security_event
from chat_runtime.settings import BaseServiceSettings
from chat_runtime.text import (
    BIDI_CONTROLS,
    MESSAGES,
    ZERO_WIDTH_CHARACTERS,
    NameRule,
    name_field_errors,
    name_problems,
    refuse_invisible_names,
)
from chat_runtime.tokens import InvalidToken, RevocationSet, TokenVerifier
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, HTTPException
from fastapi.responses import Response
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

pytestmark = [pytest.mark.unit, pytest.mark.security]

INVISIBLE = BIDI_CONTROLS | ZERO_WIDTH_CHARACTERS
visible_text = st.text(st.characters(exclude_characters=sorted(INVISIBLE)), max_size=40)


# -- name rules ---------------------------------------------------------------------------------


def test_the_listed_code_points_and_only_those() -> None:
    assert {f"U+{ord(c):04X}" for c in BIDI_CONTROLS} == {
        "U+202A", "U+202B", "U+202C", "U+202D", "U+202E",
        "U+2066", "U+2067", "U+2068", "U+2069",
    }  # fmt: skip
    assert {f"U+{ord(c):04X}" for c in ZERO_WIDTH_CHARACTERS} == {
        "U+200B", "U+200C", "U+200D", "U+2060", "U+FEFF",
    }  # fmt: skip


@given(visible_text)
def test_names_without_invisible_characters_pass(name: str) -> None:
    assert name_problems(name) == []
    assert name_field_errors(name, "name") == []
    refuse_invisible_names(name=name)


@given(
    visible_text,
    visible_text,
    st.sampled_from(sorted(BIDI_CONTROLS)),
    st.one_of(st.none(), st.sampled_from(sorted(ZERO_WIDTH_CHARACTERS))),
)
def test_a_bidi_control_anywhere_is_refused(
    before: str, after: str, bidi: str, zero: str | None
) -> None:
    name = before + bidi + after + (zero or "")
    expected = [NameRule.BIDI_CONTROL] + ([NameRule.ZERO_WIDTH] if zero else [])
    assert name_problems(name) == expected


@given(visible_text, visible_text, st.sampled_from(sorted(ZERO_WIDTH_CHARACTERS)))
def test_a_zero_width_character_anywhere_is_refused(before: str, after: str, zero: str) -> None:
    assert name_problems(before + zero + after) == [NameRule.ZERO_WIDTH]


def test_every_broken_rule_of_every_name_is_one_field_error() -> None:
    with pytest.raises(Problem) as caught:
        refuse_invisible_names(display_name="evil\u202egnp.exe\u200b", room=None, other="fine")
    problem = caught.value
    assert (problem.status, problem.code) == (422, "validation_failed")
    assert problem.errors == [
        {
            "field": "display_name",
            "code": "bidi_control",
            "message": MESSAGES[NameRule.BIDI_CONTROL],
        },
        {"field": "display_name", "code": "zero_width", "message": MESSAGES[NameRule.ZERO_WIDTH]},
    ]


# -- security_event -----------------------------------------------------------------------------


def test_security_event_marks_levels_and_redacts_secret_fields() -> None:
    with capture_logs() as logs:
        security_event("sign_in_succeeded", user_id="u1", address="192.0.2.1")
        security_event("token_refused", reason="expired", access_token="eyJ.secret", password="pw")
    ok, refused = logs
    assert ok == {
        "event": "sign_in_succeeded",
        "security": True,
        "user_id": "u1",
        "address": "192.0.2.1",
        "log_level": "info",
    }
    assert refused["log_level"] == "warning"
    assert refused["reason"] == "expired"
    assert refused["access_token"] == refused["password"] == "[redacted]"
    assert "eyJ.secret" not in repr(logs)


# -- Cache-Control and 403 lines through the runtime's app ----------------------------------------


def make_app() -> FastAPI:
    app = create_app(BaseServiceSettings(), title="test")

    @app.get("/data")
    async def data() -> dict[str, str]:
        return {"token": "t"}

    @app.get("/bytes")
    async def some_bytes() -> Response:
        return Response(b"img", headers={"Cache-Control": "private, max-age=600"})

    @app.get("/off")
    async def off() -> None:
        raise Problem(403, "feature_disabled", "The feature 'x' is switched off.")

    @app.get("/no")
    async def no() -> None:
        raise HTTPException(403, "no")

    @app.get("/gone")
    async def gone() -> None:
        raise Problem(404, "room_not_found", "No such room.")

    return app


@pytest.fixture
async def sec_client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), client=("203.0.113.9", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


@pytest.mark.parametrize("path", ["/data", "/off", "/gone", "/nowhere", "/healthz"])
async def test_answers_without_their_own_policy_are_no_store(
    sec_client: httpx.AsyncClient, path: str
) -> None:
    r = await sec_client.get(path)
    assert r.headers.get_list("cache-control") == ["no-store"]


async def test_an_answer_with_its_own_cache_control_keeps_it(sec_client: httpx.AsyncClient) -> None:
    r = await sec_client.get("/bytes")
    assert r.headers.get_list("cache-control") == ["private, max-age=600"]


async def test_every_403_leaves_a_forbidden_security_line(sec_client: httpx.AsyncClient) -> None:
    with capture_logs() as logs:
        assert (await sec_client.get("/off")).status_code == 403
        assert (await sec_client.get("/no")).status_code == 403
        assert (await sec_client.get("/gone")).status_code == 404
        assert (await sec_client.get("/data")).status_code == 200
    lines = [e for e in logs if e.get("security")]
    assert [(e["event"], e["code"], e["route"], e["method"]) for e in lines] == [
        ("forbidden", "feature_disabled", "/off", "GET"),
        ("forbidden", "forbidden", "/no", "GET"),
    ]
    assert {e["address"] for e in lines} == {"203.0.113.9"}
    assert all(e["log_level"] == "warning" for e in lines)


# -- refused tokens -----------------------------------------------------------------------------


def _verifier(private: Ed25519PrivateKey, revocations: RevocationSet) -> TokenVerifier:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    keys = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "EdDSA"}]}
    http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json=keys))
    )
    return TokenVerifier("http://auth.test/jwks", http=http, clock=lambda: 1_800_000_000.0,
                         revocations=revocations)  # fmt: skip


def _token(private: Ed25519PrivateKey, **claims: Any) -> str:
    payload = {
        "iss": "chat-auth", "aud": "chat", "sub": str(uuid.uuid4()), "sid": str(uuid.uuid4()),
        "jti": "j", "iat": 1_800_000_000 - 10, "exp": 1_800_000_000 + 890, **claims,
    }  # fmt: skip
    return jwt.encode(payload, private, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": "k1"})


async def test_refused_tokens_leave_a_line_with_the_reason_never_the_token() -> None:
    private = Ed25519PrivateKey.generate()
    revocations = RevocationSet(clock=lambda: 1_800_000_000.0)
    verifier = _verifier(private, revocations)
    good, expired = _token(private), _token(private, exp=1_800_000_000 - 100)
    with capture_logs() as logs:
        await verifier.verify(good)
        for bad in (expired, "not-a-jwt"):
            with pytest.raises(InvalidToken):
                await verifier.verify(bad)
        revocations.mark_stale()  # "unavailable, retry": nothing wrong with the token
        with pytest.raises(InvalidToken):
            await verifier.verify(good)
    lines = [e for e in logs if e.get("security")]
    assert [(e["event"], e["reason"]) for e in lines] == [
        ("token_refused", "expired"),
        ("token_refused", "malformed"),
    ]
    assert expired not in repr(logs)
    assert good not in repr(logs)
    await verifier.aclose()
