"""The Redis client resource (one server, a Redis Cluster, or a master found through Sentinels),
and the translation of its failures into domain errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import parse_url
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
from redis.typing import EncodableT

from adapters.redis.pool import BoundedPool
from domain.errors import StoreUnavailable

__all__ = ["BoundedPool", "RedisClient", "open_redis", "parse_addresses", "store_errors", "to_ms"]

RedisClient = Redis | RedisCluster
"""What the adapters are given: every command they use, and scripts, work on both."""


async def open_redis(
    url: str | None = None,
    *,
    cluster: bool = False,
    sentinels: str | None = None,
    sentinel_master: str | None = None,
    sentinel_password: str | None = None,
    socket_timeout: float = 1.0,
    connect_timeout: float = 1.0,
    deadline: float = 1.5,
    max_connections: int = 64,
) -> AsyncIterator[RedisClient]:
    """One pooled client per worker, for ``providers.Resource``; closed with ``aclose()``.

    - ``url`` alone: one server.
    - ``cluster``: ``url`` names any node of a Redis Cluster; the client learns the others and
      the slot map from it, follows ``MOVED``, and reloads the map when a node fails.
    - ``sentinels`` (``host:port,host:port``) and ``sentinel_master``: the master's address is
      asked of the Sentinels (with ``sentinel_password`` if they need one), again after a
      failover; of ``url``, if given, only the master's user, password and database are used.

    Timeouts are short so a dead Redis answers ``StoreUnavailable`` in about a second rather than
    hanging requests, and every command (with its wait for a connection, the connection, the
    master's discovery and the retry below) has ``deadline`` seconds in all: however many
    Sentinels are dead or silent, a command fails within it. A broken connection is retried
    once, at once, on a fresh connection: that absorbs the stale pooled connections after a
    restart or failover without a retry storm (Sentinels are asked so too). Timeouts are not
    retried. At most ``max_connections`` commands are in flight (per node for
    one server and Sentinel, in all for a cluster); the next waits up to ``socket_timeout``.
    Keys and values are bytes (``decode_responses=False``).
    """
    retry_once = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    client: RedisClient
    if sentinels:
        if not sentinel_master:
            raise ValueError("sentinels need the master's name")
        master = parse_url(url) if url else {}
        manager = Sentinel(  # type: ignore[no-untyped-call]
            parse_addresses(sentinels),
            sentinel_kwargs={
                "socket_timeout": socket_timeout,
                "socket_connect_timeout": connect_timeout,
                "password": sentinel_password,
                "retry": retry_once,  # redis-py's default: 10 attempts per Sentinel
            },
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            decode_responses=False,
            retry=retry_once,
            username=master.get("username"),
            password=master.get("password"),
            db=master.get("db", 0),
        )
        master_client = manager.master_for(
            sentinel_master,
            redis_class=_Client,
            connection_pool_class=_SentinelPool,
            max_connections=max_connections,
            timeout=socket_timeout,
        )
        assert isinstance(master_client, _Client)
        master_client.deadline = deadline
        client = master_client
        try:
            yield client
        finally:
            await client.aclose()
            await manager.aclose()
        return
    if url is None:
        raise ValueError("a Redis URL is needed")
    if cluster:
        cluster_client = _Cluster.from_url(
            url,
            max_connections=max_connections,
            require_full_coverage=False,
            retry=Retry(NoBackoff(), 1),
            socket_timeout=socket_timeout,
            socket_connect_timeout=connect_timeout,
            decode_responses=False,
        )
        assert isinstance(cluster_client, _Cluster)
        cluster_client.limit(max_connections, wait=socket_timeout, deadline=deadline)
        # Learn the nodes now: redis-py 8.1 breaks connections when a burst of first commands
        # all trigger the lazy discovery at once. A cluster down at start is found later.
        with suppress(RedisError, RedisClusterException, OSError):
            await cluster_client.initialize()
        client = cluster_client
    else:
        pool = BoundedPool.from_url(
            url, max_connections=max_connections, timeout=socket_timeout, retry=retry_once,
            socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout,
            decode_responses=False,
        )
        one_client = _Client.from_pool(pool)
        assert isinstance(one_client, _Client)
        one_client.deadline = deadline
        client = one_client
    try:
        yield client
    finally:
        await client.aclose()


class _Client(Redis):
    """redis-py's client, each command bounded by ``deadline`` seconds in all."""

    deadline = 1.5

    async def execute_command(self, *args: EncodableT, **options: object) -> Any:
        async with asyncio.timeout(self.deadline):
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


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
      command at once when a node's pool is full;
    - each command, its wait and its retry included, is bounded by ``deadline`` seconds.
    """

    # No TimeoutError: a hung node is not asked again.
    ERRORS_ALLOW_RETRY = (  # type: ignore[assignment]
        RedisConnectionError, ClusterDownError, SlotNotCoveredError
    )
    _RELOAD_SECONDS = 1.0
    _reloaded_at: float | None = None
    _in_flight = asyncio.Semaphore(64)
    _wait = 1.0
    _deadline = 1.5

    def limit(self, max_in_flight: int, *, wait: float, deadline: float) -> None:
        """At most ``max_in_flight`` commands at once, a wait of ``wait`` seconds for a turn,
        and ``deadline`` seconds for a command in all."""
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._wait = wait
        self._deadline = deadline

    async def execute_command(self, *args: EncodableT, **kwargs: object) -> Any:
        async with asyncio.timeout(self._deadline):
            async with asyncio.timeout(self._wait):
                await self._in_flight.acquire()
            try:
                return await super().execute_command(*args, **kwargs)
            finally:
                self._in_flight.release()

    async def initialize(
        self,
        additional_startup_nodes_info: list[tuple[str, int]] | None = None,
        last_failed_node_name: str | None = None,
    ) -> _Cluster:
        now = asyncio.get_running_loop().time()
        if self._reloaded_at is not None and now - self._reloaded_at < self._RELOAD_SECONDS:
            self._initialize = False  # the map is fresh: use it
            return self
        self._reloaded_at = None  # stays so if the reload fails: the next command tries again
        await super().initialize(additional_startup_nodes_info, last_failed_node_name)
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
