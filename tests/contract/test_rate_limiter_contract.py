"""The RateLimiter contract, for every implementation: memory, and Redis as one server, as a
3-master Redis Cluster and through a Sentinel."""

from __future__ import annotations

import math
import time

import pytest

from adapters.memory import InMemoryRateLimiter
from adapters.redis import RedisRateLimiter
from domain.ports import RateLimiter
from tests.fakes import FakeClock
from tests.fixtures.redis_server import REDIS_KINDS, redis_backend

IMPLEMENTATIONS = ["memory", *(pytest.param(k, marks=pytest.mark.integration) for k in REDIS_KINDS)]
WINDOW = 60


@pytest.fixture(params=IMPLEMENTATIONS)
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return InMemoryRateLimiter(clock=FakeClock())
    return RedisRateLimiter(redis_backend(request, request.param).client)


@pytest.fixture
def window_start() -> float:
    """The start of the next window: real time (Redis expires the counters), whole windows."""
    return math.ceil(time.time() / WINDOW) * WINDOW


async def test_hits_within_the_limit_pass(limiter: RateLimiter, window_start: float) -> None:
    for _ in range(3):
        assert await limiter.hit("login:1.2.3.4", limit=3, window=WINDOW, now=window_start) is None


async def test_a_hit_over_the_limit_says_how_long_until_the_window_resets(
    limiter: RateLimiter, window_start: float
) -> None:
    for _ in range(3):
        await limiter.hit("login:1.2.3.4", limit=3, window=WINDOW, now=window_start + 1)

    retry_after = await limiter.hit("login:1.2.3.4", limit=3, window=WINDOW, now=window_start + 15)
    late = await limiter.hit("login:1.2.3.4", limit=3, window=WINDOW, now=window_start + 59.5)

    assert retry_after == 45
    assert late == 1


async def test_each_key_has_its_own_counter(limiter: RateLimiter, window_start: float) -> None:
    await limiter.hit("login:1.2.3.4", limit=1, window=WINDOW, now=window_start)
    assert await limiter.hit("login:1.2.3.4", limit=1, window=WINDOW, now=window_start) is not None

    assert await limiter.hit("login:5.6.7.8", limit=1, window=WINDOW, now=window_start) is None


async def test_a_new_window_starts_from_zero(limiter: RateLimiter, window_start: float) -> None:
    for _ in range(2):
        await limiter.hit("login:1.2.3.4", limit=1, window=WINDOW, now=window_start + 30)

    assert await limiter.hit("login:1.2.3.4", limit=1, window=WINDOW, now=window_start + 60) is None
