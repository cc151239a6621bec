"""The AccessTokenCache contract, for every implementation: memory, and Redis as one server, as
a 3-master Redis Cluster and through a Sentinel."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from adapters.memory.platform import InMemoryAccessTokenCache
from adapters.redis.access_token import RedisAccessTokenCache
from adapters.redis.client import open_redis
from domain.errors import StoreUnavailable
from domain.platform import AccessToken, AccessTokenCache
from tests.fakes import FakeClock
from tests.fixtures.redis_server import REDIS_KINDS, free_port, redis_backend

IMPLEMENTATIONS = ["memory", *(pytest.param(k, marks=pytest.mark.integration) for k in REDIS_KINDS)]


@dataclass
class Harness:
    cache: AccessTokenCache
    clock: FakeClock
    real_time: bool

    async def wait(self, seconds: float) -> None:
        """Let time pass: really for Redis (its own clock expires keys), on the fake clock else."""
        if self.real_time:
            await asyncio.sleep(seconds)
        self.clock.advance(seconds)

    def token(self, value: str = "TOKEN-1", *, lifetime: float = 7200) -> AccessToken:
        now = self.clock.now()
        return AccessToken(value, expires_at=now + lifetime, refresh_at=now + lifetime - 300)


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest) -> Harness:
    clock = FakeClock()
    if request.param == "memory":
        return Harness(InMemoryAccessTokenCache(clock=clock), clock, False)
    client = redis_backend(request, request.param).client
    return Harness(RedisAccessTokenCache(client, appid="wx-test-app"), clock, True)


def same(found: AccessToken | None, expected: AccessToken) -> bool:
    """Equal up to the millisecond the stores keep."""
    return (
        found is not None
        and found.value == expected.value
        and found.expires_at == pytest.approx(expected.expires_at, abs=0.001)
        and found.refresh_at == pytest.approx(expected.refresh_at, abs=0.001)
    )


async def test_an_empty_cache_has_no_token(harness: Harness) -> None:
    assert await harness.cache.get() is None


@pytest.mark.parametrize(
    "value",
    ["TOKEN-1", "a" * 512, "86_Ab-cd+ef/gh==", "令牌"],
    ids=["plain", "long", "b64", "utf8"],
)
async def test_a_stored_token_comes_back_with_its_times(harness: Harness, value: str) -> None:
    token = harness.token(value)

    await harness.cache.set(token)

    assert same(await harness.cache.get(), token)


async def test_a_new_token_replaces_the_old_one(harness: Harness) -> None:
    await harness.cache.set(harness.token("OLD"))
    newer = harness.token("NEW", lifetime=3600)

    await harness.cache.set(newer)

    assert same(await harness.cache.get(), newer)


async def test_a_token_is_gone_once_it_expires(harness: Harness) -> None:
    await harness.cache.set(harness.token(lifetime=0.2))

    await harness.wait(0.35)

    assert await harness.cache.get() is None


async def test_dropping_a_token_drops_only_that_token(harness: Harness) -> None:
    current = harness.token("CURRENT")
    await harness.cache.set(current)

    await harness.cache.delete("OLDER")
    await harness.cache.delete("CURRENT-BUT-LONGER")
    assert same(await harness.cache.get(), current)

    await harness.cache.delete("CURRENT")
    assert await harness.cache.get() is None
    await harness.cache.delete("CURRENT")  # nothing left: a no-op


async def test_the_lock_has_one_holder_at_a_time(harness: Harness) -> None:
    assert await harness.cache.try_lock("owner-a", ttl=5) is True

    assert await harness.cache.try_lock("owner-b", ttl=5) is False


async def test_a_lock_taken_again_by_its_holder_is_still_its_own(harness: Harness) -> None:
    """The client repeats a command once after a lost reply: the holder's repeat must not see
    its own lock as someone else's (it would wait on itself and answer 503)."""
    assert await harness.cache.try_lock("owner-a", ttl=5) is True

    assert await harness.cache.try_lock("owner-a", ttl=5) is True
    assert await harness.cache.try_lock("owner-b", ttl=5) is False


async def test_of_many_concurrent_lockers_exactly_one_wins(harness: Harness) -> None:
    won = await asyncio.gather(
        *(harness.cache.try_lock(f"owner-{n}", ttl=5) for n in range(20))
    )

    assert won.count(True) == 1


async def test_only_the_holder_releases_the_lock(harness: Harness) -> None:
    await harness.cache.try_lock("owner-a", ttl=5)

    await harness.cache.unlock("owner-b")
    assert await harness.cache.try_lock("owner-b", ttl=5) is False

    await harness.cache.unlock("owner-a")
    assert await harness.cache.try_lock("owner-b", ttl=5) is True


async def test_the_lock_of_a_holder_that_vanished_lapses(harness: Harness) -> None:
    await harness.cache.try_lock("owner-a", ttl=0.2)

    await harness.wait(0.35)

    assert await harness.cache.try_lock("owner-b", ttl=5) is True
    await harness.cache.unlock("owner-a")  # the late holder cannot release the new lock
    assert await harness.cache.try_lock("owner-c", ttl=5) is False


async def test_the_lock_and_the_token_are_independent(harness: Harness) -> None:
    token = harness.token()
    await harness.cache.try_lock("owner-a", ttl=5)

    await harness.cache.set(token)
    await harness.cache.unlock("owner-a")

    assert same(await harness.cache.get(), token)


# ---- Redis only ------------------------------------------------------------------------------


@pytest.mark.integration
async def test_apps_sharing_one_redis_keep_their_own_token_and_lock(redis_client: Redis) -> None:
    first = RedisAccessTokenCache(redis_client, appid="wx-first")
    second = RedisAccessTokenCache(redis_client, appid="wx-second")
    clock = FakeClock()
    await first.set(AccessToken("FIRST", clock.now() + 60, clock.now() + 30))

    assert await second.get() is None
    assert await first.try_lock("owner", ttl=5)
    assert await second.try_lock("owner", ttl=5)


@pytest.mark.integration
async def test_an_unreachable_redis_is_store_unavailable_for_every_operation() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with asynccontextmanager(open_redis)(url, socket_timeout=0.2) as client:
        cache = RedisAccessTokenCache(client, appid="wx-test-app")
        clock = FakeClock()
        operations = [
            cache.get(),
            cache.set(AccessToken("T", clock.now() + 60, clock.now() + 30)),
            cache.delete("T"),
            cache.try_lock("owner", ttl=1),
            cache.unlock("owner"),
        ]
        for operation in operations:
            with pytest.raises(StoreUnavailable):
                await operation
