"""Exchanging a login code at WeChat exactly once, however many requests carry it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from domain.entities import WeChatSession
from domain.errors import WECHAT_FAILURES, WeChatFailure, WeChatTimeout
from domain.ports import (
    ClaimDone,
    ClaimFailed,
    ClaimPending,
    ClaimState,
    CodeExchangeRegistry,
    CodeReceipt,
    WeChatGateway,
)
from domain.tokens import hash_code

logger = logging.getLogger("weapp_login.code_exchange")

CODE_LIFETIME_SECONDS = 300.0
"""WeChat's login codes live five minutes: a result is remembered that long."""


CLOSE_WAIT_SECONDS = 2.0
"""How long a stopping worker waits for its last code records (each bounded by the store's
own timeouts anyway)."""


@dataclass(frozen=True, slots=True)
class ExchangeTimings:
    """How long a claim may stay pending, how long failures are shared, how often waiters look,
    and how long a receipt waits to ride along with its login's session write."""

    pending_ttl: float = 5.0
    failure_ttl: float = 1.0
    poll_interval: float = 0.02
    receipt_grace: float = 0.5


class CodeExchange:
    """Single-flight ``jscode2session``.

    Rules:
    - a code seen within its 5 minutes is not sent to WeChat again: its session is reused;
    - concurrent requests with one code share one WeChat call: in this process through one
      shared task, across processes through a claim in the shared registry;
    - a failure is shared only with the requests already waiting for it (for ``failure_ttl``),
      then forgotten: the same code may be sent again (WeChat's -1 is not remembered);
    - a waiter gives up with ``WeChatTimeout`` after ``pending_ttl``.

    A success is recorded in the registry through a ``CodeReceipt``: the login that needs the
    code takes it (``take_receipt``) and records it with its session (``SessionStore.create``),
    which saves a round trip; if that write fails, the login hands it back (``record_later``).
    A receipt nobody takes within ``receipt_grace`` (the login failed before its session
    write, or its client left) is recorded then, in the background. Until it is recorded, this
    process answers the code from the receipt while it is owed (then from the registry, like
    other processes, which wait on the pending claim as they wait on WeChat), so every request
    still gets the one exchange's result. ``pending_ttl`` must cover the WeChat call and the
    login's steps up to its session write (the container allows for them); should a result be
    recorded after the claim expired and another owner got "code been used" from WeChat, that
    owner finds the result (``fail`` returns it). At shutdown ``aclose`` records what is owed;
    a process that dies between WeChat's answer and the record loses the code, as one dying
    during the WeChat call does.

    One instance per process: it holds the in-process flights and the unrecorded receipts.
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
        self._owed: dict[bytes, tuple[CodeReceipt, asyncio.TimerHandle]] = {}
        self._recording: set[asyncio.Task[None]] = set()

    async def exchange(self, code: str) -> WeChatSession:
        key = hash_code(code)
        owed = self._owed.get(key)
        if owed is not None:
            return owed[0].session
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
            done = await self._registry.fail(key, failure.code, ttl=self._timings.failure_ttl)
            if done is not None:  # exchanged by an earlier owner, recorded late: the same login
                return done.session
            raise
        receipt = CodeReceipt(key, session, CODE_LIFETIME_SECONDS)
        loop = asyncio.get_running_loop()
        handle = loop.call_later(self._timings.receipt_grace, self._record_unclaimed, key)
        self._owed[key] = (receipt, handle)
        return session

    def take_receipt(self, code: str) -> CodeReceipt | None:
        """The receipt of ``code``'s exchange for the caller to record, or ``None`` when another
        request took it or it is recorded already."""
        owed = self._owed.pop(hash_code(code), None)
        if owed is None:
            return None
        receipt, handle = owed
        handle.cancel()
        return receipt

    def record_later(self, receipt: CodeReceipt | None) -> None:
        """Record a receipt whose write failed or never happened, in the background."""
        if receipt is None:
            return
        task = asyncio.ensure_future(self._record(receipt))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def aclose(self) -> None:
        """At shutdown, before the stores close: record the receipts still owed and wait (at
        most ``CLOSE_WAIT_SECONDS``) for the records in flight."""
        for receipt, handle in self._owed.values():
            handle.cancel()
            self.record_later(receipt)
        self._owed.clear()
        if self._recording:
            await asyncio.wait(set(self._recording), timeout=CLOSE_WAIT_SECONDS)

    def _record_unclaimed(self, key: bytes) -> None:
        owed = self._owed.pop(key, None)
        if owed is not None:
            self.record_later(owed[0])

    async def _record(self, receipt: CodeReceipt) -> None:
        try:
            await self._registry.complete(receipt.code_hash, receipt.session, ttl=receipt.ttl)
        except Exception:  # the store is down: the claim expires and the code with it
            logger.warning("a code's exchange could not be recorded",
                           extra={"event": "code_receipt_lost"})


def _outcome(state: ClaimState) -> WeChatSession:
    if isinstance(state, ClaimDone):
        return state.session
    assert isinstance(state, ClaimFailed)
    raise WECHAT_FAILURES.get(state.error_code, WeChatTimeout)()
