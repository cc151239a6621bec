"""Users in a SQL database, with SQLAlchemy Core (no ORM: this is the hot path of every login)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.util import greenlet_spawn

from adapters.sqlalchemy.revision import SchemaCheck
from adapters.sqlalchemy.tables import unionid_users, user_identities, users
from domain.accounts import ACTIVE, DELETED
from domain.entities import Identity, User
from domain.errors import StoreUnavailable
from domain.ports import UserRepository

T = TypeVar("T")
A = ParamSpec("A")

ATTEMPTS = 3
"""Tries of one call, each on a pooled connection, after a connection that died in the pool (the
server restarted: the next is fresh) or a deadlock (the victim's statement did nothing)."""

RACE_ROUNDS = 3
"""Rounds of find-or-insert in one try: the loser of a first-login race finds the winner's row."""

i, u = user_identities.c, users.c
AT = bindparam("at", type_=u.last_login_at.type)
USER_ID = bindparam("user_id", type_=u.id.type)
_PLATFORM = bindparam("platform_arg", type_=i.platform.type)
_APPID = bindparam("appid_arg", type_=i.appid.type)
_OPENID = bindparam("openid_arg", type_=i.openid.type)
_UNIONID = bindparam("unionid_arg", type_=i.unionid.type)
_THIS_IDENTITY = (i.platform == _PLATFORM) & (i.appid == _APPID) & (i.openid == _OPENID)

# Statements are built once, so SQLAlchemy compiles each once per process (its compiled cache).
_FIND = (
    select(i.user_id, i.unionid, u.created_at, u.status)
    .join_from(user_identities, users, u.id == i.user_id)
    .where(_THIS_IDENTITY)
)
_FIND_BY_UNIONID = (
    select(i.user_id, u.created_at, u.status)
    .join_from(user_identities, users, u.id == i.user_id)
    .where((i.platform == _PLATFORM) & (i.unionid == _UNIONID) & (u.status != DELETED))
    .order_by(i.user_id)
    .limit(1)
)
_TOUCH_IDENTITY = (
    update(user_identities)
    .where(_THIS_IDENTITY)
    .values(last_login_at=AT, unionid=func.coalesce(i.unionid, _UNIONID))
)
_TOUCH_USER = update(users).where(u.id == USER_ID).values(last_login_at=AT)
_NEW_USER = insert(users).values(created_at=AT, updated_at=AT, last_login_at=AT)
_NEW_IDENTITY = insert(user_identities).values(
    platform=_PLATFORM, appid=_APPID, openid=_OPENID, user_id=USER_ID, unionid=_UNIONID,
    created_at=AT, last_login_at=AT,
)
_CLAIM_UNIONID = insert(unionid_users).values(
    platform=_PLATFORM, unionid=_UNIONID, user_id=USER_ID
)
# A deleted user's claim: what an erasure by a version before 0005 (still serving during a rolling
# update once the migration ran) leaves behind; its identities are gone, so no login could join.
_RELEASE_DELETED_USERS_CLAIM = delete(unionid_users).where(
    (unionid_users.c.platform == _PLATFORM) & (unionid_users.c.unionid == _UNIONID)
    & exists().where((u.id == unionid_users.c.user_id) & (u.status == DELETED))
)
_DROP_USER = delete(users).where(u.id == USER_ID)
_DROP_STRAY_IDENTITY = delete(user_identities).where(_THIS_IDENTITY & (i.user_id == USER_ID))
_SELECT_USER = select(u.id, u.created_at, u.status).where(u.id == USER_ID)
_SELECT_IDENTITIES = select(i.platform, i.appid, i.openid, i.unionid).where(i.user_id == USER_ID)
# MySQL and MariaDB: a returning identity's login on the driver's own cursor (see
# ``_returning_on_driver``), in one round trip: both tables' ``last_login_at`` in one statement,
# then the user, sent together (aiomysql always enables the protocol's multi-statements).
_MYSQL_TOUCH_THEN_FIND = (
    "UPDATE user_identities i JOIN users u ON u.id = i.user_id"
    " SET i.last_login_at = %s, u.last_login_at = %s, i.unionid = COALESCE(i.unionid, %s)"
    " WHERE i.platform = %s AND i.appid = %s AND i.openid = %s;"
    " SELECT i.user_id, u.created_at, u.status"
    " FROM user_identities i JOIN users u ON u.id = i.user_id"
    " WHERE i.platform = %s AND i.appid = %s AND i.openid = %s"
)

class SqlAlchemyUserRepository(UserRepository):
    """``UserRepository`` on MariaDB/MySQL (aiomysql), PostgreSQL (asyncpg) and SQLite, with
    the same statements on each.

    - A returning identity: one ``SELECT`` (the identity joined to its user), then its
      ``last_login_at`` (and a ``unionid`` it lacked) and the user's ``last_login_at``.
    - A new identity joins the user of another identity of its platform with its ``unionid``;
      else a new user is inserted. Then the identity is inserted; when that finds the identity
      taken (a concurrent first login won), the new user is deleted again and the call looks
      once more, finding the winner's row: only the inserting call reports ``created``.
    - A new user for a ``unionid`` is inserted with its claim on the unionid (``unionid_users``)
      and its identity in one transaction (``BEGIN``, three ``INSERT``s, ``COMMIT``): a
      simultaneous first login of the unionid on another app of the platform (another identity)
      collides on the claim's primary key (MariaDB and PostgreSQL hold its ``INSERT`` until the
      first transaction ends, SQLite lets one writer in at a time), rolls its own user back and
      looks once more, finding the winner's identity to join.
    - A deleted user is never joined nor logged in: a first login that joined a user while its
      account was being deleted leaves its identity on the deleted user, and that identity's
      next login removes it and is a first login again.

    On MySQL and MariaDB a returning identity's login (the common case) is one round trip: a
    multi-table ``UPDATE`` and a ``SELECT`` sent together on the driver's own cursor, out of
    SQLAlchemy's execution layer, which costs about as much CPU as the driver itself
    (``_returning_on_driver``).

    Each statement commits on its own (the engine's autocommit): no ``COMMIT`` round trip.
    Every call finishes within ``timeout`` seconds (aiomysql has no read timeout). A connection
    that died in the pool (the server restarted) fails as a disconnect, SQLAlchemy drops it with
    every other as old, and the call is tried again on a fresh one. Any driver, pool or time-out
    error becomes ``StoreUnavailable``.

    One ambiguity remains, as with any request whose answer is lost: a first login whose
    statement the server ran but whose answer never came created the user, and the next try
    reports it as found.
    """

    def __init__(self, engine: AsyncEngine, *, timeout: float = 1.5) -> None:
        self._engine = engine
        self._timeout = timeout
        self._schema_check = SchemaCheck()

    async def get_or_create(self, identity: Identity, *, now: float) -> tuple[User, bool]:
        params: dict[str, object] = {
            "platform_arg": identity.platform, "appid_arg": identity.appid,
            "openid_arg": identity.openid, "unionid_arg": identity.unionid,
            "at": to_datetime(now),
        }
        async with self._guard():
            stored = None
            if self._engine.dialect.name in ("mysql", "mariadb"):
                key = (identity.platform, identity.appid, identity.openid)
                stored = await self._returning_on_driver(
                    (params["at"], params["at"], identity.unionid, *key, *key)
                )
            if stored is None or stored[3] == DELETED:
                stored = await self._run(_login, params)
        user_id, created_at, created, status = stored
        return User(id=user_id, created_at=to_unix(created_at), status=status), created

    async def _returning_on_driver(self, args: tuple[object, ...]) -> Stored | None:
        """A returning identity's login on the driver's cursor; ``None`` for a new identity or
        when it failed (the caller then goes through SQLAlchemy, which treats disconnects,
        deadlocks and errors, and creates).

        SQLAlchemy still checks the connection out and in (with its connect-time settings,
        recycling and pool bounds); a failed or cancelled statement leaves the connection in an
        unknown state (perhaps with the ``SELECT``'s answer still unread), so it is invalidated
        (closed), never returned to the pool.
        """
        try:
            pooled = await self._engine.raw_connection()
        except Exception:  # connecting again through SQLAlchemy says why
            return None
        try:
            driver = pooled.driver_connection
            assert driver is not None  # a live pooled connection has one
            cursor = await driver.cursor()
            matched = await cursor.execute(_MYSQL_TOUCH_THEN_FIND, args)  # the UPDATE's rows
            await cursor.nextset()  # the SELECT's
            row = await cursor.fetchone() if matched else None  # matched: a known identity
            await cursor.close()
        except BaseException as exc:
            await greenlet_spawn(pooled.invalidate, exc)
            if isinstance(exc, Exception):
                return None
            raise  # a cancellation (the deadline)
        await greenlet_spawn(pooled.close)
        return None if row is None else (row[0], row[1], False, row[2])

    async def get(self, user_id: int) -> User | None:
        async with self._guard():
            return await self._run(_get, user_id)

    async def identities(self, user_id: int) -> list[Identity]:
        async with self._guard():
            return await self._run(_identities, user_id)

    async def ping(self) -> None:
        """Answers at the schema this code needs, else ``SchemaOutdated`` (``revision.py``)."""
        async with self._guard():
            await self._run(self._schema_check)

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


Stored = tuple[int, datetime, bool, str]
"""What a login learns: the user's id, its creation time, whether the login created it, and
its status (a banned user's login is refused)."""


async def _login(conn: AsyncConnection, params: dict[str, object]) -> Stored:
    for _ in range(RACE_ROUNDS):
        row = (await conn.execute(_FIND, params)).first()
        if row is not None and row.status == DELETED:
            # Only a first login that joined the user as its account was being deleted leaves an
            # identity on a deleted user (its insert waited for the deletion's lock): it goes, and
            # this login is a first one again.
            await conn.execute(_DROP_STRAY_IDENTITY, {**params, "user_id": row.user_id})
            continue
        if row is not None:
            await conn.execute(_TOUCH_IDENTITY, params)
            await conn.execute(_TOUCH_USER, {**params, "user_id": row.user_id})
            return row.user_id, row.created_at, False, row.status
        stored = await _new_identity(conn, params)
        if stored is not None:
            return stored
    # Only if the row kept vanishing between a failed insert and the next read (or a unionid's
    # claim in unionid_users outlived the identities of a user that is not deleted).
    raise StoreUnavailable()


async def _new_identity(conn: AsyncConnection, params: dict[str, object]) -> Stored | None:
    """Insert the identity, for the user of its unionid or a new one; ``None`` if it was taken."""
    if params["unionid_arg"] is not None:
        row = (await conn.execute(_FIND_BY_UNIONID, params)).first()
        if row is None:
            return await _new_user_of_unionid(conn, params)
        user_id, created_at, created, status = row.user_id, row.created_at, False, row.status
    else:
        inserted = await conn.execute(_NEW_USER, params)
        new_key = inserted.inserted_primary_key
        assert new_key is not None
        user_id, created_at, created, status = new_key[0], params["at"], True, ACTIVE
    try:
        await conn.execute(_NEW_IDENTITY, {**params, "user_id": user_id})
    except IntegrityError:  # a concurrent first login of this identity won
        if created:
            await conn.execute(_DROP_USER, {"user_id": user_id})
        return None
    assert isinstance(created_at, datetime)
    return user_id, created_at, created, status


async def _new_user_of_unionid(
    conn: AsyncConnection, params: dict[str, object]
) -> Stored | None:
    """A new user, its claim on the identity's unionid and the identity, in one transaction;
    ``None`` (and nothing written but the release of a deleted user's claim) if a concurrent
    first login claimed the unionid or took the identity first.

    The connection autocommits, so the transaction is the database's own ``BEGIN`` and
    ``COMMIT``, which SQLAlchemy does not track: a connection left inside it (an error other
    than the expected conflict, or the deadline's cancellation) is invalidated, which closes it
    and so rolls the transaction back, rather than returned to the pool in the middle of it.
    """
    try:
        await conn.exec_driver_sql("BEGIN")
        inserted = await conn.execute(_NEW_USER, params)
        new_key = inserted.inserted_primary_key
        assert new_key is not None
        user_id = new_key[0]
        await conn.execute(_CLAIM_UNIONID, {**params, "user_id": user_id})
        await conn.execute(_NEW_IDENTITY, {**params, "user_id": user_id})
        await conn.exec_driver_sql("COMMIT")
    except IntegrityError:  # the unionid's claim, or the identity, was taken: the winner's
        await _end(conn, "ROLLBACK")
        # Unless the claim is a deleted user's (no identity left to join, every later try would
        # lose to it): released, so the next round creates the user. A deleted user stays deleted.
        await conn.execute(_RELEASE_DELETED_USERS_CLAIM, params)
        return None
    except BaseException:
        await conn.invalidate()
        raise
    at = params["at"]
    assert isinstance(at, datetime)
    return user_id, at, True, ACTIVE


async def _end(conn: AsyncConnection, statement: str) -> None:
    try:
        await conn.exec_driver_sql(statement)
    except BaseException:
        await conn.invalidate()
        raise


async def _get(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(_SELECT_USER, {"user_id": user_id})).first()
    if row is None:
        return None
    return User(id=row.id, created_at=to_unix(row.created_at), status=row.status)


async def _identities(conn: AsyncConnection, user_id: int) -> list[Identity]:
    rows = (await conn.execute(_SELECT_IDENTITIES, {"user_id": user_id})).all()
    return [Identity(r.platform, r.appid, r.openid, r.unionid) for r in rows]


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
