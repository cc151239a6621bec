"""The process's one HTTP client session (keep-alive pool) for calls to WeChat and the other
mini-program platforms, the bound on how many of those calls may be in flight or waiting, and
the one way an adapter makes a call."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp
from yarl import URL

from domain.errors import WeChatError, WeChatOverloaded, WeChatTimeout

logger = logging.getLogger(__name__)


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


class PlatformClient:
    """What every platform adapter holds: the shared session, the call limit, the API root and
    the deadline of one call (waiting for a slot included); ``_send`` makes one call.

    ``platform`` names the platform in logs and error messages.
    """

    platform = "WeChat"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        timeout: float,
        limit: WeChatCallLimit | None = None,
    ) -> None:
        self._session = session
        self._limit = limit or unlimited()
        self._deadline = timeout
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _send(
        self,
        api: str,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        data: bytes | Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """One call, made once: the body of an HTTP 2xx answer, else ``WeChatError``; no answer
        within the deadline is ``WeChatTimeout``.

        Driver exceptions are not chained, since theirs can hold the request URL, whose query
        may carry a secret or an access token; logs name at most the HTTP status or the
        exception's type.
        """
        try:
            async with (
                asyncio.timeout(self._deadline),
                self._limit.slot(),
                self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as resp,
            ):
                status, body = resp.status, await resp.read()
        except TimeoutError:  # asyncio's and aiohttp's timeouts (also an OSError: caught first)
            logger.warning("%s %s timed out", self.platform, api)
            raise WeChatTimeout() from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            name = type(exc).__name__
            logger.warning("%s %s unreachable: %s", self.platform, api, name)
            raise WeChatError(f"{self.platform} could not be reached ({name}).") from None
        if status >= 300:
            logger.warning("%s %s answered HTTP %d", self.platform, api, status)
            raise WeChatError(f"{self.platform} answered HTTP {status}.")
        return body


class WeChatClient(PlatformClient):
    """A ``PlatformClient`` with an app's ``appid`` and ``secret``. ``repr`` hides the secret."""

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
        super().__init__(session, base_url=base_url, timeout=timeout, limit=limit)
        self._appid = appid
        self._secret = secret

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base!r}, appid={self._appid!r})"
