"""The login path's audit buffer when the database does not answer: nothing lost, order kept,
memory bounded."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from adapters import audit
from adapters.audit import BufferedAuditTrail
from domain.accounts import AccountEvent, AccountStore
from domain.errors import StoreUnavailable


class _FlakyStore:
    """Records what it is given; refuses while ``down``."""

    def __init__(self) -> None:
        self.down = False
        self.written: list[list[int | None]] = []

    async def record(self, events: Sequence[AccountEvent]) -> None:
        if self.down:
            raise StoreUnavailable()
        self.written.append([event.user_id for event in events])


def _trail(store: _FlakyStore, **options: Any) -> BufferedAuditTrail:
    return BufferedAuditTrail(cast(AccountStore, store), **options)


def _login(user_id: int) -> AccountEvent:
    return AccountEvent(type="login", at=float(user_id), user_id=user_id)


async def test_events_not_written_are_kept_in_order_and_written_later() -> None:
    store = _FlakyStore()
    trail = _trail(store)
    for user_id in (1, 2, 3):
        trail.record(_login(user_id))

    store.down = True
    original = store.record

    async def refused_while_a_login_arrives(events: Sequence[AccountEvent]) -> None:
        trail.record(_login(4))  # a login during the write that fails
        await original(events)

    store.record = refused_while_a_login_arrives  # type: ignore[method-assign]
    await trail.flush()
    store.record = original  # type: ignore[method-assign]
    trail.record(_login(5))
    store.down = False
    await trail.flush()
    await trail.flush()

    assert store.written == [[1, 2, 3, 4, 5]]


async def test_a_large_backlog_is_written_in_bounded_batches(monkeypatch: Any) -> None:
    monkeypatch.setattr(audit, "PURGE_BATCH", 2)
    store = _FlakyStore()
    trail = _trail(store)
    for user_id in range(1, 6):
        trail.record(_login(user_id))

    await trail.flush()

    assert store.written == [[1, 2], [3, 4], [5]]


async def test_a_batch_refused_midway_keeps_only_what_was_not_written(monkeypatch: Any) -> None:
    monkeypatch.setattr(audit, "PURGE_BATCH", 2)
    store = _FlakyStore()
    trail = _trail(store)
    for user_id in range(1, 6):
        trail.record(_login(user_id))
    original = store.record

    async def fail_after_first(events: Sequence[AccountEvent]) -> None:
        await original(events)
        store.down = True

    monkeypatch.setattr(store, "record", fail_after_first)
    await trail.flush()
    monkeypatch.setattr(store, "record", original)
    store.down = False
    await trail.flush()

    assert store.written == [[1, 2], [3, 4], [5]]


async def test_beyond_the_bound_new_events_are_dropped_and_counted(monkeypatch: Any) -> None:
    monkeypatch.setattr(audit, "MAX_PENDING", 3)
    store = _FlakyStore()
    trail = _trail(store)
    for user_id in range(1, 6):
        trail.record(_login(user_id))

    await trail.flush()

    assert trail.dropped == 2
    assert store.written == [[1, 2, 3]]


async def test_with_retention_off_nothing_is_kept() -> None:
    store = _FlakyStore()
    trail = _trail(store, keep=False)
    trail.record(_login(1))

    await trail.flush()

    assert store.written == []
