"""The connection pool of one Redis server (and of the master found through Sentinels)."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection, Connection
from redis.exceptions import ConnectionError as RedisConnectionError


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

    def __init__(
        self,
        *,
        timeout: float = 1.0,
        max_connections: int | None = None,
        connection_class: type[AbstractConnection] = Connection,
        **connection_kwargs: object,
    ) -> None:
        # redis-py's own keywords are partly untyped: passed on as they came.
        options = cast("dict[str, Any]", connection_kwargs)
        super().__init__(
            connection_class=connection_class, max_connections=max_connections, **options
        )
        self._wait_timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    def _exhausted(self) -> bool:
        return (
            not self._available_connections
            and len(self._in_use_connections) >= self.max_connections
        )

    async def get_connection(self, *_args: object, **_options: object) -> AbstractConnection:
        if self._exhausted():
            await self._wait_for_a_connection()
        connection: AbstractConnection = self.get_available_connection()  # type: ignore[no-untyped-call]
        try:
            if not connection.is_connected:
                await connection.connect()  # type: ignore[no-untyped-call]
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

    async def release(self, connection: AbstractConnection) -> None:
        if connection not in self._in_use_connections:
            return  # released twice, or not ours: never pooled twice (two commands, one socket)
        self._in_use_connections.remove(connection)
        if connection.should_reconnect():  # type: ignore[no-untyped-call]
            await connection.disconnect()
        self._available_connections.append(connection)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
