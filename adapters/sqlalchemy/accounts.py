"""Accounts and the audit trail in the user store's database (``AccountStore``).

Changes run in a transaction of their own (the engine's connections otherwise autocommit each
statement): the user's row is locked, changed, and the event reporting the change (and its
webhook message, see ``adapters.sqlalchemy.outbox``) is inserted before the commit.

Closing an account deletes its identities (``user_identities``: openids and unionids), its
claims on unionids (``unionid_users``) and its phone, so the same person's next login creates a
new user; the ``users`` row stays, ``deleted``, for the events that name its id.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import ColumnElement

from adapters.sqlalchemy.outbox import WebhookMessages
from adapters.sqlalchemy.tables import account_events, unionid_users, user_identities, users
from adapters.sqlalchemy.users import to_datetime, to_unix
from domain.accounts import (
    DELETED,
    Account,
    AccountEvent,
    AccountIdentity,
    AccountQuery,
    AccountStore,
    Cursor,
    EventPage,
    Origin,
    StatusChange,
)
from domain.errors import StoreUnavailable
from domain.platform import UserPhoneStore

EPOCH = datetime(1970, 1, 1)

_ACCOUNT_COLUMNS = (
    users.c.id, users.c.status, users.c.created_at, users.c.last_login_at, users.c.phone,
)
_i = user_identities.c
_IDENTITY_COLUMNS = (_i.user_id, _i.platform, _i.appid, _i.openid, _i.unionid)


class SqlAlchemyAccountStore(AccountStore, UserPhoneStore):
    """``AccountStore`` on the user store's engine (MariaDB/MySQL, PostgreSQL, SQLite). Every
    call finishes within ``timeout`` seconds; driver errors become ``StoreUnavailable``."""

    def __init__(
        self, engine: AsyncEngine, *, webhooks: WebhookMessages | None = None,
        timeout: float = 1.5,
    ) -> None:
        self._engine = engine
        self._webhooks = webhooks
        self._timeout = timeout

    async def account(self, user_id: int) -> Account | None:
        async with self._connection() as conn:
            row = (await conn.execute(select(*_ACCOUNT_COLUMNS).where(users.c.id == user_id))
                   ).first()
            return None if row is None else (await _with_identities(conn, [row]))[0]

    async def find(self, query: AccountQuery) -> list[Account]:
        where: ColumnElement[bool]
        if query.openid is not None:
            matching = select(_i.user_id).where(
                _i.platform == query.platform, _i.appid == query.appid, _i.openid == query.openid
            )
            where = users.c.id.in_(matching)
        elif query.unionid is not None:
            where = users.c.id.in_(select(_i.user_id).where(_i.unionid == query.unionid))
        else:
            where = users.c.phone == query.phone
        statement = select(*_ACCOUNT_COLUMNS).where(where, users.c.status != DELETED)
        async with self._connection() as conn:
            rows = (await conn.execute(statement.order_by(users.c.id).limit(100))).all()
            return await _with_identities(conn, rows)

    async def change_status(self, change: StatusChange) -> Account | None:
        async with self._transaction() as conn:
            before = await _locked(conn, change.user_id)
            if before is None or before.status == DELETED:
                return None
            await conn.execute(
                update(users).where(users.c.id == change.user_id)
                .values(status=change.status, updated_at=to_datetime(change.event.at))
            )
            await self._report(conn, change.event)
        return before

    async def erase(self, user_id: int, event: AccountEvent) -> Account | None:
        async with self._transaction() as conn:
            before = await _locked(conn, user_id)
            if before is None or before.status == DELETED:
                return before
            await conn.execute(delete(user_identities).where(_i.user_id == user_id))
            await conn.execute(delete(unionid_users).where(unionid_users.c.user_id == user_id))
            await conn.execute(
                update(users).where(users.c.id == user_id).values(
                    status=DELETED, phone=None, updated_at=to_datetime(event.at),
                )
            )
            await self._report(conn, event)
        return before

    async def save_phone(self, user_id: int, phone: str) -> None:
        """Store the user's verified phone number (E.164) with its ``phone_verified`` event
        (``UserPhoneStore``)."""
        event = AccountEvent(type="phone_verified", at=time.time(), user_id=user_id)
        async with self._transaction() as conn:
            await conn.execute(
                update(users).where(users.c.id == user_id, users.c.status != DELETED)
                .values(phone=phone, updated_at=to_datetime(event.at))
            )
            await self._report(conn, event)

    async def events(
        self, *, user_id: int | None, type: str | None, limit: int, before: Cursor | None
    ) -> EventPage:
        at, id_ = account_events.c.at, account_events.c.id
        statement = select(account_events)
        if user_id is not None:
            statement = statement.where(account_events.c.user_id == user_id)
        if type is not None:
            statement = statement.where(account_events.c.type == type)
        if before is not None:
            moment = EPOCH + timedelta(microseconds=before[0])
            statement = statement.where(or_(at < moment, and_(at == moment, id_ < before[1])))
        statement = statement.order_by(at.desc(), id_.desc()).limit(limit)
        async with self._connection() as conn:
            rows = (await conn.execute(statement)).all()
        last = rows[-1] if rows and len(rows) == limit else None
        cursor = None if last is None else ((last.at - EPOCH) // timedelta(microseconds=1), last.id)
        return EventPage([_event(row) for row in rows], cursor)

    async def record(self, events: Sequence[AccountEvent]) -> None:
        """One multi-row ``INSERT`` by the driver's ``executemany``, past SQLAlchemy's execution
        layer: this is the login path's trail (``adapters.audit``), 7.4 instead of 10.3 CPU-µs
        an event in batches of 600 on MariaDB (docs/PERFORMANCE.md)."""
        if not events:
            return
        rows = [_event_values(event) for event in events]
        async with self._connection() as conn:
            await conn.exec_driver_sql(_insert_events_sql(conn.dialect.paramstyle), rows)

    async def purge(self, *, before: float, limit: int) -> int:
        # Ids first, then by id: MariaDB takes no LIMIT in a subquery, SQLite none in DELETE.
        oldest = (
            select(account_events.c.id).where(account_events.c.at < to_datetime(before))
            .order_by(account_events.c.id).limit(limit)
        )
        async with self._connection() as conn:
            ids = list((await conn.execute(oldest)).scalars())
            if ids:
                await conn.execute(delete(account_events).where(account_events.c.id.in_(ids)))
        return len(ids)

    async def _report(self, conn: AsyncConnection, event: AccountEvent) -> None:
        await conn.execute(insert(account_events), [_event_row(event)])
        if self._webhooks is not None:
            await self._webhooks.add(conn, event)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with asyncio.timeout(self._timeout), self._engine.connect() as conn:
                yield conn
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise StoreUnavailable() from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection in a transaction at the database's default isolation (the pool's
        connections autocommit otherwise; the level is restored when it goes back)."""
        async with self._connection() as conn:
            level = conn.dialect.default_isolation_level
            transactional = await conn.execution_options(isolation_level=level)
            async with transactional.begin():
                yield transactional


async def _locked(conn: AsyncConnection, user_id: int) -> Account | None:
    statement = select(*_ACCOUNT_COLUMNS).where(users.c.id == user_id)
    if conn.dialect.name != "sqlite":  # SQLite's writer lock is the whole database's
        statement = statement.with_for_update()
    row = (await conn.execute(statement)).first()
    return None if row is None else _account(row)


async def _with_identities(conn: AsyncConnection, rows: Sequence[Any]) -> list[Account]:
    """The accounts of ``users`` rows, with their identities (one more query)."""
    found: dict[int, list[AccountIdentity]] = {row.id: [] for row in rows}
    if found:
        statement = select(*_IDENTITY_COLUMNS).where(_i.user_id.in_(list(found)))
        for row in await conn.execute(statement.order_by(_i.created_at)):
            found[row.user_id].append(AccountIdentity(
                app=None, platform=row.platform, appid=row.appid, openid=row.openid,
                unionid=row.unionid,
            ))
    return [_account(row, tuple(found[row.id])) for row in rows]


def _account(row: Any, identities: tuple[AccountIdentity, ...] = ()) -> Account:
    return Account(
        id=row.id, status=row.status, created_at=to_unix(row.created_at),
        last_login_at=None if row.last_login_at is None else to_unix(row.last_login_at),
        phone=row.phone, identities=identities,
    )


_EVENT_COLUMNS = ("type", "at", "user_id", "app", "platform", "result", "ip", "user_agent",
                  "request_id", "reason")
_PLACEHOLDERS = {"format": "%s", "pyformat": "%s", "qmark": "?", "numeric_dollar": "${}"}


@functools.cache
def _insert_events_sql(paramstyle: str) -> str:
    """``INSERT INTO account_events`` in the driver's own parameter style."""
    placeholder = _PLACEHOLDERS[paramstyle]
    values = ", ".join(placeholder.format(n) for n in range(1, len(_EVENT_COLUMNS) + 1))
    columns = ", ".join(_EVENT_COLUMNS)
    return f"INSERT INTO account_events ({columns}) VALUES ({values})"  # noqa: S608 (constants)


def _event_values(event: AccountEvent) -> tuple[object, ...]:
    origin = event.origin
    return (
        event.type, to_datetime(event.at), event.user_id, event.app, event.platform,
        event.result[:64], origin.ip, origin.user_agent, origin.request_id, event.reason,
    )


def _event_row(event: AccountEvent) -> dict[str, object]:
    return dict(zip(_EVENT_COLUMNS, _event_values(event), strict=True))


def _event(row: Any) -> AccountEvent:
    return AccountEvent(
        id=row.id, type=row.type, at=to_unix(row.at), user_id=row.user_id, app=row.app,
        platform=row.platform, result=row.result,
        origin=Origin(ip=row.ip, user_agent=row.user_agent, request_id=row.request_id),
        reason=row.reason,
    )
