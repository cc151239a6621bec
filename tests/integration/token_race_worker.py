"""One process of the two-process access-token race (run by ``test_access_token_processes``).

``python -m tests.integration.token_race_worker WECHAT_URL REDIS_URL APPID SECRET CALLERS``:
opens its own HTTP session and Redis client, prints ``ready``, waits for a line on stdin, then
runs ``CALLERS`` concurrent ``AccessTokenProvider.get()`` and prints one JSON line: the SHA-256
prefixes of the distinct tokens it got (the tokens themselves are not printed) and how many.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from contextlib import asynccontextmanager

from adapters.redis.access_token import RedisAccessTokenCache
from adapters.redis.client import open_redis
from adapters.system import SystemClock
from adapters.wechat.http import open_client_session
from adapters.wechat.platform import AiohttpWeChatPlatform
from domain.access_token import AccessTokenProvider, TokenTimings


async def race(wechat_url: str, redis_url: str, appid: str, secret: str, callers: int) -> None:
    async with (
        asynccontextmanager(open_client_session)(timeout=3.0) as session,
        asynccontextmanager(open_redis)(redis_url) as client,
    ):
        await client.ping()
        provider = AccessTokenProvider(
            platform=AiohttpWeChatPlatform(
                session, base_url=wechat_url, appid=appid, secret=secret, timeout=3.0
            ),
            cache=RedisAccessTokenCache(client, appid=appid),
            clock=SystemClock(),
            timings=TokenTimings(poll_interval=0.01),
        )
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        tokens = await asyncio.gather(*(provider.get() for _ in range(callers)))
    digests = sorted({hashlib.sha256(token.encode()).hexdigest()[:16] for token in tokens})
    print(json.dumps({"tokens": digests, "calls": len(tokens)}), flush=True)


if __name__ == "__main__":
    url, redis_url, appid, secret, callers = sys.argv[1:6]
    asyncio.run(race(url, redis_url, appid, secret, int(callers)))
