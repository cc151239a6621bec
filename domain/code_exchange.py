"""Exchanging a login code at WeChat exactly once, however many requests carry it."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass

from domain.entities import WeChatSession
from domain.errors import WECHAT_FAILURES, StoreUnavailable, WeChatFailure, WeChatTimeout
from domain.ports import (
    ClaimDone,
    ClaimFailed,
    ClaimPending,
    ClaimState,
    CodeExchangeRegistry,
    WeChatGateway,
)
from domain.single_flight import SingleFlight
from domain.tokens import hash_code

logger = logging.getLogger("weapp_login.code_exchange")

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
      ``SingleFlight``, across processes through a claim in the shared registry (the claim
      carries a random owner id, so a claim repeated after a lost reply knows itself);
    - a failure is shared only with the requests already waiting for it (for ``failure_ttl``),
      then forgotten: the same code may be sent again (WeChat's -1 is not remembered);
    - a waiter gives up with ``WeChatTimeout`` after ``pending_ttl``;
    - one ``CodeExchange`` per app: codes are keyed by the app (``scope``, its id).

    A success is recorded by the login that asked for it, with its session
    (``SessionStore.record_login``), or with ``remember`` when the login fails after WeChat
    answered. Until then the claim stays pending and other processes wait on it, as they wait
    on WeChat: ``pending_ttl`` must cover the WeChat call and the login's steps up to its
    write. A process that dies in between loses the code, as one dying during the WeChat call.
    """

    def __init__(
        self,
        *,
        gateway: WeChatGateway,
        registry: CodeExchangeRegistry,
        timings: ExchangeTimings | None = None,
        scope: str = "",
    ) -> None:
        self._gateway = gateway
        self._registry = registry
        self._scope = scope
        self._timings = timings or ExchangeTimings()
        self._flights: SingleFlight[bytes, WeChatSession] = SingleFlight()

    def key(self, code: str) -> bytes:
        """The code's key in the registry: scoped by the app, so one code sent to two apps is
        two exchanges (the second app's platform judges it), never the first app's login."""
        return hash_code(code, scope=self._scope)

    async def exchange(self, code: str) -> WeChatSession:
        key = self.key(code)
        return await self._flights.run(key, lambda: self._exchange_once(key, code))

    async def remember(self, code: str, session: WeChatSession) -> None:
        """Record ``code``'s result for its lifetime when the login could not (it failed after
        WeChat answered); a store that is down is logged, not raised."""
        try:
            await self._registry.complete(self.key(code), session, ttl=CODE_LIFETIME_SECONDS)
        except StoreUnavailable:  # the claim expires, and the code with it
            logger.warning("a code's exchange could not be recorded",
                           extra={"event": "code_result_lost"})

    async def _exchange_once(self, key: bytes, code: str) -> WeChatSession:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timings.pending_ttl
        owner = secrets.token_urlsafe(12)
        while True:
            state = await self._registry.claim(
                key, owner=owner, pending_ttl=self._timings.pending_ttl
            )
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
            return await self._gateway.code_to_session(code)
        except WeChatFailure as failure:
            done = await self._registry.fail(key, failure.code, ttl=self._timings.failure_ttl)
            if done is not None:  # exchanged by an earlier owner, recorded late: the same login
                return done.session
            raise


def _outcome(state: ClaimState) -> WeChatSession:
    if isinstance(state, ClaimDone):
        return state.session
    assert isinstance(state, ClaimFailed)
    raise WECHAT_FAILURES.get(state.error_code, WeChatTimeout)()
