"""The audit trail of the login path: events kept in memory and written in batches, off the
requests' path, by a task of the worker; old events removed by another."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from adapters.background import finish, pause
from domain.accounts import AccountEvent, AccountStore, AuditTrail
from domain.errors import StoreUnavailable
from domain.ports import Clock

logger = logging.getLogger("weapp_login.audit")

FLUSH_SECONDS = 1.0
"""How often the pending events are written: one multi-row INSERT (batches of up to
``PURGE_BATCH``), fewer and larger being cheaper per event."""
MAX_PENDING = 10_000
"""Events kept while the database does not answer; beyond, new ones are dropped (counted)."""
PURGE_SECONDS = 600.0
"""How often events older than ``AUDIT_RETENTION_DAYS`` are looked for."""
STOP_SECONDS = 3.0
"""How long a stopping worker waits for the last write of its events."""
PURGE_BATCH = 1_000
"""Events removed per statement: bounded work, bounded locks."""


class BufferedAuditTrail(AuditTrail):
    """``AuditTrail`` over an ``AccountStore``: ``record`` appends to a list (no I/O, no wait:
    the login pays a few microseconds); ``flush`` writes what is pending. With ``keep=False``
    (``AUDIT_RETENTION_DAYS=0``) nothing is kept."""

    def __init__(self, store: AccountStore, *, keep: bool = True) -> None:
        self._store = store
        self._keep = keep
        self._pending: list[AccountEvent] = []
        self.dropped = 0

    def record(self, event: AccountEvent) -> None:
        if not self._keep:
            return
        if len(self._pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self._pending.append(event)

    async def flush(self) -> None:
        pending, self._pending = self._pending, []  # taken whole: the logins append to a new list
        for start in range(0, len(pending), PURGE_BATCH):
            try:
                await self._store.record(pending[start:start + PURGE_BATCH])
            except StoreUnavailable:
                unwritten = pending[start:]
                self._pending[:0] = unwritten[: MAX_PENDING - len(self._pending)]
                logger.warning("audit events not written yet", extra={"event": "audit_delayed"})
                return


async def purge_old_events(store: AccountStore, *, before: float) -> int:
    """Remove the events older than ``before``, ``PURGE_BATCH`` at a time; return how many."""
    removed = 0
    while True:
        count = await store.purge(before=before, limit=PURGE_BATCH)
        removed += count
        if count < PURGE_BATCH:
            return removed
        await asyncio.sleep(0)  # let requests in between batches


async def open_audit_trail(
    store: AccountStore, *, clock: Clock, retention_days: int,
    flush_seconds: float = FLUSH_SECONDS, purge_seconds: float = PURGE_SECONDS,
) -> AsyncIterator[BufferedAuditTrail]:
    """A resource: the trail, its writer task and its retention task; pending events are
    written at the end."""
    trail = BufferedAuditTrail(store, keep=retention_days > 0)

    stop = asyncio.Event()

    async def write() -> None:
        while not stop.is_set():
            await pause(stop, flush_seconds)
            await trail.flush()

    async def expire() -> None:
        while not stop.is_set():
            try:
                await purge_old_events(store, before=clock.now() - retention_days * 86_400)
            except StoreUnavailable:
                logger.warning("old audit events not removed", extra={"event": "audit_purge"})
            await pause(stop, purge_seconds)

    tasks = [asyncio.create_task(write()), asyncio.create_task(expire())]
    try:
        yield trail
    finally:
        for task in tasks:
            await finish(task, stop, STOP_SECONDS)
