"""The Redis client resource (one server, a Redis Cluster, or a master found through Sentinels),
and the translation of its failures into domain errors."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import (
    ClusterDownError,
    RedisClusterException,
    RedisError,
    SlotNotCoveredError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from domain.errors import StoreUnavailable

RedisClient = Redis | RedisCluster
"""What the adapters are given: every command they use, and scripts, work on both."""


async def open_redis(
    url: str | None = None,
    *,
    cluster: bool = False,
    sentinels: str | None = None,
    sentinel_master: str | None = None,
    socket_timeout: float = 1.0,
    connect_timeout: float = 1.0,
    max_connections: int = 64,
) -> AsyncIterator[RedisClient]:
    """One pooled client per worker, for ``providers.Resource``; closed with ``aclose()``.

    - ``url`` alone: one server.
    - ``cluster``: ``url`` names any node of a Redis Cluster; the client learns the others and
      the slot map from it, follows ``MOVED``, and reloads the map when a node fails.
    - ``sentinels`` (``host:port,host:port``) and ``sentinel_master``: the master's address is
      asked of the Sentinels, again after a failover; ``url`` is not used.

    Timeouts are short so a dead Redis answers ``StoreUnavailable`` in about a second rather than
    hanging requests. A broken connection is retried once, at once, on a fresh connection: that
    absorbs the stale pooled connections after a restart or failover without a retry storm.
    Timeouts are not retried. At most ``max_connections`` commands are in flight (per node for
    one server and Sentinel, in all for a cluster); the next waits up to ``socket_timeout``.
    Keys and values are bytes (``decode_responses=False``).
    """
    common: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "decode_responses": False,
    }
    retry_once = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    if sentinels:
        if not sentinel_master:
            raise ValueError("sentinels need the master's name")
        manager = Sentinel(
            parse_addresses(sentinels),
            sentinel_kwargs={**common},
            retry=retry_once,
            **common,
        )
        client: RedisClient = manager.master_for(
            sentinel_master,
            connection_pool_class=_SentinelPool,
            max_connections=max_connections,
            timeout=socket_timeout,
        )
        try:
            yield client
        finally:
            await client.aclose()
            for sentinel in manager.sentinels:
                await sentinel.aclose()
        return
    if url is None:
        raise ValueError("a Redis URL is needed")
    if cluster:
        client = _Cluster.from_url(
            url,
            max_connections=max_connections,
            require_full_coverage=False,
            retry=Retry(NoBackoff(), 1),
            **common,
        )
        # Learn the nodes now: redis-py 8.1 breaks connections when a burst of first commands
        # all trigger the lazy discovery at once. A cluster down at start is found later.
        with suppress(RedisError, RedisClusterException, OSError):
            await client.initialize()
    else:
        pool = BoundedPool.from_url(
            url, max_connections=max_connections, timeout=socket_timeout, retry=retry_once, **common
        )
        client = Redis.from_pool(pool)
    try:
        yield client
    finally:
        await client.aclose()


class BoundedPool(ConnectionPool):
    """One server's connections: at most ``max_connections``, the next command waits up to
    ``timeout`` seconds for one to come back (redis-py's plain pool fails at once).

    It replaces redis-py's ``BlockingConnectionPool``, which costs 7 % of a login's CPU (README,
    "Performance"): a condition and a lock around every check-out and check-in, a timeout, a
    ``can_read`` poll of the socket at every check-out, and five awaited observability hooks.
    Here a check-out is a ``pop`` and a check-in an ``append``. Nothing is lost by not polling:
    redis-py closes a connection whose command was cut short (any ``BaseException`` while
    sending or reading), so a pooled connection has no reply pending; one the server closed
    fails its next command as a ``ConnectionError``, which the client's retry sends once more on
    a fresh connection, as it would have after a poll.

    Waiters are served in order; a command arriving while a returned connection is on its way
    to a waiter may take it first (as with redis-py's pool), and that waiter then stays first.
    """

    def __init__(self, *, timeout: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._wait_timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _exhausted(self) -> bool:
        return (
            not self._available_connections
            and len(self._in_use_connections) >= self.max_connections
        )

    async def get_connection(self, *_args: Any, **_options: Any) -> Any:
        if self._exhausted():
            await self._wait_for_a_connection()
        connection = self.get_available_connection()
        try:
            if not connection.is_connected:
                await connection.connect()
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def _wait_for_a_connection(self) -> None:
        loop = asyncio.get_running_loop()
        queue = self._waiters.append
        try:
            async with asyncio.timeout(self._wait_timeout):
                while self._exhausted():
                    waiter = loop.create_future()
                    queue(waiter)
                    # Woken but beaten to the connection (a new command took it first): wait
                    # again at the head of the line, not at its end.
                    queue = self._waiters.appendleft
                    try:
                        await waiter
                    except BaseException:
                        if waiter.done() and not waiter.cancelled():
                            self._wake_one()  # woken, then cancelled: pass the turn on
                        raise
        except TimeoutError:
            raise RedisConnectionError("No connection available.") from None

    async def release(self, connection: Any) -> None:
        if connection not in self._in_use_connections:
            return  # released twice, or not ours: never pooled twice (two commands, one socket)
        self._in_use_connections.remove(connection)
        if connection.should_reconnect():
            await connection.disconnect()
        self._available_connections.append(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class _SentinelPool(SentinelConnectionPool, BoundedPool):
    """The master's pool, found through the Sentinels, and waiting like one server's pool when
    all its connections are busy."""


class _Cluster(RedisCluster):
    """redis-py's cluster client, with two changes for when a node is lost:

    - a command that met a refused or broken connection is tried once more, after the slot map
      is reloaded (a failover moved the slots); one that timed out is not, so a hung node costs
      one ``socket_timeout``, not two;
    - the slot map is reloaded at most once per ``_RELOAD_SECONDS``: every failed command asks
      for a reload (tens of ms each: ``CLUSTER SLOTS`` and ``COMMAND``), and while a master is
      down the requests for its keys would otherwise keep every other request waiting behind
      back-to-back reloads. ``MOVED`` answers still correct single slots at once;
    - at most ``max_connections`` commands are in flight, the others wait up to
      ``socket_timeout`` (as with one server's blocking pool), where redis-py would fail a
      command at once when a node's pool is full.
    """

    ERRORS_ALLOW_RETRY = (RedisConnectionError, ClusterDownError, SlotNotCoveredError)
    _RELOAD_SECONDS = 1.0
    _reloaded_at: float | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_flight = asyncio.Semaphore(kwargs.get("max_connections", 64))
        self._wait = kwargs.get("socket_timeout") or 1.0

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        async with asyncio.timeout(self._wait):
            await self._in_flight.acquire()
        try:
            return await super().execute_command(*args, **kwargs)
        finally:
            self._in_flight.release()

    async def initialize(self, *args: Any, **kwargs: Any) -> _Cluster:
        now = asyncio.get_running_loop().time()
        if self._reloaded_at is not None and now - self._reloaded_at < self._RELOAD_SECONDS:
            self._initialize = False  # the map is fresh: use it
            return self
        self._reloaded_at = None  # stays so if the reload fails: the next command tries again
        await super().initialize(*args, **kwargs)
        if not self._initialize:
            self._reloaded_at = now
        return self

    async def aclose(self) -> None:
        self._reloaded_at = None
        await super().aclose()


def parse_addresses(addresses: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` (IPv6 hosts in brackets) as (host, port) pairs."""
    pairs = []
    for address in addresses.split(","):
        host, _, port = address.strip().rpartition(":")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn driver failures (timeouts included: ``TimeoutError`` is an ``OSError``; the cluster
    client's own errors such as ``SlotNotCoveredError`` too) into ``StoreUnavailable``; the cause
    is chained, never copied into the message."""
    try:
        yield
    except (RedisError, RedisClusterException, OSError) as exc:
        raise StoreUnavailable() from exc


def to_ms(seconds: float) -> int:
    """Unix seconds to the whole milliseconds Redis keeps (rounded, the same way everywhere)."""
    return round(seconds * 1000)
