"""The built-in WeChat simulator that stands in for WeChat when no credentials are configured.

It is served over real HTTP on loopback, so the embedded default exercises the same gateway code
as production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from adapters.wechat.simulator import WeChatSimulator, run_simulator


async def serve_embedded_simulator(*, appid: str, secret: str) -> AsyncIterator[str]:
    """Resource: serve a simulator for this app on a free loopback port; yield its base URL."""
    async with run_simulator(WeChatSimulator(appid=appid, secret=secret)) as base_url:
        yield base_url
