"""Two instances of the service on one Redis, as two workers or two hosts behind a balancer: the
login rate limit counts across both, and "log out everywhere" ends the tokens either issued."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import pytest
from dependency_injector import providers

from tests.fakes import FakeClock
from tests.reliability.conftest import Answer, Simulated, call, service_env
from tests.serving import make_container, serve

pytestmark = pytest.mark.integration


@asynccontextmanager
async def two_instances(env: dict[str, str]) -> AsyncIterator[tuple[str, str]]:
    """Two services with their own containers (pools, caches), sharing Redis and MariaDB only.

    Their clock is a shared fake stopped at the start of the next minute: the rate limiter's
    window cannot roll over in the middle of a test, and its counter, which Redis expires at the
    window's end in real time, lives at least a minute.
    """
    clock = FakeClock((math.floor(time.time() / 60) + 1) * 60)
    async with AsyncExitStack() as stack:
        urls = []
        for _ in range(2):
            container = make_container(env)
            container.clock.override(providers.Object(clock))
            urls.append(await stack.enter_async_context(serve(container)))
        yield urls[0], urls[1]


async def login_from(http: aiohttp.ClientSession, url: str, code: str, forwarded: str) -> Answer:
    started = time.monotonic()
    async with http.post(f"{url}/api/v1/login", json={"code": code},
                         headers={"X-Forwarded-For": forwarded}) as response:
        return Answer(response.status, await response.json(), response.headers,
                      time.monotonic() - started)


async def test_the_login_limit_counts_across_instances_and_believes_only_the_trusted_proxy(
    redis_url: str, mariadb_url: str, simulator: Simulated
) -> None:
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url,
                      LOGIN_RATE_PER_MINUTE="3", TRUSTED_PROXY_COUNT="1")
    async with two_instances(env) as (a, b), aiohttp.ClientSession() as http:
        # The proxy appends the address it saw; whatever the client put further left is a lie.
        answers = [
            await login_from(http, url, f"carol:{n}", f"198.51.100.{n}, 203.0.113.7")
            for n, url in enumerate([a, b, a, b])
        ]
        other_client = await login_from(http, a, "dave:1", "203.0.113.7, 203.0.113.8")

    assert [answer.status for answer in answers] == [200, 200, 200, 429]
    limited = answers[-1]
    assert limited.code == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert other_client.status == 200


async def test_without_a_trusted_proxy_x_forwarded_for_is_ignored_by_the_limit(
    redis_url: str, mariadb_url: str, simulator: Simulated
) -> None:
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url,
                      LOGIN_RATE_PER_MINUTE="3", TRUSTED_PROXY_COUNT="0")
    async with two_instances(env) as (a, b), aiohttp.ClientSession() as http:
        answers = [
            await login_from(http, url, f"erin:{n}", f"203.0.113.{n}")
            for n, url in enumerate([a, b, a, b])
        ]
    assert [answer.status for answer in answers] == [200, 200, 200, 429]
    assert answers[-1].headers["Retry-After"].isdigit()


async def test_logout_everywhere_ends_the_tokens_another_instance_issued(
    redis_url: str, mariadb_url: str, simulator: Simulated
) -> None:
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url)
    async with two_instances(env) as (a, b), aiohttp.ClientSession() as http:
        phone = await call(http, "POST", f"{a}/api/v1/login", json={"code": "frank:1"})
        tablet = await call(http, "POST", f"{a}/api/v1/login", json={"code": "frank:2"})
        laptop = await call(http, "POST", f"{b}/api/v1/login", json={"code": "frank:3"})
        bystander = await call(http, "POST", f"{a}/api/v1/login", json={"code": "grace:1"})
        tokens = [answer.body["token"] for answer in (phone, tablet, laptop)]
        for url in (a, b):
            for token in tokens:
                assert (await call(http, "GET", f"{url}/api/v1/me", token=token)).status == 200

        out = await call(http, "POST", f"{b}/api/v1/logout", token=tokens[2], json={"all": True})
        assert out.status == 204

        after = [
            (await call(http, "GET", f"{url}/api/v1/me", token=token)).status
            for url in (a, b) for token in tokens
        ]
        other = await call(http, "GET", f"{a}/api/v1/me", token=bystander.body["token"])
    assert after == [401] * 6
    assert other.status == 200  # another user's token lives on
