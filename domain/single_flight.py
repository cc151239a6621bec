"""One piece of work per key at a time, shared by every caller that asks for it meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    """Concurrent ``run`` calls with one key share one task.

    - The first caller's ``work`` runs in a task; callers that come while it runs await the same
      task and get its result or its exception.
    - A caller that goes away (cancelled) does not cancel the task for the others.
    - The task is forgotten once done: the next call with the key runs ``work`` again.
    - Its exception is always marked retrieved, even when every caller went away.
    """

    def __init__(self) -> None:
        self._flights: dict[K, asyncio.Task[V]] = {}

    async def run(self, key: K, work: Callable[[], Awaitable[V]]) -> V:
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(_call(work))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._land(key, done))
        return await asyncio.shield(flight)

    def _land(self, key: K, flight: asyncio.Task[V]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()


async def _call(work: Callable[[], Awaitable[V]]) -> V:
    return await work()
