"""The SessionStore contract, for every implementation (memory and Redis)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from adapters.memory import InMemorySessionStore
from adapters.redis import RedisSessionStore, open_redis
from domain.entities import LoginSession
from domain.errors import StoreUnavailable
from domain.ports import SessionStore
from domain.tokens import hash_token
from tests.fakes import FakeClock
from tests.fixtures.redis_server import RedisServer, free_port

IMPLEMENTATIONS = ["memory", pytest.param("redis", marks=pytest.mark.integration)]


@dataclass
class Harness:
    """One implementation, with a clock that agrees with it and a way to let time pass."""

    store: SessionStore
    clock: FakeClock
    real_time: bool
    another_store: Callable[[], AbstractAsyncContextManager[SessionStore]]
    index_size: Callable[[int], Awaitable[int]]

    def session(self, user_id: int = 1, *, ttl: float = 600, max_age: float = 3600) -> LoginSession:
        now = self.clock.now()
        return LoginSession(
            user_id=user_id,
            user_created_at=now - 86_400.25,
            login_at=now,
            expires_at=now + ttl,
            max_expires_at=now + max_age,
        )

    async def wait(self, seconds: float) -> None:
        """Let time pass: really for Redis (its own clock expires keys), on the fake clock else."""
        if self.real_time:
            await asyncio.sleep(seconds)
        self.clock.advance(seconds)


def _memory_harness() -> Harness:
    clock = FakeClock()
    store = InMemorySessionStore(clock=clock)

    async def index_size(user_id: int) -> int:
        return len(store._by_user.get(user_id, ()))

    return Harness(store, clock, False, lambda: nullcontext(store), index_size)


def _redis_harness(client: Redis, url: str) -> Harness:
    @asynccontextmanager
    async def another_store() -> AsyncIterator[SessionStore]:
        async with asynccontextmanager(open_redis)(url) as other_client:
            yield RedisSessionStore(other_client)

    async def index_size(user_id: int) -> int:
        return int(await client.zcount(b"wl:u" + user_id.to_bytes(8, "big"), "(0", "+inf"))

    # A clock made after the server started, so it agrees with Redis's.
    return Harness(RedisSessionStore(client), FakeClock(), True, another_store, index_size)


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        return _memory_harness()
    return _redis_harness(
        request.getfixturevalue("redis_client"), request.getfixturevalue("redis_url")
    )


def token(n: int) -> bytes:
    return hash_token(f"token-{n}")


def assert_same(found: LoginSession | None, expected: LoginSession) -> None:
    """Equal to the millisecond (what Redis keeps)."""
    assert found is not None
    assert found.user_id == expected.user_id
    for field in ("user_created_at", "login_at", "expires_at", "max_expires_at"):
        assert getattr(found, field) == pytest.approx(getattr(expected, field), abs=0.001), field


async def test_a_created_session_is_found_by_its_token_hash(harness: Harness) -> None:
    session = harness.session(user_id=7)
    await harness.store.create(token(1), session, session_key="sk-1")

    assert_same(await harness.store.get(token(1)), session)


async def test_an_unknown_token_hash_finds_nothing(harness: Harness) -> None:
    await harness.store.create(token(1), harness.session(), session_key="sk-1")

    assert await harness.store.get(token(2)) is None


async def test_a_session_is_gone_once_it_expires(harness: Harness) -> None:
    await harness.store.create(token(1), harness.session(ttl=0.3), session_key="sk-1")
    await harness.store.create(token(2), harness.session(ttl=60), session_key="sk-2")

    await harness.wait(0.5)

    assert await harness.store.get(token(1)) is None
    assert await harness.store.get(token(2)) is not None
    assert await harness.store.delete(token(1)) is None


async def test_extend_moves_the_expiry_of_a_live_session(harness: Harness) -> None:
    session = harness.session(ttl=0.3)
    await harness.store.create(token(1), session, session_key="sk-1")
    new_expiry = harness.clock.now() + 120.5

    await harness.store.extend(token(1), new_expiry)
    await harness.wait(0.5)

    found = await harness.store.get(token(1))
    assert found is not None
    assert found.expires_at == pytest.approx(new_expiry, abs=0.001)
    assert found.max_expires_at == pytest.approx(session.max_expires_at, abs=0.001)


async def test_extending_an_unknown_session_creates_nothing(harness: Harness) -> None:
    await harness.store.extend(token(1), harness.clock.now() + 60)

    assert await harness.store.get(token(1)) is None


async def test_delete_returns_the_session_and_ends_only_that_one(harness: Harness) -> None:
    first, second = harness.session(user_id=1), harness.session(user_id=1, ttl=900)
    await harness.store.create(token(1), first, session_key="sk-1")
    await harness.store.create(token(2), second, session_key="sk-2")

    assert_same(await harness.store.delete(token(1)), first)

    assert await harness.store.get(token(1)) is None
    assert_same(await harness.store.get(token(2)), second)
    assert await harness.store.delete(token(1)) is None
    assert await harness.store.delete_all(1) == 1


async def test_deleting_an_unknown_session_returns_none(harness: Harness) -> None:
    assert await harness.store.delete(token(1)) is None


async def test_delete_all_ends_every_session_of_the_user_from_any_instance(
    harness: Harness,
) -> None:
    await harness.store.create(token(1), harness.session(user_id=1), session_key="sk-1")
    await harness.store.create(token(3), harness.session(user_id=2), session_key="sk-3")
    async with harness.another_store() as other_worker:
        await other_worker.create(token(2), harness.session(user_id=1), session_key="sk-2")

        assert await harness.store.delete_all(1) == 2

        assert await other_worker.get(token(2)) is None
    assert await harness.store.get(token(1)) is None
    assert await harness.store.get(token(2)) is None
    assert await harness.store.get(token(3)) is not None
    assert await harness.store.delete_all(1) == 0


async def test_delete_all_does_not_count_expired_sessions(harness: Harness) -> None:
    await harness.store.create(token(1), harness.session(ttl=0.3), session_key="sk-1")
    await harness.store.create(token(2), harness.session(ttl=60), session_key="sk-2")
    await harness.wait(0.5)

    assert await harness.store.delete_all(1) == 1


async def test_session_key_is_the_newest_one_of_the_user(harness: Harness) -> None:
    await harness.store.create(token(1), harness.session(user_id=1), session_key="old+/=")
    await harness.store.create(token(2), harness.session(user_id=1), session_key="new+/=")
    await harness.store.create(token(3), harness.session(user_id=2), session_key="other")

    assert await harness.store.session_key(1) == "new+/="
    assert await harness.store.session_key(2) == "other"
    assert await harness.store.session_key(3) is None


async def test_session_key_expires_with_the_max_age_of_the_newest_session(
    harness: Harness,
) -> None:
    await harness.store.create(token(1), harness.session(max_age=60), session_key="old")
    await harness.store.create(token(2), harness.session(ttl=0.3, max_age=0.3), session_key="new")

    await harness.wait(0.5)

    assert await harness.store.session_key(1) is None
    assert await harness.store.get(token(1)) is not None


async def test_expired_entries_leave_the_user_index_at_the_next_login(harness: Harness) -> None:
    await harness.store.create(token(1), harness.session(ttl=0.3, max_age=0.3), session_key="a")
    await harness.store.create(token(2), harness.session(), session_key="b")
    assert await harness.index_size(1) == 2

    await harness.wait(0.5)
    await harness.store.create(token(3), harness.session(), session_key="c")

    assert await harness.index_size(1) == 2
    assert await harness.store.session_key(1) == "c"


async def test_ping_answers_when_the_store_is_up(harness: Harness) -> None:
    await harness.store.ping()


@pytest.mark.integration
async def test_an_unreachable_redis_is_reported_as_unavailable_quickly() -> None:
    async with asynccontextmanager(open_redis)(f"redis://127.0.0.1:{free_port()}/0") as client:
        store = RedisSessionStore(client)
        started = time.monotonic()
        async with asyncio.timeout(2.5):
            with pytest.raises(StoreUnavailable):
                await store.ping()
            with pytest.raises(StoreUnavailable):
                await store.get(token(1))
            with pytest.raises(StoreUnavailable):
                await store.create(token(1), _session_now(), session_key="sk")
        assert time.monotonic() - started < 2.5


@pytest.mark.integration
async def test_a_restarted_redis_is_used_again_without_reopening_the_client(
    redis_server: RedisServer, redis_client: Redis
) -> None:
    store = RedisSessionStore(redis_client)
    await store.ping()

    redis_server.stop()
    try:
        async with asyncio.timeout(2.5):
            with pytest.raises(StoreUnavailable):
                await store.get(token(1))
    finally:
        redis_server.start()

    await store.ping()
    assert await store.get(token(1)) is None


@pytest.mark.integration
async def test_a_hung_redis_is_reported_as_unavailable_within_the_socket_timeout(
    redis_server: RedisServer, redis_client: Redis
) -> None:
    store = RedisSessionStore(redis_client)
    await store.ping()
    assert redis_server.pid is not None

    os.kill(redis_server.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            await store.get(token(1))
        assert time.monotonic() - started < 1.8
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)

    await store.ping()


def _session_now() -> LoginSession:
    now = time.time()
    return LoginSession(1, now, now, now + 60, now + 600)
