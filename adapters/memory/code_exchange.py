"""The code-exchange registry in process memory."""

from __future__ import annotations

from adapters.memory.expiring import ExpiringDict
from domain.entities import WeChatSession
from domain.ports import (
    ClaimDone,
    ClaimFailed,
    ClaimPending,
    ClaimState,
    Clock,
    CodeExchangeRegistry,
)


class InMemoryCodeExchangeRegistry(CodeExchangeRegistry):
    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._states: ExpiringDict[bytes, ClaimState] = ExpiringDict(clock.now)
        self._owners: ExpiringDict[bytes, str] = ExpiringDict(clock.now)

    async def claim(
        self, code_hash: bytes, *, owner: str, pending_ttl: float
    ) -> ClaimState | None:
        state = self._states.get(code_hash)
        if state is None:
            self._owners.set(code_hash, owner, self._clock.now() + pending_ttl)
            self._states.set(code_hash, ClaimPending(), self._clock.now() + pending_ttl)
        elif isinstance(state, ClaimPending) and self._owners.get(code_hash) == owner:
            return None  # a repeat of our own claim
        return state

    async def peek(self, code_hash: bytes) -> ClaimState | None:
        return self._states.get(code_hash)

    async def complete(self, code_hash: bytes, session: WeChatSession, *, ttl: float) -> None:
        self._states.set(code_hash, ClaimDone(session), self._clock.now() + ttl)

    async def fail(self, code_hash: bytes, error_code: str, *, ttl: float) -> ClaimDone | None:
        state = self._states.get(code_hash)
        if isinstance(state, ClaimDone):
            return state
        self._states.set(code_hash, ClaimFailed(error_code), self._clock.now() + ttl)
        return None
