"""The SessionStore contract, for every implementation: memory, and Redis as one server, as a
3-master Redis Cluster and as a master found through a Sentinel."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, replace

import pytest
from redis.asyncio import Redis

from adapters.memory import InMemoryCodeExchangeRegistry, InMemorySessionStore
from adapters.redis import RedisSessionStore, open_redis
from adapters.redis.code_exchange import RedisCodeExchangeRegistry
from domain.entities import LoginSession, WeChatSession
from domain.errors import StoreUnavailable
from domain.ports import ClaimDone, CodeExchangeRegistry, CodeReceipt, SessionStore
from domain.tokens import hash_token, routed_token
from tests.fakes import FakeClock
from tests.fixtures.redis_server import (
    REDIS_KINDS,
    RedisBackend,
    RedisServer,
    free_port,
    redis_backend,
)

IMPLEMENTATIONS = ["memory", *(pytest.param(k, marks=pytest.mark.integration) for k in REDIS_KINDS)]


@dataclass
class Harness:
    """One implementation, with a clock that agrees with it and a way to let time pass."""

    store: SessionStore
    clock: FakeClock
    real_time: bool
    another_store: Callable[[], AbstractAsyncContextManager[SessionStore]]
    index_size: Callable[[int], Awaitable[int]]
    registry: CodeExchangeRegistry
    """The registry of the same backend, where the store records code receipts."""

    def session(self, user_id: int = 1, *, ttl: float = 600, max_age: float = 3600) -> LoginSession:
        now = self.clock.now()
        return LoginSession(
            user_id=user_id,
            user_created_at=now - 86_400.25,
            login_at=now,
            expires_at=now + ttl,
            max_expires_at=now + max_age,
        )

    def token(self, n: int, user_id: int = 1) -> bytes:
        """The hash of token ``n`` of a user, made as the login makes it (with its route)."""
        return hash_token(routed_token(self.store.token_route(user_id), f"token-{n}"))

    async def wait(self, seconds: float) -> None:
        """Let time pass: really for Redis (whose clocks judge expiry), on the fake clock else."""
        if self.real_time:
            await asyncio.sleep(seconds)
        self.clock.advance(seconds)


def _memory_harness() -> Harness:
    clock = FakeClock()
    registry = InMemoryCodeExchangeRegistry(clock=clock)
    store = InMemorySessionStore(clock=clock, registry=registry)

    async def index_size(user_id: int) -> int:
        return len(store._by_user.get(user_id, ()))

    return Harness(store, clock, False, lambda: nullcontext(store), index_size, registry)


def _redis_harness(request: pytest.FixtureRequest, kind: str) -> Harness:
    backend = redis_backend(request, kind)

    @asynccontextmanager
    async def another_store() -> AsyncIterator[SessionStore]:
        async with backend.open_another() as other_client:
            yield RedisSessionStore(other_client)

    async def index_size(user_id: int) -> int:
        fields = await backend.client.hkeys(b"wl:h" + user_id.to_bytes(8, "big"))
        return sum(1 for field in fields if field != b"")

    registry = RedisCodeExchangeRegistry(backend.client)
    store = RedisSessionStore(backend.client, registry=registry)
    # A clock made after the server started, so it agrees with the stores' real time.
    return Harness(store, FakeClock(), True, another_store, index_size, registry)


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "memory":
        return _memory_harness()
    return _redis_harness(request, request.param)


def assert_same(found: LoginSession | None, expected: LoginSession) -> None:
    """Equal to the millisecond (what Redis keeps)."""
    assert found is not None
    assert found.user_id == expected.user_id
    for field in ("user_created_at", "login_at", "expires_at", "max_expires_at"):
        assert getattr(found, field) == pytest.approx(getattr(expected, field), abs=0.001), field


async def test_a_created_session_is_found_by_its_token_hash(harness: Harness) -> None:
    session = harness.session(user_id=7)
    await harness.store.create(harness.token(1, user_id=7), session, session_key="sk-1")

    assert_same(await harness.store.get(harness.token(1, user_id=7)), session)


async def test_a_receipt_is_recorded_in_the_registry_with_the_session(harness: Harness) -> None:
    """Login's one write: the session and the code's exchange (in one script on one Redis
    server or through Sentinel; after the session on a cluster, whose slots differ)."""
    wechat = WeChatSession("o-7", "c2Vzc2lvbi1rZXktMTYhIQ==", "u-7")
    session = harness.session(user_id=7)

    await harness.store.create(
        harness.token(1, user_id=7), session, session_key=wechat.session_key,
        receipt=CodeReceipt(b"code-hash-1", wechat, ttl=60),
    )

    assert await harness.registry.peek(b"code-hash-1") == ClaimDone(wechat)
    assert_same(await harness.store.get(harness.token(1, user_id=7)), session)


async def test_a_receipt_lives_its_own_ttl_not_the_session_s(harness: Harness) -> None:
    wechat = WeChatSession("o-7", "c2Vzc2lvbi1rZXktMTYhIQ==", None)
    await harness.store.create(
        harness.token(1), harness.session(ttl=60), session_key=wechat.session_key,
        receipt=CodeReceipt(b"code-hash-2", wechat, ttl=0.2),
    )

    await harness.wait(0.3)

    assert await harness.registry.peek(b"code-hash-2") is None
    assert await harness.store.get(harness.token(1)) is not None


async def test_an_unknown_token_hash_finds_nothing(harness: Harness) -> None:
    await harness.store.create(harness.token(1), harness.session(), session_key="sk-1")

    assert await harness.store.get(harness.token(2)) is None


async def test_a_session_is_gone_once_it_expires(harness: Harness) -> None:
    await harness.store.create(harness.token(1), harness.session(ttl=0.2), session_key="sk-1")
    await harness.store.create(harness.token(2), harness.session(ttl=60), session_key="sk-2")

    await harness.wait(0.3)

    assert await harness.store.get(harness.token(1)) is None
    assert await harness.store.get(harness.token(2)) is not None
    assert await harness.store.delete(harness.token(1)) is None


async def test_extend_moves_the_expiry_of_a_live_session(harness: Harness) -> None:
    session = harness.session(ttl=0.2)
    await harness.store.create(harness.token(1), session, session_key="sk-1")
    new_expiry = harness.clock.now() + 120.5

    await harness.store.extend(harness.token(1), new_expiry)
    await harness.wait(0.3)

    found = await harness.store.get(harness.token(1))
    assert found is not None
    assert found.expires_at == pytest.approx(new_expiry, abs=0.001)
    assert found.max_expires_at == pytest.approx(session.max_expires_at, abs=0.001)


async def test_extending_an_unknown_session_creates_nothing(harness: Harness) -> None:
    await harness.store.extend(harness.token(1), harness.clock.now() + 60)

    assert await harness.store.get(harness.token(1)) is None


async def test_delete_returns_the_session_and_ends_only_that_one(harness: Harness) -> None:
    first, second = harness.session(user_id=1), harness.session(user_id=1, ttl=900)
    await harness.store.create(harness.token(1), first, session_key="sk-1")
    await harness.store.create(harness.token(2), second, session_key="sk-2")

    assert_same(await harness.store.delete(harness.token(1)), first)

    assert await harness.store.get(harness.token(1)) is None
    assert_same(await harness.store.get(harness.token(2)), second)
    assert await harness.store.delete(harness.token(1)) is None
    assert await harness.store.delete_all(1) == 1


async def test_deleting_an_unknown_session_returns_none(harness: Harness) -> None:
    assert await harness.store.delete(harness.token(1)) is None


async def test_delete_all_ends_every_session_of_the_user_from_any_instance(
    harness: Harness,
) -> None:
    await harness.store.create(harness.token(1), harness.session(user_id=1), session_key="sk-1")
    await harness.store.create(
        harness.token(3, user_id=2), harness.session(user_id=2), session_key="sk-3"
    )
    async with harness.another_store() as other_worker:
        await other_worker.create(harness.token(2), harness.session(user_id=1), session_key="sk-2")

        assert await harness.store.delete_all(1) == 2

        assert await other_worker.get(harness.token(2)) is None
    assert await harness.store.get(harness.token(1)) is None
    assert await harness.store.get(harness.token(2)) is None
    assert await harness.store.get(harness.token(3, user_id=2)) is not None
    assert await harness.store.delete_all(1) == 0


async def test_delete_all_does_not_count_expired_sessions(harness: Harness) -> None:
    await harness.store.create(harness.token(1), harness.session(ttl=0.2), session_key="sk-1")
    await harness.store.create(harness.token(2), harness.session(ttl=60), session_key="sk-2")
    await harness.wait(0.3)

    assert await harness.store.delete_all(1) == 1


async def test_session_key_is_the_newest_one_of_the_user(harness: Harness) -> None:
    await harness.store.create(harness.token(1), harness.session(user_id=1), session_key="old+/=")
    await harness.store.create(harness.token(2), harness.session(user_id=1), session_key="new+/=")
    await harness.store.create(
        harness.token(3, user_id=2), harness.session(user_id=2), session_key="other"
    )

    assert await harness.store.session_key(1) == "new+/="
    assert await harness.store.session_key(2) == "other"
    assert await harness.store.session_key(3) is None


async def test_session_key_expires_with_the_max_age_of_the_newest_session(
    harness: Harness,
) -> None:
    await harness.store.create(harness.token(1), harness.session(max_age=60), session_key="old")
    await harness.store.create(
        harness.token(2), harness.session(ttl=0.2, max_age=0.2), session_key="new"
    )

    await harness.wait(0.3)

    assert await harness.store.session_key(1) is None
    assert await harness.store.get(harness.token(1)) is not None


async def test_expired_entries_leave_the_user_index_at_the_next_login(harness: Harness) -> None:
    await harness.store.create(harness.token(2), harness.session(), session_key="b")
    await harness.store.create(
        harness.token(1), harness.session(ttl=0.2, max_age=0.2), session_key="a"
    )
    assert await harness.index_size(1) == 2

    await harness.wait(0.3)
    await harness.store.create(harness.token(3), harness.session(), session_key="c")

    assert await harness.index_size(1) == 2
    assert await harness.store.session_key(1) == "c"


async def test_extending_a_session_does_not_extend_the_session_key(harness: Harness) -> None:
    # Not 0.2 s: on a loaded machine the session could expire (in Redis's real time) before
    # the extend reaches it, and the test would fail for the wrong reason.
    await harness.store.create(
        harness.token(1), harness.session(ttl=1.0, max_age=1.0), session_key="k"
    )

    await harness.store.extend(harness.token(1), harness.clock.now() + 60)
    await harness.wait(1.1)

    assert await harness.store.session_key(1) is None
    assert await harness.store.get(harness.token(1)) is not None


async def test_a_session_key_outlives_the_deleted_sessions(harness: Harness) -> None:
    await harness.store.create(harness.token(1), harness.session(), session_key="k+/=")
    await harness.store.delete_all(1)

    assert await harness.store.session_key(1) == "k+/="


@pytest.mark.parametrize("session_key", ["c2Vzc2lvbi1rZXktMTYhIQ==", "Zm9v", "x" * 24, "钥匙"])
async def test_any_session_key_comes_back_as_given(harness: Harness, session_key: str) -> None:
    await harness.store.create(harness.token(1), harness.session(), session_key=session_key)

    assert await harness.store.session_key(1) == session_key


async def test_concurrent_logins_of_one_user_from_two_instances_all_count(
    harness: Harness,
) -> None:
    async with harness.another_store() as other_worker:
        await asyncio.gather(
            *(
                (harness.store if n % 2 else other_worker).create(
                    harness.token(n), harness.session(), session_key=f"sk-{n}"
                )
                for n in range(20)
            )
        )

    assert await harness.index_size(1) == 20
    assert await harness.store.delete_all(1) == 20


async def test_ping_answers_when_the_store_is_up(harness: Harness) -> None:
    await harness.store.ping()


@pytest.fixture(params=REDIS_KINDS)
def backend(request: pytest.FixtureRequest) -> RedisBackend:
    return redis_backend(request, request.param)


@pytest.mark.integration
async def test_a_burst_larger_than_the_pool_waits_for_connections(backend: RedisBackend) -> None:
    """Every kind of client queues commands when its connections are all busy (redis-py's
    cluster and Sentinel pools would fail them at once)."""
    options = {"max_connections": 3}
    async with backend.open_another(**options) as client:
        store = RedisSessionStore(client)
        tokens = [_token(store, n) for n in range(60)]
        await asyncio.gather(*(store.create(t, _session_now(), session_key="k") for t in tokens))

        found = await asyncio.gather(*(store.get(t) for t in tokens))

    assert all(session is not None for session in found)


@pytest.mark.integration
async def test_a_user_with_one_session_costs_redis_at_most_200_bytes(redis_client: Redis) -> None:
    """Issue 4's budget: at most 200 bytes per session in ``INFO memory`` (client buffers left
    out), the logout-everywhere index and the newest ``session_key`` included. 2,000 users with
    one session each: ~176 bytes each (README has 10,000 users and other mixes)."""
    store = RedisSessionStore(redis_client)
    users = range(1, 2_001)

    async def log_in_every_user() -> None:
        for start in range(users.start, users.stop, 50):
            await asyncio.gather(
                *(
                    store.create(
                        hash_token(routed_token(store.token_route(u), secrets.token_urlsafe(32))),
                        replace(_session_now(), user_id=u),
                        session_key="c2Vzc2lvbi1rZXktMTYhIQ==",  # WeChat's form: base64 of 16 bytes
                    )
                    for u in range(start, min(start + 50, users.stop))
                )
            )

    await log_in_every_user()  # a fresh Redis allocates memory for good at its first keys
    await redis_client.flushall()
    before = await _used_memory(redis_client)

    await log_in_every_user()

    assert await redis_client.dbsize() == len(users)  # one key per user, index included
    per_session = (await _used_memory(redis_client) - before) / len(users)
    assert per_session <= 200, per_session


async def _used_memory(client: Redis) -> int:
    """``used_memory`` without client buffers, once Redis has settled: the connections that did
    the work are closed first (Redis resizes a busy client's buffers a moment later)."""
    await client.connection_pool.disconnect()
    previous = None
    for _ in range(15):
        await asyncio.sleep(0.2)
        info = await client.info("memory")
        used = int(info["used_memory"]) - int(info["mem_clients_normal"])
        if used == previous:
            break
        previous = used
    return used


@pytest.mark.integration
async def test_an_unreachable_redis_is_reported_as_unavailable_quickly() -> None:
    async with asynccontextmanager(open_redis)(f"redis://127.0.0.1:{free_port()}/0") as client:
        store = RedisSessionStore(client)
        started = time.monotonic()
        async with asyncio.timeout(2.5):
            with pytest.raises(StoreUnavailable):
                await store.ping()
            with pytest.raises(StoreUnavailable):
                await store.get(_token(store))
            with pytest.raises(StoreUnavailable):
                await store.create(_token(store), _session_now(), session_key="sk")
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
                await store.get(_token(store))
    finally:
        redis_server.start()

    await store.ping()
    assert await store.get(_token(store)) is None


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
            await store.get(_token(store))
        assert time.monotonic() - started < 1.8
    finally:
        os.kill(redis_server.pid, signal.SIGCONT)

    await store.ping()


def _token(store: SessionStore, n: int = 1) -> bytes:
    return hash_token(routed_token(store.token_route(1), f"token-{n}"))


def _session_now() -> LoginSession:
    now = time.time()
    return LoginSession(1, now, now, now + 60, now + 600)
