"""The app's one ``access_token``, shared by every worker and instance, refreshed by one at a time.

WeChat's ``cgi-bin/token`` kills the token other servers still hold, so the token comes from
``stable_token`` and lives in the shared store: a fetch per server or per request would burn the
daily quota and, with ``force_refresh``, knock out the token everyone else uses.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from domain.errors import StoreUnavailable, WeChatError
from domain.platform import AccessToken, AccessTokenCache, WeChatPlatform
from domain.platform_errors import AccessTokenBusy, AccessTokenInvalid
from domain.ports import Clock
from domain.single_flight import SingleFlight

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TokenTimings:
    """``refresh_margin``: refresh when less than this is left (``stable_token`` tokens live at
    least 300 s; a token that comes with less is refreshed at half its life instead).
    ``lock_ttl``: the longest one refresh may hold the lock (more than a WeChat call's timeout).
    ``wait``: the longest a caller waits for another process's refresh. ``poll_interval``: how
    often a waiter looks."""

    refresh_margin: float = 300.0
    lock_ttl: float = 10.0
    wait: float = 5.0
    poll_interval: float = 0.05


class AccessTokenProvider:
    """Hands out the app's ``access_token``.

    Rules:
    - one token per app, kept in the shared ``AccessTokenCache`` until it expires;
    - it is refreshed ahead of expiry (at ``refresh_at``), by the one caller that holds the
      cache's lock; in this process one task does it for every concurrent caller;
    - while someone else refreshes, a token that has not expired yet is still handed out; with no
      usable token a caller polls the cache for the holder's result, for at most ``wait``
      seconds, then gets ``AccessTokenBusy`` (503) rather than fetching one of its own;
    - a failed fetch fails the callers waiting in this process; others then take the lock in turn;
    - ``call_with_token``: on ``AccessTokenInvalid`` (40001/42001) the token is dropped, a new
      one fetched and the call retried once; a second refusal is ``WeChatError``. Other failures,
      WeChat's -1 included, are not retried (a retried message could be sent twice).

    One instance per process: it holds the in-process flights.
    """

    def __init__(
        self,
        *,
        platform: WeChatPlatform,
        cache: AccessTokenCache,
        clock: Clock,
        timings: TokenTimings | None = None,
    ) -> None:
        self._platform = platform
        self._cache = cache
        self._clock = clock
        self._timings = timings or TokenTimings()
        self._flights: SingleFlight[str | None, str] = SingleFlight()

    async def get(self) -> str:
        """A token that WeChat has not refused yet."""
        return await self._get(avoid=None)

    async def invalidate(self, value: str) -> None:
        """Drop ``value`` from the cache (WeChat refused it); a newer token stays."""
        await self._cache.delete(value)

    async def call_with_token(self, call: Callable[[str], Awaitable[T]]) -> T:
        """Run ``call(token)``; on ``AccessTokenInvalid`` refresh the token and retry once."""
        token = await self.get()
        try:
            return await call(token)
        except AccessTokenInvalid:
            logger.info("WeChat refused the access token; fetching a new one")
            await self.invalidate(token)
        token = await self._get(avoid=token)
        try:
            return await call(token)
        except AccessTokenInvalid:
            await self.invalidate(token)
            raise WeChatError("WeChat refused a freshly fetched access token.") from None

    async def _get(self, *, avoid: str | None) -> str:
        current = await self._cache.get()
        if self._fresh(current, avoid):
            assert current is not None
            return current.value
        # One refresh per process for every concurrent caller (see ``SingleFlight``).
        return await self._flights.run(avoid, lambda: self._refresh(avoid))

    async def _refresh(self, avoid: str | None) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timings.wait
        owner = secrets.token_hex(16)
        while True:
            if await self._cache.try_lock(owner, ttl=self._timings.lock_ttl):
                try:
                    current = await self._cache.get()  # the previous holder may have just set it
                    if self._fresh(current, avoid):
                        assert current is not None
                        return current.value
                    return await self._fetch()
                finally:
                    await self._unlock(owner)
            current = await self._cache.get()
            if self._usable(current, avoid):
                assert current is not None
                return current.value
            if loop.time() >= deadline:
                logger.warning("gave up waiting for another process to fetch the access token")
                raise AccessTokenBusy()
            await asyncio.sleep(self._timings.poll_interval)

    async def _fetch(self) -> str:
        issued = await self._platform.stable_token(force_refresh=False)
        now = self._clock.now()
        lifetime = max(0.0, issued.expires_in)
        margin = min(self._timings.refresh_margin, lifetime / 2)
        token = AccessToken(
            value=issued.value, expires_at=now + lifetime, refresh_at=now + lifetime - margin
        )
        await self._cache.set(token)
        logger.info("fetched a new access token", extra={"expires_in": int(lifetime)})
        return token.value

    async def _unlock(self, owner: str) -> None:
        try:
            await self._cache.unlock(owner)
        except StoreUnavailable:
            logger.warning("could not release the access-token lock; it lapses by itself")

    def _fresh(self, token: AccessToken | None, avoid: str | None) -> bool:
        return (
            token is not None and token.value != avoid and self._clock.now() < token.refresh_at
        )

    def _usable(self, token: AccessToken | None, avoid: str | None) -> bool:
        return (
            token is not None and token.value != avoid and self._clock.now() < token.expires_at
        )
