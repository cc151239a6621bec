"""What Redis holds never reveals a login token."""

from __future__ import annotations

import base64
import secrets
import time

import pytest
from redis.asyncio import Redis

from adapters.redis import RedisSessionStore
from domain.entities import LoginSession
from domain.tokens import hash_token

pytestmark = pytest.mark.integration


def _forms(token: str) -> list[bytes]:
    """The token and the encodings it could leak in, also those of its random bytes."""
    raw = token.encode()
    random_bytes = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    forms = [raw, random_bytes]
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
    tokens = [secrets.token_urlsafe(32) for _ in range(5)]
    for n, token in enumerate(tokens):
        session = LoginSession(n % 2 + 1, now - 10, now, now + 600, now + 3600)
        await store.create(hash_token(token), session, session_key=f"sk-{n}")
    await store.delete(hash_token(tokens[0]))

    stored = await _everything_in(redis_client)

    assert any(b"sk-4" in blob for blob in stored), "the scan reads the stored values"
    for token in tokens:
        for form in _forms(token):
            assert not any(form in blob for blob in stored)
