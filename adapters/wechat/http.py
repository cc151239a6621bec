"""The process's one HTTP client session (keep-alive pool) for calls to WeChat, and the bound on
how many of those calls may be in flight or waiting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from domain.errors import WeChatOverloaded


async def open_client_session(
    *,
    timeout: float,  # noqa: ASYNC109 - configures the session, not this call
    limit: int = 100,
) -> AsyncIterator[aiohttp.ClientSession]:
    """Resource: one shared ``ClientSession`` per process, closed at the end.

    One pool keeps connections to WeChat alive between logins (no TLS handshake per call).
    Certificates are always verified (the connector's default ``ssl=True``); never turn it off.
    ``timeout`` is the total time of one call, a backstop for callers that set none. ``limit``
    caps the connections (so the calls in flight) and should equal ``WeChatCallLimit``'s
    ``max_in_flight``: the connector alone would queue the rest without bound.
    """
    connector = aiohttp.TCPConnector(limit=limit, ssl=True)
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        raise_for_status=False,
    )
    try:
        yield session
    finally:
        await session.close()
        # Let the transports' close callbacks run, so nothing is reported unclosed.
        await asyncio.sleep(0)


class WeChatCallLimit:
    """At most ``max_in_flight`` calls to WeChat at once per process, and at most ``backlog``
    more waiting for a slot; any call beyond is refused at once with ``WeChatOverloaded``.

    Why: when WeChat slows down, an unbounded queue turns every login into a slow timeout and
    holds memory and sockets for each; a bounded one keeps answers fast and honest (503 with
    ``Retry-After``; WeChat was not called, so the code may be sent again). The caller bounds
    the wait with its own deadline (the WeChat timeout covers waiting plus calling). Shared by
    the gateway and the platform adapter, which share one connection pool.
    """

    def __init__(self, *, max_in_flight: int, backlog: int) -> None:
        if max_in_flight < 1 or backlog < 0:
            raise ValueError("max_in_flight must be at least 1 and backlog at least 0")
        self.max_in_flight = max_in_flight
        self.backlog = backlog
        self._slots = asyncio.Semaphore(max_in_flight)
        self._waiting = 0
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return self._waiting

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the body of the ``async with``; wait in the backlog or be refused."""
        if self._slots.locked():
            if self._waiting >= self.backlog:
                raise WeChatOverloaded()
            self._waiting += 1
            try:
                await self._slots.acquire()
            finally:
                self._waiting -= 1
        else:
            await self._slots.acquire()
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._slots.release()


UNLIMITED_CALLS = 1_000_000
"""``max_in_flight`` of the adapters' default limit, for callers that configure none (tests)."""


def unlimited() -> WeChatCallLimit:
    return WeChatCallLimit(max_in_flight=UNLIMITED_CALLS, backlog=0)


class WeChatClient:
    """What every WeChat adapter holds: the shared session, the app's credentials, the call
    limit and the deadline of one call (waiting for a slot included). ``repr`` hides the secret.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        appid: str,
        secret: str,
        timeout: float,
        limit: WeChatCallLimit | None = None,
    ) -> None:
        self._session = session
        self._limit = limit or unlimited()
        self._deadline = timeout
        self._base = base_url.rstrip("/")
        self._appid = appid
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base!r}, appid={self._appid!r})"
