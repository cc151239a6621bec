"""The single-fetch property of the shared access_token over real Redis and real HTTP:
many concurrent callers, in one process and in two, cause exactly one ``stable_token`` fetch."""

from __future__ import annotations

import asyncio
import json
import sys
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from redis.asyncio import Redis

from adapters.redis.access_token import RedisAccessTokenCache
from adapters.system import SystemClock
from adapters.wechat.http import open_client_session
from adapters.wechat.platform import AiohttpWeChatPlatform
from domain.access_token import AccessTokenProvider, TokenTimings
from tests.fixtures.wechat_simulator import SIM_APPID, SIM_SECRET, RunningSimulator

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


async def test_a_hundred_callers_in_one_process_cause_one_fetch(
    wechat_simulator: RunningSimulator, redis_client: Redis
) -> None:
    wechat_simulator.sim.latency = 0.1
    async with asynccontextmanager(open_client_session)(timeout=3.0) as session:
        provider = AccessTokenProvider(
            platform=AiohttpWeChatPlatform(
                session, base_url=wechat_simulator.base_url, appid=SIM_APPID,
                secret=SIM_SECRET, timeout=3.0,
            ),
            cache=RedisAccessTokenCache(redis_client, appid=SIM_APPID),
            clock=SystemClock(),
            timings=TokenTimings(poll_interval=0.01),
        )

        tokens = await asyncio.gather(*(provider.get() for _ in range(100)))

    assert wechat_simulator.sim.token_fetches == 1
    assert len(set(tokens)) == 1


async def test_two_processes_sharing_one_redis_cause_one_fetch_between_them(
    wechat_simulator: RunningSimulator, redis_url: str
) -> None:
    wechat_simulator.sim.latency = 0.2  # the fetch is in flight while the other process asks
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.integration.token_race_worker",
            wechat_simulator.base_url, redis_url, SIM_APPID, SIM_SECRET, "50",
            cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            ready = await asyncio.wait_for(worker.stdout.readline(), 10)
            assert ready.strip() == b"ready"
        for worker in workers:  # both start at once
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
        results = [
            json.loads(line)
            for line in await asyncio.gather(
                *(asyncio.wait_for(w.stdout.readline(), 10) for w in workers if w.stdout)
            )
        ]
        codes = await asyncio.gather(*(asyncio.wait_for(w.wait(), 10) for w in workers))
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()

    assert codes == [0, 0]
    assert wechat_simulator.sim.token_fetches == 1
    assert [result["calls"] for result in results] == [50, 50]
    assert results[0]["tokens"] == results[1]["tokens"]
    assert len(results[0]["tokens"]) == 1
