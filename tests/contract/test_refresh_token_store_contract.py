"""The RefreshTokenStore contract, for every implementation: memory, and Redis as one server,
as a 3-master Redis Cluster and through a Sentinel."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from adapters.memory.refresh_tokens import InMemoryRefreshTokenStore
from adapters.redis.refresh_tokens import RedisRefreshTokenStore
from domain.ports import RefreshTokenStore, RefreshTokenUse
from tests.fakes import FakeClock
from tests.fixtures.redis_server import REDIS_KINDS, redis_backend

IMPLEMENTATIONS = ["memory", *(pytest.param(k, marks=pytest.mark.integration) for k in REDIS_KINDS)]
SECRET = "contract-test session secret, 32 characters at least"


@dataclass
class Harness:
    store: RefreshTokenStore
    clock: FakeClock
    real_time: bool

    async def wait(self, seconds: float) -> None:
        if self.real_time:
            await asyncio.sleep(seconds)
        self.clock.advance(seconds)


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest) -> Harness:
    clock = FakeClock()
    if request.param == "memory":
        return Harness(InMemoryRefreshTokenStore(clock=clock, session_secret=SECRET), clock,
                       False)
    backend = redis_backend(request, request.param)
    return Harness(RedisRefreshTokenStore(backend.client, session_secret=SECRET), clock, True)


async def test_a_new_token_s_first_use_names_its_session_and_now(harness: Harness) -> None:
    now = harness.clock.now()
    token = await harness.store.issue("session-1", expires_at=now + 60)

    used = await harness.store.use(token, now=now + 1)

    assert used == RefreshTokenUse("session-1", pytest.approx(now + 1, abs=0.001))


async def test_later_uses_report_the_time_of_the_first(harness: Harness) -> None:
    now = harness.clock.now()
    token = await harness.store.issue("session-1", expires_at=now + 60)
    first = await harness.store.use(token, now=now + 1)

    again = await harness.store.use(token, now=now + 30)

    assert first is not None
    assert again == first


async def test_concurrent_first_uses_all_report_one_time(harness: Harness) -> None:
    now = harness.clock.now()
    token = await harness.store.issue("session-1", expires_at=now + 60)

    uses = await asyncio.gather(*(harness.store.use(token, now=now + i) for i in range(10)))

    assert len({use.first_used_at for use in uses if use is not None}) == 1
    assert all(use is not None and use.session_id == "session-1" for use in uses)


async def test_every_token_is_new_and_long(harness: Harness) -> None:
    now = harness.clock.now()
    tokens = {await harness.store.issue("session-1", expires_at=now + 60) for _ in range(5)}
    assert len(tokens) == 5
    assert all(len(token) >= 43 for token in tokens)


@pytest.mark.parametrize("forged", ["", "x", "a" * 600, "é"])
async def test_an_unknown_token_is_none(harness: Harness, forged: str) -> None:
    await harness.store.issue("session-1", expires_at=harness.clock.now() + 60)
    assert await harness.store.use(forged, now=harness.clock.now()) is None


async def test_a_token_past_its_expiry_is_none(harness: Harness) -> None:
    now = harness.clock.now()
    short = await harness.store.issue("session-1", expires_at=now + 0.2)
    long = await harness.store.issue("session-1", expires_at=now + 60)

    await harness.wait(0.3)

    assert await harness.store.use(short, now=harness.clock.now()) is None
    assert await harness.store.use(long, now=harness.clock.now()) is not None


async def test_a_store_with_another_secret_knows_none_of_the_tokens(harness: Harness) -> None:
    token = await harness.store.issue("session-1", expires_at=harness.clock.now() + 60)
    if isinstance(harness.store, InMemoryRefreshTokenStore):
        return  # one process: another store is another dict
    other = RedisRefreshTokenStore(harness.store._client, session_secret="another secret " * 3)
    assert await other.use(token, now=time.time()) is None


@pytest.mark.integration
async def test_redis_keeps_no_token_only_keyed_hashes(redis_client: Redis) -> None:
    store = RedisRefreshTokenStore(redis_client, session_secret=SECRET, key_prefix="rt-test:")
    token = await store.issue("session-1", expires_at=time.time() + 60)
    await store.use(token, now=time.time())

    keys = [key async for key in redis_client.scan_iter(match=b"rt-test:*")]
    values = [await redis_client.get(key) for key in keys]
    assert len(keys) == 1
    assert all(token.encode() not in blob for blob in [*keys, *values])
