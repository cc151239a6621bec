"""Users in a SQL database, with SQLAlchemy Core (no ORM: this is the hot path of every login)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from adapters.sqlalchemy.logins import (
    EXISTED,
    MARIADB_LOGIN_SQL,
    USER_ID,
    Login,
    LoginParams,
    Stored,
    login_for,
    login_mariadb,
)
from adapters.sqlalchemy.revision import SchemaCheck
from adapters.sqlalchemy.tables import users
from domain.entities import User
from domain.errors import StoreUnavailable
from domain.ports import UserRepository

T = TypeVar("T")
A = ParamSpec("A")

ATTEMPTS = 3
"""Tries of one call, each on a pooled connection, after a connection that died in the pool (the
server restarted: the next is fresh) or a deadlock (the victim's statement did nothing)."""

RACE_ROUNDS = 3
"""Rounds of find-or-insert in one try: the loser of a first-login race finds the winner's row."""

_SELECT_USER = select(
    users.c.id, users.c.openid, users.c.unionid, users.c.created_at, users.c.status
).where(users.c.id == USER_ID)

class SqlAlchemyUserRepository(UserRepository):
    """``UserRepository`` on MariaDB/MySQL (aiomysql), PostgreSQL (asyncpg) and SQLite.

    A returning user's login is one statement (one round trip) where the database allows it:

    - MariaDB 10.5+: ``MARIADB_LOGIN_SQL``, an upsert, for new and returning users alike. It
      runs on the driver's own cursor of a connection from SQLAlchemy's pool: SQLAlchemy's
      execution layer costs about as much CPU as aiomysql itself (see ``_login_on_driver``);
    - PostgreSQL, SQLite: ``UPDATE ... WHERE openid ... RETURNING``, then for a new openid
      ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``;
    - MySQL (no ``RETURNING``): ``SELECT`` by openid then ``UPDATE`` by id, or for a new openid
      ``INSERT ... ON DUPLICATE KEY UPDATE openid = openid``, which inserted exactly when the
      insert id is not 0 (the server reports 0 unless an AUTO_INCREMENT value was used).

    Where an insert finds the openid taken (it lost a first-login race), the call looks again
    and finds the winner's committed row: only the inserting call reports ``created``. Each
    statement commits on its own (the engine's autocommit): no ``COMMIT`` round trip.

    ``updated_at`` moves when the user's data changes (``unionid`` filled in), not at each
    login, which ``last_login_at`` records. Every call finishes within ``timeout`` seconds
    (aiomysql has no read timeout). A connection that died in the pool (the server restarted)
    fails as a disconnect, SQLAlchemy drops it with every other as old, and the call is tried
    again on a fresh one: a restart costs no error (the engine spends no pre-ping on it). Any
    driver, pool or time-out error becomes ``StoreUnavailable``.

    One ambiguity remains, as with any request whose answer is lost: a first login whose
    statement the server ran but whose answer never came (the connection cut, the deadline
    passed while the server stalled) created the user, and the next try reports it as found.
    """

    def __init__(self, engine: AsyncEngine, *, timeout: float = 1.5) -> None:
        self._engine = engine
        self._timeout = timeout
        self._login: Login | None = None
        self._schema_check = SchemaCheck()

    async def get_or_create(
        self, openid: str, *, unionid: str | None, now: float
    ) -> tuple[User, bool]:
        at = to_datetime(now)
        async with self._guard():
            stored = None
            if self._login is login_mariadb:
                stored = await self._login_on_driver((openid, unionid, at, at, at))
            if stored is None:
                stored = await self._run(self._login_on_connection, openid, unionid, at)
        user_id, stored_unionid, created_at, created, status = stored
        user = User(
            id=user_id, openid=openid, unionid=stored_unionid, created_at=to_unix(created_at),
            status=status,
        )
        return user, created

    async def get(self, user_id: int) -> User | None:
        async with self._guard():
            return await self._run(_get, user_id)

    async def ping(self) -> None:
        """Answers at the schema this code needs, else ``SchemaOutdated`` (``revision.py``)."""
        async with self._guard():
            await self._run(self._schema_check)

    async def _login_on_driver(
        self, args: tuple[str, str | None, datetime, datetime, datetime]
    ) -> Stored | None:
        """MariaDB's login on the driver's cursor; ``None`` if it failed (try SQLAlchemy's way).

        SQLAlchemy still checks the connection out and in (with its connect-time settings,
        recycling and pool bounds); a failed or cancelled statement leaves the connection in an
        unknown state, so it is invalidated (closed), never returned to the pool. The caller
        then goes through SQLAlchemy, which treats disconnects, deadlocks and errors.
        """
        try:
            pooled = await self._engine.raw_connection()
        except Exception:  # connecting again through SQLAlchemy says why
            return None
        try:
            driver = pooled.driver_connection
            assert driver is not None  # a live pooled connection has one
            cursor = await driver.cursor()
            await cursor.execute(MARIADB_LOGIN_SQL, args)
            user_id, unionid, created_at, tag, status = await cursor.fetchone()
            await cursor.close()
        except BaseException as exc:
            await greenlet_spawn(pooled.invalidate, exc)
            if isinstance(exc, Exception):
                return None
            raise  # a cancellation (the deadline)
        await greenlet_spawn(pooled.close)
        return user_id, unionid, created_at, tag != user_id | EXISTED, status

    async def _login_on_connection(
        self, conn: AsyncConnection, openid: str, unionid: str | None, at: datetime
    ) -> Stored:
        if self._login is None:  # the server's kind is known once connected
            self._login = login_for(conn.dialect)
        params: LoginParams = {"openid_arg": openid, "unionid_arg": unionid, "at": at}
        for _ in range(RACE_ROUNDS):
            stored = await self._login(conn, params)
            if stored is not None:
                return stored
        # Only if the row kept vanishing between a failed insert and the next read.
        raise StoreUnavailable()

    async def _run(
        self,
        work: Callable[Concatenate[AsyncConnection, A], Awaitable[T]],
        *args: A.args,
        **kwargs: A.kwargs,
    ) -> T:
        """``work(connection, *args)`` on a pooled connection, tried again where that is safe."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                async with self._engine.connect() as conn:
                    return await work(conn, *args, **kwargs)
            except DBAPIError as exc:
                if attempt == ATTEMPTS or not _worth_another_try(exc):
                    raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _guard(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            raise StoreUnavailable() from exc


async def _get(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(_SELECT_USER, {"user_id": user_id})).first()
    if row is None:
        return None
    return User(
        id=row.id, openid=row.openid, unionid=row.unionid, created_at=to_unix(row.created_at),
        status=row.status,
    )


def _worth_another_try(exc: DBAPIError) -> bool:
    """A dead connection (now invalidated, and a statement it sent failed on the way or ran
    once) or a deadlock victim (its statement was rolled back)."""
    if exc.connection_invalidated:
        return True
    args = getattr(exc.orig, "args", None) or (None,)
    return args[0] == 1213 or getattr(exc.orig, "sqlstate", None) in ("40P01", "40001")


def to_datetime(seconds: float) -> datetime:
    """Unix seconds as the naive UTC ``datetime`` the columns store (microsecond precision)."""
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def to_unix(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()
