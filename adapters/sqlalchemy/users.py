"""Users in a SQL database, with SQLAlchemy Core (no ORM: this is the hot path of every login)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, case, func, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.sqlalchemy.tables import users
from domain.entities import User
from domain.errors import StoreUnavailable

ATTEMPTS = 3
"""Tries of the find-or-insert cycle: a loser of a first-login race finds the row on its second."""

_COLUMNS = (users.c.id, users.c.openid, users.c.unionid, users.c.created_at)


class SqlAlchemyUserRepository:
    """``UserRepository`` on MariaDB/MySQL, SQLite (and PostgreSQL's dialect, ready to follow).

    ``get_or_create`` is one transaction per attempt:

    1. record the login of a known user: the whole cost of a returning user. One
       ``UPDATE ... WHERE openid ... RETURNING`` where the database has it (SQLite, PostgreSQL);
       on MySQL a plain ``SELECT`` by openid, then ``UPDATE ... WHERE id``;
    2. if nobody matched, insert the user guarded by the unique openid, as "insert or nothing":
       ``ON CONFLICT DO NOTHING RETURNING id`` (SQLite, PostgreSQL), or a no-op
       ``ON DUPLICATE KEY UPDATE openid = openid`` (MySQL), where a row was inserted exactly when
       the insert id is not 0 (the server reports 0 unless an AUTO_INCREMENT value was used;
       the affected-row count cannot tell, because SQLAlchemy connects with CLIENT_FOUND_ROWS);
    3. the loser of a race for a new openid inserted nothing, so it starts over and finds the
       winner's committed row at step 1. Only the inserting call reports ``created``.

    ``updated_at`` moves when the user's data changes (``unionid`` filled in), not at each login,
    which ``last_login_at`` records. Every call must finish within ``timeout`` seconds (aiomysql
    has no read timeout); any driver, pool or time-out error becomes ``StoreUnavailable``.
    """

    def __init__(self, engine: AsyncEngine, *, timeout: float = 1.5) -> None:
        self._engine = engine
        self._timeout = timeout

    async def get_or_create(
        self, openid: str, *, unionid: str | None, now: float
    ) -> tuple[User, bool]:
        at = _to_datetime(now)
        async with self._guard():
            for _ in range(ATTEMPTS):
                async with self._engine.begin() as conn:
                    user = await self._record_login(conn, openid, unionid, at)
                    if user is not None:
                        return user, False
                    user_id = await self._insert_if_absent(conn, openid, unionid, at)
                if user_id is not None:
                    new = User(id=user_id, openid=openid, unionid=unionid, created_at=_to_unix(at))
                    return new, True
        # Only if the row kept vanishing between a failed insert and the next read.
        raise StoreUnavailable()

    async def get(self, user_id: int) -> User | None:
        async with self._guard(), self._engine.connect() as conn:
            result = await conn.execute(select(*_COLUMNS).where(users.c.id == user_id))
            row = result.first()
        return None if row is None else _to_user(row)

    async def save_phone(self, user_id: int, phone: str) -> None:
        """Store the user's phone number (E.164), as ``UserPhoneStore`` asks."""
        at = _to_datetime(time.time())
        async with self._guard(), self._engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.id == user_id).values(phone=phone, updated_at=at)
            )

    async def ping(self) -> None:
        async with self._guard(), self._engine.connect() as conn:
            await conn.execute(select(1))

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise StoreUnavailable() from exc

    @staticmethod
    async def _record_login(
        conn: AsyncConnection, openid: str, unionid: str | None, at: datetime
    ) -> User | None:
        """Update a known user's row and return it, or ``None`` when ``openid`` is new."""
        changes: list[tuple[Any, Any]] = []
        if unionid is not None:
            # MySQL assigns left to right, each seeing the earlier ones: updated_at goes first,
            # while unionid still holds its old value (other databases read old values anyway).
            fills_unionid = case((users.c.unionid.is_(None), at), else_=users.c.updated_at)
            changes.append((users.c.updated_at, fills_unionid))
            changes.append((users.c.unionid, func.coalesce(users.c.unionid, unionid)))
        changes.append((users.c.last_login_at, at))

        if conn.dialect.update_returning:
            statement = update(users).where(users.c.openid == openid).ordered_values(*changes)
            row = (await conn.execute(statement.returning(*_COLUMNS))).first()
            return None if row is None else _to_user(row)

        # MySQL has no UPDATE ... RETURNING. Read first, without locks: an UPDATE matching no
        # row would gap-lock the openid index, and concurrent first logins would deadlock.
        result = await conn.execute(select(*_COLUMNS).where(users.c.openid == openid))
        row = result.first()
        if row is None:
            return None
        await conn.execute(update(users).where(users.c.id == row.id).ordered_values(*changes))
        user = _to_user(row)
        return user if user.unionid is not None else replace(user, unionid=unionid)

    @staticmethod
    async def _insert_if_absent(
        conn: AsyncConnection, openid: str, unionid: str | None, at: datetime
    ) -> int | None:
        """Insert the user unless the openid exists: its new id, or ``None`` if none was added."""
        values = {
            "openid": openid,
            "unionid": unionid,
            "created_at": at,
            "updated_at": at,
            "last_login_at": at,
        }
        dialect = conn.dialect.name
        if dialect in ("mysql", "mariadb"):
            upsert = mysql.insert(users).values(values)
            result = await conn.execute(upsert.on_duplicate_key_update(openid=users.c.openid))
            inserted_id: int = result.lastrowid
            return inserted_id or None
        if dialect in ("sqlite", "postgresql"):
            insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(users)
            statement = (
                insert.values(values)
                .on_conflict_do_nothing(index_elements=[users.c.openid])
                .returning(users.c.id)
            )
            returned: int | None = (await conn.execute(statement)).scalar_one_or_none()
            return returned
        raise NotImplementedError(f"no atomic insert-or-nothing for the {dialect} dialect")


def _to_datetime(seconds: float) -> datetime:
    """Unix seconds as the naive UTC ``datetime`` the columns store (microsecond precision)."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def _to_unix(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()


def _to_user(row: Row[*tuple[Any, ...]]) -> User:
    return User(
        id=row.id, openid=row.openid, unionid=row.unionid, created_at=_to_unix(row.created_at)
    )
