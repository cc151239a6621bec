"""The Redis client resource, and the translation of its failures into domain errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from domain.errors import StoreUnavailable


async def open_redis(
    url: str,
    *,
    socket_timeout: float = 1.0,
    connect_timeout: float = 1.0,
    max_connections: int = 64,
) -> AsyncIterator[Redis]:
    """One pooled client per worker, for ``providers.Resource``; closed with ``aclose()``.

    Timeouts are short so a dead Redis answers ``StoreUnavailable`` in about a second rather than
    hanging requests. A broken connection is retried once, at once, on a fresh connection: that
    absorbs the stale pooled connections after a Redis restart without a retry storm. Timeouts
    are not retried. When every connection is busy, a request waits up to ``socket_timeout``.
    Keys and values are bytes (``decode_responses=False``).
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        decode_responses=False,
    )
    client = Redis.from_pool(pool)
    try:
        yield client
    finally:
        await client.aclose()


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn driver failures (timeouts included: ``TimeoutError`` is an ``OSError``) into
    ``StoreUnavailable``; the cause is chained, never copied into the message."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreUnavailable() from exc


def to_ms(seconds: float) -> int:
    """Unix seconds to the whole milliseconds Redis keeps (rounded, the same way everywhere)."""
    return round(seconds * 1000)
