"""The process's one HTTP client session (keep-alive pool) for calls to WeChat."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp


async def open_client_session(
    *,
    timeout: float,  # noqa: ASYNC109 - configures the session, not this call
    limit: int = 100,
) -> AsyncIterator[aiohttp.ClientSession]:
    """Resource: one shared ``ClientSession`` per process, closed at the end.

    One pool keeps connections to WeChat alive between logins (no TLS handshake per call).
    Certificates are always verified (the connector's default ``ssl=True``); never turn it off.
    ``timeout`` is the total time of one call, a backstop for callers that set none.
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
