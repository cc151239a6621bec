"""Exchanging a login code at WeChat exactly once, however many requests carry it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from domain.entities import WeChatSession
from domain.errors import WECHAT_FAILURES, WeChatFailure, WeChatTimeout
from domain.ports import (
    ClaimDone,
    ClaimFailed,
    ClaimPending,
    ClaimState,
    CodeExchangeRegistry,
    WeChatGateway,
)
from domain.tokens import hash_code

CODE_LIFETIME_SECONDS = 300.0
"""WeChat's login codes live five minutes: a result is remembered that long."""


@dataclass(frozen=True, slots=True)
class ExchangeTimings:
    """How long a claim may stay pending, how long failures are shared, how often waiters look."""

    pending_ttl: float = 5.0
    failure_ttl: float = 1.0
    poll_interval: float = 0.02


class CodeExchange:
    """Single-flight ``jscode2session``.

    Rules:
    - a code seen within its 5 minutes is not sent to WeChat again: its session is reused;
    - concurrent requests with one code share one WeChat call: in this process through one
      shared task, across processes through a claim in the shared registry;
    - a failure is shared only with the requests already waiting for it (for ``failure_ttl``),
      then forgotten: the same code may be sent again (WeChat's -1 is not remembered);
    - a waiter gives up with ``WeChatTimeout`` after ``pending_ttl``.

    One instance per process: it holds the in-process flights.
    """

    def __init__(
        self,
        *,
        gateway: WeChatGateway,
        registry: CodeExchangeRegistry,
        timings: ExchangeTimings | None = None,
    ) -> None:
        self._gateway = gateway
        self._registry = registry
        self._timings = timings or ExchangeTimings()
        self._flights: dict[bytes, asyncio.Future[WeChatSession]] = {}

    async def exchange(self, code: str) -> WeChatSession:
        key = hash_code(code)
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._exchange_once(key, code))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._land(key, done))
        # Shielded: a caller that goes away does not cancel the call the others wait for.
        return await asyncio.shield(flight)

    def _land(self, key: bytes, flight: asyncio.Future[WeChatSession]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # mark retrieved even when every waiter went away

    async def _exchange_once(self, key: bytes, code: str) -> WeChatSession:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timings.pending_ttl
        while True:
            state = await self._registry.claim(key, pending_ttl=self._timings.pending_ttl)
            if state is None:
                return await self._call_wechat(key, code)
            while isinstance(state, ClaimPending):
                if loop.time() >= deadline:
                    raise WeChatTimeout()
                await asyncio.sleep(self._timings.poll_interval)
                state = await self._registry.peek(key)
            if state is not None:
                return _outcome(state)
            # The claim vanished (its owner died or it expired): try to claim it ourselves.

    async def _call_wechat(self, key: bytes, code: str) -> WeChatSession:
        try:
            session = await self._gateway.code_to_session(code)
        except WeChatFailure as failure:
            await self._registry.fail(key, failure.code, ttl=self._timings.failure_ttl)
            raise
        await self._registry.complete(key, session, ttl=CODE_LIFETIME_SECONDS)
        return session


def _outcome(state: ClaimState) -> WeChatSession:
    if isinstance(state, ClaimDone):
        return state.session
    assert isinstance(state, ClaimFailed)
    raise WECHAT_FAILURES.get(state.error_code, WeChatTimeout)()
