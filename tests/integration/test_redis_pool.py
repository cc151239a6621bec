"""The single-server pool of ``adapters/redis/client.py`` on a real Redis: bounded, waiting in a
bounded way, handing a connection on to the next in line, and replacing connections the server
closed without polling them at check-out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from adapters.redis.client import open_redis, store_errors
from domain.errors import StoreUnavailable

pytestmark = pytest.mark.integration


@asynccontextmanager
async def one_connection(redis_url: str, *, wait: float) -> AsyncIterator[Redis]:
    async with asynccontextmanager(open_redis)(
        redis_url, max_connections=1, socket_timeout=wait
    ) as client:
        yield client


async def test_a_command_waits_at_most_the_timeout_for_a_busy_pool(redis_url: str) -> None:
    async with one_connection(redis_url, wait=0.3) as client:
        pool = client.connection_pool
        held = await pool.get_connection()
        with pytest.raises(StoreUnavailable) as caught, store_errors():
            await client.get(b"k")
        assert isinstance(caught.value.__cause__, RedisConnectionError)

        await pool.release(held)
        await client.set(b"k", b"v")
        assert await client.get(b"k") == b"v"


async def test_a_returned_connection_goes_to_the_first_waiter(redis_url: str) -> None:
    async with one_connection(redis_url, wait=5.0) as client:
        pool = client.connection_pool
        held = await pool.get_connection()
        first = asyncio.create_task(pool.get_connection())
        second = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.05)
        assert not first.done()
        assert not second.done()

        await pool.release(held)
        connection = await first
        assert not second.done()
        await pool.release(connection)
        await pool.release(await second)


async def test_a_waiter_cancelled_after_its_turn_came_passes_it_on(redis_url: str) -> None:
    """Woken and then cancelled before it ran (its request timed out, its client left): the
    connection it was given must reach the next waiter, not idle until the timeout."""
    async with one_connection(redis_url, wait=30.0) as client:
        pool = client.connection_pool
        held = await pool.get_connection()
        first = asyncio.create_task(pool.get_connection())
        second = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.05)

        await pool.release(held)  # wakes `first`, which has not run yet...
        first.cancel()  # ...and never will
        connection = await asyncio.wait_for(second, timeout=10)
        assert first.cancelled()
        await pool.release(connection)


async def test_connections_the_server_closed_are_replaced_on_use(redis_url: str) -> None:
    """No ``can_read`` poll at check-out: a pooled connection that Redis closed fails its next
    command as a ``ConnectionError`` and the client's one retry runs it on a fresh one."""
    async with asynccontextmanager(open_redis)(redis_url, max_connections=4) as client:
        await asyncio.gather(*(client.set(f"k{n}".encode(), b"v") for n in range(4)))
        assert len(client.connection_pool._available_connections) == 4
        async with asynccontextmanager(open_redis)(redis_url) as killer:
            killed = await killer.client_kill_filter(_type="normal", skipme=True)
        assert killed >= 4

        values = await asyncio.gather(*(client.get(f"k{n}".encode()) for n in range(4)))

        assert values == [b"v"] * 4


async def test_a_connection_released_twice_is_pooled_once(redis_url: str) -> None:
    """Two commands must never share a socket: a second release of one connection is ignored."""
    async with one_connection(redis_url, wait=0.3) as client:
        pool = client.connection_pool
        connection = await pool.get_connection()
        await pool.release(connection)
        await pool.release(connection)

        assert pool._available_connections == [connection]


async def test_a_waiter_beaten_to_its_connection_keeps_its_place_in_line(
    redis_url: str,
) -> None:
    async with one_connection(redis_url, wait=30.0) as client:
        pool = client.connection_pool
        held = await pool.get_connection()
        first = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.01)
        second = asyncio.create_task(pool.get_connection())
        await asyncio.sleep(0.01)

        await pool.release(held)  # wakes `first`, but before it runs...
        newcomer = await pool.get_connection()  # ...a new command takes the connection
        await asyncio.sleep(0.01)  # `first` finds none and waits again
        await pool.release(newcomer)

        connection = await asyncio.wait_for(first, timeout=10)
        assert not second.done()
        await pool.release(connection)
        await pool.release(await second)
