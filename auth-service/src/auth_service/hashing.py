"""argon2id password hashing: passlib's API (libpass) over argon2-cffi, off the event loop."""

from __future__ import annotations

import secrets

import anyio
from anyio import to_thread
from passlib.context import CryptContext


class PasswordHasher:
    """Hash and verify in worker threads, at most `concurrency` at a time.

    argon2 is deliberately slow and memory-hard; running it on the event loop would stall every
    other request during a burst of logins, and an unbounded number of threads would multiply
    its memory (memory_cost KiB each) without finishing any sooner on a few cores.
    """

    def __init__(
        self, *, memory_cost_kib: int, time_cost: int, parallelism: int, concurrency: int
    ) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=memory_cost_kib,
            argon2__rounds=time_cost,
            argon2__parallelism=parallelism,
        )
        self._limiter = anyio.CapacityLimiter(concurrency)
        self._dummy_hash: str | None = None

    def hash_sync(self, password: str) -> str:
        return str(self._context.hash(password))

    def verify_and_update_sync(self, password: str, stored: str) -> tuple[bool, str | None]:
        try:
            ok, new_hash = self._context.verify_and_update(password, stored)
        except ValueError:
            # A malformed stored hash must read as "wrong password", never as a 500.
            return False, None
        return bool(ok), (str(new_hash) if new_hash else None)

    async def hash(self, password: str) -> str:
        return await to_thread.run_sync(self.hash_sync, password, limiter=self._limiter)

    async def verify_and_update(self, password: str, stored: str) -> tuple[bool, str | None]:
        """(matches, new hash when the stored one used older parameters)."""
        return await to_thread.run_sync(
            self.verify_and_update_sync, password, stored, limiter=self._limiter
        )

    async def dummy_hash(self) -> str:
        """A hash with the current parameters to verify against when the user does not exist,
        so an unknown username costs exactly as much as a wrong password."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_urlsafe(24))
        return self._dummy_hash
