"""The private members of Sanic and redis-py that the service relies on are still there.

``entrypoints/protocol.py`` reads and writes ``HttpProtocol._http`` and ``_time``;
``adapters/redis/pool.py`` and ``adapters/redis/client.py`` subclass redis-py's pool, Sentinel
pool and cluster client and use their private state. ``pyproject.toml`` bounds both packages
to the versions checked here; before raising a bound, run this file on the new version: a
failure names what moved.
"""

from __future__ import annotations

import inspect
from importlib.metadata import version

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, parse_url
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from sanic.http import Http
from sanic.http.constants import Stage
from sanic.server.protocols.base_protocol import SanicProtocol
from sanic.server.protocols.http_protocol import HttpProtocol

from adapters.redis.client import _Cluster, _SentinelPool
from adapters.redis.pool import BoundedPool


def _slots(cls: type) -> set[str]:
    return {name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())}


def _parameters(function: object) -> list[str]:
    assert callable(function)
    return list(inspect.signature(function).parameters)


def test_the_bounded_versions_are_the_installed_ones() -> None:
    assert version("sanic").startswith("25.12.")
    assert version("redis").startswith("8.1.")


# ---- Sanic: entrypoints/protocol.py ---------------------------------------------------------


def test_sanics_protocol_keeps_its_http_and_its_request_clock_where_we_reach_them() -> None:
    assert {"_http", "_time"} <= _slots(HttpProtocol)
    assert "_time" in _slots(SanicProtocol)
    assert {"stage", "keep_alive"} <= _slots(Http)
    assert Stage.IDLE in Stage
    for name in ("data_received", "close_if_idle"):
        assert callable(getattr(HttpProtocol, name))
    assert _parameters(HttpProtocol.data_received) == ["self", "data"]
    assert _parameters(HttpProtocol.close_if_idle) == ["self"]


def test_sanic_restarts_the_request_clock_on_every_packet_which_we_undo() -> None:
    """What ``ServiceHttpProtocol.data_received`` undoes: if Sanic stopped doing it, the
    override is no longer needed (and may be wrong)."""
    assert "self._time = current_time()" in inspect.getsource(HttpProtocol.data_received)


# ---- redis-py: adapters/redis/pool.py -------------------------------------------------------


def test_redis_pools_keep_the_state_that_bounded_pool_uses() -> None:
    pool = ConnectionPool(max_connections=3)
    assert isinstance(pool._available_connections, list)
    assert len(pool._in_use_connections) == 0
    assert pool.max_connections == 3
    assert _parameters(ConnectionPool.get_available_connection) == ["self"]
    assert inspect.iscoroutinefunction(ConnectionPool.get_connection)
    assert inspect.iscoroutinefunction(ConnectionPool.release)
    for name in ("connect", "disconnect"):
        assert inspect.iscoroutinefunction(getattr(AbstractConnection, name))
    assert callable(AbstractConnection.should_reconnect)
    assert isinstance(AbstractConnection.is_connected, property)


def test_bounded_pools_are_made_from_urls_and_as_the_sentinel_pool() -> None:
    pool = BoundedPool.from_url("redis://127.0.0.1:1/0", max_connections=2, timeout=0.25)
    assert (pool.max_connections, pool._wait_timeout) == (2, 0.25)
    assert _parameters(SentinelConnectionPool.__init__)[:3] == [
        "self", "service_name", "sentinel_manager"
    ]
    sentinel_pool = _SentinelPool(  # type: ignore[no-untyped-call]
        "master", None, max_connections=2, timeout=0.25
    )
    assert (sentinel_pool.max_connections, sentinel_pool._wait_timeout) == (2, 0.25)
    assert sentinel_pool.is_master


# ---- redis-py: adapters/redis/client.py -----------------------------------------------------


def test_sentinel_takes_its_own_keywords_and_makes_clients_of_our_classes() -> None:
    parameters = _parameters(Sentinel.__init__)
    assert parameters[:2] == ["self", "sentinels"]
    assert "sentinel_kwargs" in parameters
    assert {"redis_class", "connection_pool_class"} <= set(_parameters(Sentinel.master_for))
    assert inspect.iscoroutinefunction(Sentinel.aclose)
    assert {"username", "password", "db"} <= set(parse_url("redis://u:p@h:1/2"))


def test_the_cluster_client_keeps_the_members_that_our_subclass_overrides() -> None:
    assert "_initialize" in _slots(RedisCluster)
    assert isinstance(RedisCluster.ERRORS_ALLOW_RETRY, tuple)
    assert _parameters(RedisCluster.initialize) == [
        "self", "additional_startup_nodes_info", "last_failed_node_name"
    ]
    for name in ("execute_command", "initialize", "aclose"):
        assert inspect.iscoroutinefunction(getattr(RedisCluster, name))
        assert name in vars(_Cluster)
    assert inspect.iscoroutinefunction(Redis.execute_command)


def test_the_clients_are_still_made_by_the_class_methods_we_call_on_our_subclasses() -> None:
    assert inspect.ismethod(Redis.from_pool)
    assert inspect.ismethod(RedisCluster.from_url)
