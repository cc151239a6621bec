"""A write whose reply is lost succeeds for its caller (the client repeats it once, and the
repeat must not see the first attempt's effect as someone else's).

Between the adapters and a real Redis, a proxy loses one reply and closes the connection after
Redis ran the command; ``open_redis``'s client then sends the command again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from dependency_injector import providers

from adapters.apps import PlatformClients
from adapters.memory import InMemoryUserRepository, InMemoryWeChatGateway
from adapters.redis import RedisCodeExchangeRegistry, RedisSessionStore, open_redis
from adapters.redis.access_token import RedisAccessTokenCache
from adapters.redis.client import RedisClient
from domain.code_exchange import CodeExchange, ExchangeTimings
from domain.entities import LoginSession, WeChatSession
from domain.ports import ClaimState, NewLogin
from domain.tokens import hash_code
from tests.fixtures.fault_proxy import FaultProxy, fault_proxy
from tests.fixtures.redis_server import RedisServer
from tests.serving import make_container, serve

pytestmark = pytest.mark.integration

SECRET = "lost-replies test session secret, 32 characters"


@pytest.fixture
async def proxied(redis_server: RedisServer, redis_url: str) -> AsyncIterator[
    tuple[FaultProxy, RedisClient]
]:
    async with fault_proxy("127.0.0.1", redis_server.port) as proxy, asynccontextmanager(
        open_redis
    )(f"redis://127.0.0.1:{proxy.port}/0") as client:
        await client.ping()  # the connection's handshake is done before a reply is lost
        yield proxy, client


def _login(user_id: int = 1) -> NewLogin:
    now = time.time()
    session = LoginSession(user_id, now, now, now + 600, now + 3600)
    return NewLogin(session, "sk", hash_code(f"code-{now}"), WeChatSession("o", "sk"))


async def test_a_code_claim_whose_reply_is_lost_still_exchanges_the_code(
    proxied: tuple[FaultProxy, RedisClient],
) -> None:
    """Without an owner id the repeated claim found its own pending claim, waited on itself
    and gave up without asking WeChat (504)."""
    proxy, client = proxied
    wechat = InMemoryWeChatGateway()
    wechat.add_code("code-1", "openid-alice")
    registry = CountingRegistry(client)
    exchange = CodeExchange(
        gateway=wechat,
        registry=registry,
        timings=ExchangeTimings(pending_ttl=1.0, poll_interval=0.01),
    )

    proxy.lose_a_reply()
    session = await exchange.exchange("code-1")

    assert proxy.lost == 1
    assert session.openid == "openid-alice"
    assert wechat.calls == ["code-1"]
    assert registry.peeks == 0  # it knew at once that the claim was its own


class CountingRegistry(RedisCodeExchangeRegistry):
    peeks = 0

    async def peek(self, code_hash: bytes) -> ClaimState | None:
        self.peeks += 1
        return await super().peek(code_hash)


@pytest.mark.parametrize("everywhere", [False, True])
async def test_a_logout_whose_reply_is_lost_still_answers_that_the_token_was_live(
    proxied: tuple[FaultProxy, RedisClient], everywhere: bool
) -> None:
    """The repeat found the token already gone and answered 401 to a logout that worked."""
    proxy, client = proxied
    store = RedisSessionStore(client, session_secret=SECRET)
    token, other = await store.record_login(_login()), await store.record_login(_login())
    await store.logout("A" * 14 + ".warm-up", everywhere=False)  # the script is known

    proxy.lose_a_reply()
    assert await store.logout(token, everywhere=everywhere) is not None

    assert proxy.lost == 1
    assert await store.get(token) is None
    assert (await store.get(other) is None) is everywhere
    assert await store.logout(token, everywhere=everywhere) is None  # a new logout: 401


async def test_a_session_revoke_whose_reply_is_lost_still_answers_that_it_was_live(
    proxied: tuple[FaultProxy, RedisClient],
) -> None:
    """``DELETE /me/sessions/{id}``: the repeat found the session already gone and answered 404
    to a revoke that worked."""
    proxy, client = proxied
    store = RedisSessionStore(client, session_secret=SECRET)
    token, other = await store.record_login(_login()), await store.record_login(_login())
    session_id = store.session_id(token)
    assert session_id is not None
    user_id = _login().session.user_id
    assert await store.revoke(user_id, session_id[:14] + "A" * 11) is False  # script known

    proxy.lose_a_reply()
    assert await store.revoke(user_id, session_id) is True

    assert proxy.lost == 1
    assert await store.get(token) is None
    assert await store.get(other) is not None
    assert await store.revoke(user_id, session_id) is False  # a new revoke: 404


async def test_a_login_whose_reply_is_lost_still_gets_a_working_token(
    proxied: tuple[FaultProxy, RedisClient],
) -> None:
    proxy, client = proxied
    store = RedisSessionStore(client, session_secret=SECRET)
    await store.record_login(_login(2))  # the script is known

    proxy.lose_a_reply()
    token = await store.record_login(_login())

    assert proxy.lost == 1
    assert await store.get(token) is not None


async def test_an_access_token_lock_whose_reply_is_lost_is_still_held_by_its_taker(
    proxied: tuple[FaultProxy, RedisClient],
) -> None:
    """The repeat found the lock taken (by itself) and the caller waited 5 s, then 503."""
    proxy, client = proxied
    cache = RedisAccessTokenCache(client, appid="wx-lost-replies")

    proxy.lose_a_reply()
    assert await cache.try_lock("owner-a", ttl=10) is True

    assert proxy.lost == 1
    assert await cache.try_lock("owner-b", ttl=10) is False
    await cache.unlock("owner-a")
    assert await cache.try_lock("owner-b", ttl=10) is True


@pytest.mark.parametrize("replies", [1, 2, 3])
async def test_log_out_everywhere_cut_after_any_reply_leaves_all_or_none(
    redis_server: RedisServer, redis_url: str, replies: int
) -> None:
    """Redis becomes unreachable right after the logout's ``replies``-th reply: the client then
    either got 204 and every token of the user is dead, or 503 and every token still works, so
    that sending the logout again ends them all (a first version ended this token and answered
    204 while the user's other tokens lived on). The deployment may hold 0.1.0 sessions (a
    WeChat app), so the logout also ends those, in a step before its own."""
    async with fault_proxy("127.0.0.1", redis_server.port) as proxy:
        container = make_container({"REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"})
        wechat = InMemoryWeChatGateway()
        container.platforms.override(providers.Object({"default": PlatformClients(wechat)}))
        container.user_repository.override(providers.Object(InMemoryUserRepository()))
        async with serve(container) as url, aiohttp.ClientSession(base_url=url) as http:
            tokens = []
            for n in range(4):
                wechat.add_code(f"code-{n}", "openid-alice" if n < 3 else "openid-bob")
                async with http.post("/api/v1/login", json={"code": f"code-{n}"}) as reply:
                    tokens.append((await reply.json())["token"])
            *alice, bob = tokens
            await _status(http, "POST", "/api/v1/logout", bob, {"all": True})  # scripts known

            proxy.cut_after(replies)
            status = await _status(http, "POST", "/api/v1/logout", alice[0], {"all": True})
            proxy.heal()

            alive = [await _status(http, "GET", "/api/v1/me", token) == 200 for token in alice]
            assert (status, alive) in [(204, [False] * 3), (503, [True] * 3)], (status, alive)
            if status == 503:  # the client sends it again
                again = await _status(http, "POST", "/api/v1/logout", alice[0], {"all": True})
                alive = [await _status(http, "GET", "/api/v1/me", t) == 200 for t in alice]
                assert (again, alive) == (204, [False] * 3)


async def _status(
    http: aiohttp.ClientSession, method: str, path: str, token: str, body: object = None
) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, path, headers=headers, json=body) as reply:
        return reply.status
