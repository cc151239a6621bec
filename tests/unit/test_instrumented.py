"""The generic port wrapper: every asynchronous method of a port is timed, nothing goes untimed."""

from __future__ import annotations

from typing import Protocol

import pytest
from prometheus_client import CollectorRegistry

from adapters.instrumented import SESSIONS, USERS, Port, instrumented
from adapters.memory import (
    InMemoryCodeExchangeRegistry,
    InMemorySessionStore,
    InMemoryUserRepository,
)
from adapters.port_metrics import PortMetrics, StoreTimer
from tests.fakes import FakeClock


class Shelf(Protocol):
    """A port as a newcomer would add one: any method is timed without naming it anywhere."""

    async def put(self, item: str) -> None: ...

    async def brand_new_method(self, item: str) -> int: ...


class MemoryShelf:
    def __init__(self) -> None:
        self.items: list[str] = []

    async def put(self, item: str) -> None:
        self.items.append(item)

    async def brand_new_method(self, item: str) -> int:
        return self.items.count(item)

    def helper_for_tests(self) -> None:
        """Not in the port: the wrapper does not offer it at all."""


SHELF: Port[Shelf] = Port((Shelf,), lambda metrics: StoreTimer("users", metrics.user_store_seconds))


def _count(registry: CollectorRegistry, operation: str) -> float | None:
    return registry.get_sample_value(
        "weapp_user_store_seconds_count", {"operation": operation, "outcome": "ok"}
    )


async def test_every_asynchronous_method_of_the_port_is_timed_under_its_name() -> None:
    registry = CollectorRegistry()
    shelf = instrumented(MemoryShelf(), port=SHELF, metrics=PortMetrics(registry))

    await shelf.put("a")
    assert await shelf.brand_new_method("a") == 1

    assert _count(registry, "put") == 1
    assert _count(registry, "brand_new_method") == 1


def test_the_wrapper_offers_nothing_but_the_port() -> None:
    shelf = instrumented(MemoryShelf(), port=SHELF, metrics=PortMetrics(CollectorRegistry()))
    assert not hasattr(shelf, "helper_for_tests")
    assert not hasattr(shelf, "items")


class WithSyncMethod(Shelf, Protocol):
    def count(self, item: str) -> int: ...


class WithAttribute(Shelf, Protocol):
    capacity: int


class SyncShelf(MemoryShelf):
    def count(self, item: str) -> int:
        return 0

    capacity = 3


@pytest.mark.parametrize("protocol", [WithSyncMethod, WithAttribute])
def test_a_port_member_that_cannot_be_timed_fails_at_construction(protocol: type) -> None:
    port: Port[Shelf] = Port((protocol,), SHELF.timer)
    with pytest.raises(TypeError, match=r"cannot time SyncShelf\.(count|capacity)"):
        instrumented(SyncShelf(), port=port, metrics=PortMetrics(CollectorRegistry()))


def test_an_adapter_lacking_a_method_or_having_it_synchronous_fails_at_construction() -> None:
    class Missing:
        async def put(self, item: str) -> None: ...

    class Synchronous(MemoryShelf):
        def brand_new_method(self, item: str) -> int:  # type: ignore[override]
            return 0

    class Inherited(Shelf):  # declares the port, lacks a method: mypy says so, and so does this
        async def put(self, item: str) -> None: ...

    for inner in (Missing(), Synchronous(), Inherited()):  # type: ignore[abstract]
        with pytest.raises(TypeError, match=r"brand_new_method"):
            instrumented(inner, port=SHELF, metrics=PortMetrics(CollectorRegistry()))  # type: ignore[misc]


async def test_the_real_ports_wrap_their_memory_adapters(clock: FakeClock) -> None:
    registry = CollectorRegistry()
    metrics = PortMetrics(registry)
    sessions = instrumented(
        InMemorySessionStore(clock=clock, session_secret="s" * 32,
                             registry=InMemoryCodeExchangeRegistry(clock=clock)),
        port=SESSIONS, metrics=metrics,
    )
    users = instrumented(InMemoryUserRepository(), port=USERS, metrics=metrics)

    await sessions.ping()
    await users.get(1)

    assert registry.get_sample_value(
        "weapp_session_store_seconds_count", {"operation": "ping", "outcome": "ok"}) == 1
    assert _count(registry, "get") == 1
