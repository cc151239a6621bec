"""What Redis holds never reveals a login token, and a token's route reveals nothing either."""

from __future__ import annotations

import base64
import secrets
import time
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from adapters.redis import RedisSessionStore, open_redis
from domain.entities import LoginSession
from domain.tokens import hash_token, routed_token
from tests.fixtures.redis_server import free_port

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


async def test_no_token_appears_in_any_key_or_value(redis_client: Redis) -> None:
    store = RedisSessionStore(redis_client)
    now = time.time()
    users = [n % 2 + 1 for n in range(5)]
    tokens = [routed_token(store.token_route(u), secrets.token_urlsafe(32)) for u in users]
    for n, (user_id, token) in enumerate(zip(users, tokens, strict=True)):
        session = LoginSession(user_id, now - 10, now, now + 600, now + 3600)
        await store.create(hash_token(token), session, session_key=f"sk-{n}")
    await store.delete(hash_token(tokens[0]))

    stored = await _everything_in(redis_client)

    assert any(b"sk-4" in blob for blob in stored), "the scan reads the stored values"
    for token in tokens:
        for form in _forms(token):
            assert not any(form in blob for blob in stored)


def _session(user_id: int) -> LoginSession:
    now = time.time()
    return LoginSession(user_id, now - 10, now, now + 600, now + 3600)


async def test_routes_differ_by_user_and_by_secret_and_hold_no_user_id(redis_client: Redis) -> None:
    ours = RedisSessionStore(redis_client, route_secret=b"ours")
    theirs = RedisSessionStore(redis_client, route_secret=b"theirs")
    user_id = 4_660  # 0x1234

    routes = {ours.token_route(user_id), ours.token_route(user_id + 1), theirs.token_route(user_id)}

    assert len(routes) == 3
    for route in routes:
        assert len(route) == 22
        for form in ("4660", "1234", base64.urlsafe_b64encode(b"\x12\x34").decode()[:3]):
            assert form not in route


async def test_a_token_made_under_another_secret_finds_nothing(redis_client: Redis) -> None:
    """After a change of secret old tokens stop working; they never reach another user."""
    before = RedisSessionStore(redis_client, route_secret=b"before")
    after = RedisSessionStore(redis_client, route_secret=b"after")
    token = hash_token(routed_token(before.token_route(1), secrets.token_urlsafe(32)))
    await before.create(token, _session(1), session_key="sk")
    await after.create(
        hash_token(routed_token(after.token_route(2), "x" * 43)), _session(2), session_key="sk2"
    )

    assert await before.get(token) is not None
    assert await after.get(token) is None
    assert await after.delete(token) is None
    assert await before.get(token) is not None


async def test_a_forged_route_is_refused_without_asking_redis() -> None:
    """No Redis answers on this port: a route that does not decrypt is refused before any call
    (a real route would be ``StoreUnavailable``)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    async with asynccontextmanager(open_redis)(url, socket_timeout=0.2) as client:
        store = RedisSessionStore(client)
        route = store.token_route(1)
        other = "A" if route[5] != "A" else "B"
        for forged in ("A" * 22, route[:5] + other + route[6:], route[:-1] + "B", "no-route", ""):
            token = hash_token(f"{forged}.{secrets.token_urlsafe(32)}")
            assert await store.get(token) is None
            assert await store.delete(token) is None
            await store.extend(token, time.time() + 60)
