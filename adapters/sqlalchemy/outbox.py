"""The webhook outbox: messages written in the transaction of the change they report, claimed
and settled by the delivery loop (``adapters.webhooks``).

One sender per message at a time, across workers and instances: a sender claims due messages by
moving their ``next_attempt_at`` past its sending time (a lease). On MariaDB/MySQL and
PostgreSQL it reads them ``FOR UPDATE SKIP LOCKED`` in a short transaction, so concurrent
claimers take different messages without waiting on each other; SQLite has one writer at a time
and takes the lease by a conditional ``UPDATE`` (only where ``next_attempt_at`` is still what it
read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.tables import webhook_outbox
from adapters.sqlalchemy.users import to_datetime, to_unix
from domain.accounts import WEBHOOK_TYPES, AccountEvent

_DUE = webhook_outbox.c.next_attempt_at


@dataclass(frozen=True, slots=True)
class Message:
    """One webhook message: its id is ``msg_<outbox id>``; times are Unix seconds."""

    id: int
    type: str
    user_id: int
    app: str | None
    platform: str | None
    created_at: float
    attempts: int
    """Attempts made before this one."""

    @property
    def message_id(self) -> str:
        return f"msg_{self.id}"


class WebhookMessages:
    """Adds the webhook message of an account event to the outbox, on the caller's connection
    (inside its transaction). Events without a webhook type are not sent."""

    async def add(self, conn: AsyncConnection, event: AccountEvent) -> None:
        type_ = WEBHOOK_TYPES.get(event.type)
        if type_ is None or event.user_id is None:
            return
        at = to_datetime(event.at)
        await conn.execute(insert(webhook_outbox), [{
            "type": type_, "user_id": event.user_id, "app": event.app,
            "platform": event.platform, "created_at": at, "attempts": 0, "next_attempt_at": at,
        }])


class SqlAlchemyOutbox:
    """Claims and settles outbox messages for the delivery loop."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(self, *, now: float, lease: float, limit: int) -> list[Message]:
        """Up to ``limit`` due messages, leased to this caller for ``lease`` seconds."""
        now_at, until = to_datetime(now), to_datetime(now + lease)
        due = select(webhook_outbox).where(now_at >= _DUE).order_by(_DUE).limit(limit)
        async with self._engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                rows = (await conn.execute(due)).all()
                return [_message(row) for row in rows if await _lease(conn, row, until)]
            # READ COMMITTED: the locking read takes no gap locks, which under MariaDB's
            # REPEATABLE READ deadlock with the logins adding messages and with the other
            # senders' updates (PostgreSQL's default already).
            transactional = await conn.execution_options(isolation_level="READ COMMITTED")
            async with transactional.begin():
                locked = (await transactional.execute(due.with_for_update(skip_locked=True))).all()
                if locked:
                    await transactional.execute(
                        update(webhook_outbox)
                        .where(webhook_outbox.c.id.in_([row.id for row in locked]))
                        .values(next_attempt_at=until, attempts=webhook_outbox.c.attempts + 1)
                    )
        return [_message(row) for row in locked]

    async def delivered(self, message: Message) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(delete(webhook_outbox).where(webhook_outbox.c.id == message.id))

    async def retry(self, message: Message, *, at: float) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(
                update(webhook_outbox).where(webhook_outbox.c.id == message.id)
                .values(next_attempt_at=to_datetime(at))
            )

    dropped = delivered
    """A message given up on leaves the outbox as a delivered one does (the loop counts it)."""


async def _lease(conn: AsyncConnection, row: Any, until: datetime) -> bool:
    leased = await conn.execute(
        update(webhook_outbox)
        .where(webhook_outbox.c.id == row.id, row.next_attempt_at == _DUE)
        .values(next_attempt_at=until, attempts=webhook_outbox.c.attempts + 1)
    )
    return bool(leased.rowcount == 1)


def _message(row: Any) -> Message:
    return Message(
        id=row.id, type=row.type, user_id=row.user_id, app=row.app, platform=row.platform,
        created_at=to_unix(row.created_at), attempts=row.attempts,
    )
