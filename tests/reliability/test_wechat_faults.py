"""WeChat refusing, hanging and slow under load: 502 at once, 504 at the configured timeout, the
calls in flight bounded and the excess refused with 503 rather than queued without bound."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from contextlib import asynccontextmanager

import aiohttp
import pytest

from adapters.wechat.gateway import AiohttpWeChatGateway
from adapters.wechat.http import WeChatCallLimit, open_client_session
from domain.errors import WeChatOverloaded, WeChatTimeout
from tests.fixtures.redis_server import free_port
from tests.fixtures.wechat_simulator import SIM_APPID, SIM_SECRET
from tests.reliability.conftest import Simulated, login, service_env
from tests.serving import make_container, serve

pytestmark = pytest.mark.integration


async def test_a_wechat_that_refuses_connections_is_502_at_once(
    redis_url: str, mariadb_url: str
) -> None:
    env = service_env(wechat=f"http://127.0.0.1:{free_port()}", redis_url=redis_url,
                      database_url=mariadb_url, WECHAT_TIMEOUT_SECONDS="5")
    async with serve(make_container(env)) as url, aiohttp.ClientSession() as http:
        answer = await login(http, url, "alice:1")
    assert (answer.status, answer.code) == (502, "platform_error")
    assert answer.seconds < 1.0  # not the 5 s timeout
    print(f"refused WeChat: 502 in {answer.seconds:.3f} s")


async def test_a_wechat_that_hangs_is_504_at_the_configured_timeout(
    redis_url: str, mariadb_url: str, simulator: Simulated
) -> None:
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url,
                      WECHAT_TIMEOUT_SECONDS="1")
    async with serve(make_container(env)) as url, aiohttp.ClientSession() as http:
        answer = await login(http, url, "hang-1")
    assert (answer.status, answer.code) == (504, "platform_timeout")
    assert 1.0 <= answer.seconds < 2.0
    print(f"hanging WeChat: 504 in {answer.seconds:.3f} s (timeout 1 s)")


async def test_a_slow_wechat_under_load_sees_at_most_the_bound_and_the_excess_is_refused_at_once(
    redis_url: str, mariadb_url: str, simulator: Simulated
) -> None:
    in_flight, backlog, latency, requests = 4, 4, 1.5, 30
    simulator.sim.latency = latency
    env = service_env(
        wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url,
        WECHAT_TIMEOUT_SECONDS="5", WECHAT_MAX_IN_FLIGHT=str(in_flight),
        WECHAT_BACKLOG=str(backlog),
    )
    async with serve(make_container(env)) as url, aiohttp.ClientSession() as http:
        answers = await asyncio.gather(*(login(http, url, f"u{n}:1") for n in range(requests)))
        simulator.sim.latency = 0
        after = await login(http, url, "late:1")

    outcomes = Counter((answer.status, answer.code) for answer in answers)
    assert outcomes == {(200, None): in_flight + backlog,
                        (503, "platform_busy"): requests - in_flight - backlog}
    assert simulator.sim.peak == in_flight
    refused = [answer for answer in answers if answer.status == 503]
    assert all(answer.headers["Retry-After"] == "1" for answer in refused)
    assert max(answer.seconds for answer in refused) < latency  # never waited for WeChat
    assert after.status == 200  # every slot was given back
    print(f"slow WeChat: peak {simulator.sim.peak} in flight, {len(refused)} refused within "
          f"{max(a.seconds for a in refused):.3f} s")


async def test_the_limit_refuses_beyond_the_backlog_and_gives_slots_back_on_failure() -> None:
    limit = WeChatCallLimit(max_in_flight=1, backlog=1)
    release = asyncio.Event()

    async def hold() -> None:
        async with limit.slot():
            await release.wait()

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert (limit.in_flight, limit.waiting) == (1, 1)
    with pytest.raises(WeChatOverloaded):
        async with limit.slot():
            pass
    release.set()
    await asyncio.gather(holder, waiter)

    with pytest.raises(RuntimeError):
        async with limit.slot():
            raise RuntimeError("the call failed")
    assert (limit.in_flight, limit.waiting) == (0, 0)


async def test_a_cancelled_waiter_leaves_the_backlog() -> None:
    limit = WeChatCallLimit(max_in_flight=1, backlog=1)
    async with limit.slot():
        waiter = asyncio.create_task(limit.slot().__aenter__())
        await asyncio.sleep(0)
        assert limit.waiting == 1
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert limit.waiting == 0
    async with limit.slot():
        assert limit.in_flight == 1


async def test_the_timeout_covers_the_wait_for_a_slot_and_the_call_together(
    simulator: Simulated,
) -> None:
    async with asynccontextmanager(open_client_session)(timeout=1, limit=1) as session:
        gateway = AiohttpWeChatGateway(
            session, base_url=simulator.base_url, appid=SIM_APPID, secret=SIM_SECRET,
            timeout=1, limit=WeChatCallLimit(max_in_flight=1, backlog=1),
        )
        started = time.monotonic()
        outcomes = await asyncio.gather(
            gateway.code_to_session("hang-1"), gateway.code_to_session("alice:1"),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - started
    assert [type(outcome) for outcome in outcomes] == [WeChatTimeout, WeChatTimeout]
    assert elapsed < 1.8  # one timeout for both, not one after the other
