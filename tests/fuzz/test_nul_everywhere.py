"""A NUL character in any parameter or JSON body field of any operation of any service is a 422
problem naming the field, never a 500 (issue #20 item 8: PostgreSQL refuses NUL in text; the
runtime refuses it before a route runs, chat_runtime.http.nul)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = [pytest.mark.security, pytest.mark.timeout(120)]

SERVICES = ("auth", "message", "presence", "file")
NUL = "a\x00b"


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _assert_refused(r: httpx.Response, field: str, what: str) -> None:
    assert r.status_code == 422, (what, r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json"), what
    body = r.json()
    assert body["code"] == "validation_failed", (what, body)
    assert {"field": field, "code": "nul_character"} in [
        {"field": e["field"], "code": e["code"]} for e in body["errors"]
    ], (what, body)


@pytest.mark.parametrize("service", SERVICES)
def test_a_nul_anywhere_is_a_422_naming_the_field(fuzz_stack: Any, service: str) -> None:
    with httpx.Client(
        base_url=fuzz_stack.urls[service],
        headers=fuzz_stack.users["member"].headers,
        timeout=30,
    ) as client:
        spec = client.get("/openapi.json").json()
        probes = 0
        for method, path, operation in _operations(spec):
            params = [p for p in operation.get("parameters", []) if p["in"] in ("path", "query")]
            url = path
            for p in params:
                if p["in"] == "path":
                    url = url.replace("{" + p["name"] + "}", "00000000-0000-4000-8000-000000000000")
            for p in params:
                if p["in"] == "query":
                    what = f"{method} {path} ?{p['name']}"
                    r = client.request(method, url, params={p["name"]: NUL})
                    _assert_refused(r, p["name"], what)
                else:
                    what = f"{method} {path} /{p['name']}"
                    r = client.request(method, path.replace("{" + p["name"] + "}", "a%00b"))
                    _assert_refused(r, "path", what)
                probes += 1
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                r = client.request(method, url, json={"name": NUL, "nested": [{"text": NUL}]})
                _assert_refused(r, "nested.0.text", f"{method} {path} body")
                probes += 1
        assert probes > 0
