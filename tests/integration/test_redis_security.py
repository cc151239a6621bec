"""What Redis holds never reveals a login token, a token's route reveals nothing either, and
every key is under the deployment's prefix."""

from __future__ import annotations

import base64
import secrets
import time
from contextlib import asynccontextmanager

import aiohttp
import pytest
from dependency_injector import providers
from redis.asyncio import Redis

from adapters.apps import PlatformClients
from adapters.memory import InMemoryUserRepository, InMemoryWeChatGateway
from adapters.redis import RedisSessionStore, open_redis
from domain.entities import LoginSession, WeChatSession
from domain.errors import StoreUnavailable
from domain.ports import NewLogin
from domain.tokens import hash_code
from tests.fixtures.redis_server import free_port
from tests.serving import make_container, serve

pytestmark = pytest.mark.integration


def _forms(token: str) -> list[bytes]:
    """The token and the encodings it could leak in, also those of its random part's bytes."""
    raw = token.encode()
    random_part = token.rpartition(".")[2]
    random_bytes = base64.urlsafe_b64decode(random_part + "=" * (-len(random_part) % 4))
    forms = [raw, random_part.encode(), random_bytes]
    for data in (raw, random_bytes):
        forms += [
            data.hex().encode(),
            data.hex().upper().encode(),
            base64.b64encode(data),
            base64.urlsafe_b64encode(data),
            base64.urlsafe_b64encode(data).rstrip(b"="),
        ]
    return forms


async def _everything_in(client: Redis) -> list[bytes]:
    """Every key, its serialized value, and its elements read the plain way."""
    found: list[bytes] = []
    async for key in client.scan_iter(count=1000):
        found += [key, await client.dump(key) or b""]
        kind = (await client.type(key)).decode()
        if kind == "string":
            found.append(await client.get(key) or b"")
        elif kind == "zset":
            found += [member for member, _ in await client.zrange(key, 0, -1, withscores=True)]
        elif kind == "hash":
            for field, value in (await client.hgetall(key)).items():
                found += [field, value]
        elif kind == "set":
            found += list(await client.smembers(key))
        elif kind == "list":
            found += await client.lrange(key, 0, -1)
    return found


SECRET = "security-test session secret, 32 characters at least"


def _login(user_id: int, session_key: str) -> NewLogin:
    now = time.time()
    session = LoginSession(user_id, now - 10, now, now + 600, now + 3600)
    code = secrets.token_urlsafe(8)
    return NewLogin(session, session_key, hash_code(code), WeChatSession("o", session_key))


async def test_no_token_appears_in_any_key_or_value(redis_client: Redis) -> None:
    store = RedisSessionStore(redis_client, session_secret=SECRET)
    tokens = [await store.record_login(_login(n % 2 + 1, f"sk-{n}")) for n in range(5)]
    await store.logout(tokens[0], everywhere=False)

    stored = await _everything_in(redis_client)

    assert any(b"sk-4" in blob for blob in stored), "the scan reads the stored values"
    for token in tokens:
        for form in _forms(token):
            assert not any(form in blob for blob in stored)


async def test_routes_differ_by_user_and_by_secret_and_hold_no_user_id(redis_client: Redis) -> None:
    ours = RedisSessionStore(redis_client, session_secret="ours " * 8)
    theirs = RedisSessionStore(redis_client, session_secret="theirs " * 8)
    user_id = 4_660  # 0x1234

    routes = {ours._route(user_id), ours._route(user_id + 1), theirs._route(user_id)}

    assert len(routes) == 3
    for route in routes:
        assert len(route) == 14
        for form in ("4660", "1234", base64.urlsafe_b64encode(b"\x12\x34").decode()[:3]):
            assert form not in route


async def test_a_token_made_under_another_secret_finds_nothing(redis_client: Redis) -> None:
    """After a change of secret old tokens stop working; they never reach another user."""
    before = RedisSessionStore(redis_client, session_secret="before " * 8)
    after = RedisSessionStore(redis_client, session_secret="after " * 8)
    token = await before.record_login(_login(1, "sk"))
    await after.record_login(_login(2, "sk2"))

    assert await before.get(token) is not None
    assert await after.get(token) is None
    assert await after.logout(token, everywhere=True) is None
    assert await before.get(token) is not None


async def test_a_malformed_token_is_refused_without_asking_redis() -> None:
    """No Redis answers on this port: a token without a well-formed route is refused before
    any call (a well-formed one would be ``StoreUnavailable``)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with asynccontextmanager(open_redis)(url, socket_timeout=0.2) as client:
        store = RedisSessionStore(client, session_secret=SECRET)
        forged_routes = ("A" * 22, "A" * 16, "A" * 13, "A" * 13 + "!", "A" * 13 + "B", "", "é" * 14)
        for forged in forged_routes:
            token = f"{forged}.{secrets.token_urlsafe(32)}"
            assert await store.get(token) is None
            assert await store.logout(token, everywhere=True) is None
            await store.extend(token, time.time() + 60)
        with pytest.raises(StoreUnavailable):
            await store.get(f"{'A' * 14}.{secrets.token_urlsafe(32)}")


async def test_every_key_the_service_writes_starts_with_redis_key_prefix(
    redis_url: str, redis_client: Redis
) -> None:
    """Two deployments (staging and production, or two apps) can share one Redis."""
    container = make_container({"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": "app-7:"})
    wechat = InMemoryWeChatGateway()
    wechat.add_code("code-1", "openid-alice")
    container.platforms.override(providers.Object({"default": PlatformClients(wechat)}))
    container.user_repository.override(providers.Object(InMemoryUserRepository()))
    async with serve(container) as url, aiohttp.ClientSession(base_url=url) as http:
        async with http.post("/api/v1/login", json={"code": "code-1"}) as reply:
            token = (await reply.json())["token"]
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get("/api/v1/me", headers=headers) as reply:
            assert reply.status == 200
        async with http.post("/api/v1/logout", headers=headers) as reply:
            assert reply.status == 204

    keys = [key async for key in redis_client.scan_iter(count=1000)]
    assert len(keys) >= 3  # the user's sessions, the code, the login rate
    assert all(key.startswith(b"app-7:") for key in keys), keys
