"""Readiness checks behind `GET /readyz`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

ReadinessCheck = Callable[[], Awaitable[bool]]
# What a part of the service reports about itself beside its check (JSON-ready, no I/O).
ReadinessDetail = Callable[[], Any]


class Readiness:
    def __init__(self, timeout_s: float = 2.0) -> None:
        self._checks: dict[str, ReadinessCheck] = {}
        self._details: dict[str, ReadinessDetail] = {}
        self._timeout_s = timeout_s

    def add(self, name: str, check: ReadinessCheck) -> None:
        self._checks[name] = check

    def describe(self, name: str, detail: ReadinessDetail) -> None:
        """`/readyz` also shows `details.<name>`: what `detail()` returns (e.g. leases held)."""
        self._details[name] = detail

    def details(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, detail in self._details.items():
            try:
                out[name] = detail()
            except Exception as exc:
                out[name] = {"error": repr(exc)[:200]}
        return out

    async def _run_one(self, check: ReadinessCheck) -> bool:
        try:
            return bool(await asyncio.wait_for(check(), self._timeout_s))
        except Exception:
            return False

    async def run(self) -> dict[str, bool]:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_one(self._checks[n]) for n in names))
        return dict(zip(names, results, strict=True))
