"""The login's find-or-create statements, per database, for ``SqlAlchemyUserRepository``.

Each function runs one login on a connection and returns what it stored, or ``None`` when a
concurrent first login won the insert (the caller looks again).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypedDict

from sqlalchemy import bindparam, case, func, select, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.tables import users
from domain.accounts import ACTIVE

EXISTED = 1 << 63
"""The tag that MariaDB's upsert puts on the id of a row that was already there (ids are signed
BIGINTs: they never have this bit)."""

MARIADB_LOGIN_SQL = (
    "INSERT INTO users (openid, unionid, created_at, updated_at, last_login_at)"
    " VALUES (%s, %s, %s, %s, %s)"
    " ON DUPLICATE KEY UPDATE"
    " id = LAST_INSERT_ID(id | 0x8000000000000000) & 0x7FFFFFFFFFFFFFFF,"
    " updated_at = IF(unionid IS NULL AND VALUES(unionid) IS NOT NULL, VALUES(updated_at),"
    " updated_at),"
    " unionid = COALESCE(unionid, VALUES(unionid)),"
    " last_login_at = VALUES(last_login_at)"
    " RETURNING id, unionid, created_at, LAST_INSERT_ID(), status"
)
"""A whole login on MariaDB 10.5+, new user or returning: one statement, one round trip.

Assignments run left to right, each seeing the earlier ones: ``updated_at`` moves when the
``unionid`` is filled in, before ``unionid`` changes; ``RETURNING`` shows the row as written.
Whether the row was inserted can come neither from the affected-row count (with
CLIENT_FOUND_ROWS, which SQLAlchemy sets, a row updated to its own values counts 1, like an
insert) nor from the insert id (``LAST_INSERT_ID(expr)`` sets it for updates too). So the update
branch, and only it, sets ``LAST_INSERT_ID()`` to the id tagged with ``EXISTED``, and
``RETURNING`` reads it back: an inserted row has a brand-new id, which no earlier statement can
have tagged (the insert branch leaves the connection's previous value there). Like every
``INSERT ... ON DUPLICATE KEY UPDATE`` on InnoDB, a returning user's login uses up one
AUTO_INCREMENT value: ids have gaps, of no consequence in 63 bits."""

# Typed, so that PostgreSQL knows what each parameter is wherever it appears (CASE, IS NULL).
_OPENID = bindparam("openid_arg", type_=users.c.openid.type)
_UNIONID = bindparam("unionid_arg", type_=users.c.unionid.type)
AT = bindparam("at", type_=users.c.last_login_at.type)
USER_ID = bindparam("user_id", type_=users.c.id.type)
_CHANGES = [
    # MySQL assigns left to right, others read old values: updated_at first, while unionid
    # still holds its old value.
    (
        users.c.updated_at,
        case((users.c.unionid.is_(None) & _UNIONID.is_not(None), AT), else_=users.c.updated_at),
    ),
    (users.c.unionid, func.coalesce(users.c.unionid, _UNIONID)),
    (users.c.last_login_at, AT),
]
_LOGIN_COLUMNS = (users.c.id, users.c.unionid, users.c.created_at, users.c.status)
_NEW_ROW = {
    "openid": _OPENID,
    "unionid": _UNIONID,
    "created_at": AT,
    "updated_at": AT,
    "last_login_at": AT,
}

# Statements are built once, so SQLAlchemy compiles each once per process (its compiled cache).
_UPDATE_RETURNING = (
    update(users)
    .where(users.c.openid == _OPENID)
    .ordered_values(*_CHANGES)
    .returning(*_LOGIN_COLUMNS)
)
_INSERT_OR_NOTHING_RETURNING = {
    name: dialect.insert(users)
    .values(_NEW_ROW)
    .on_conflict_do_nothing(index_elements=[users.c.openid])
    .returning(users.c.id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_SELECT_BY_OPENID = select(*_LOGIN_COLUMNS).where(users.c.openid == _OPENID)
_UPDATE_BY_ID = update(users).where(users.c.id == USER_ID).ordered_values(*_CHANGES)
_MYSQL_INSERT_OR_NOTHING = (
    mysql.insert(users).values(_NEW_ROW).on_duplicate_key_update(openid=users.c.openid)
)
Stored = tuple[int, str | None, datetime, bool, str]
"""What a login learns: the user's id, unionid, creation time, whether it created it, and its
status (a banned user's login is refused)."""


class LoginParams(TypedDict):
    openid_arg: str
    unionid_arg: str | None
    at: datetime


Login = Callable[[AsyncConnection, LoginParams], Awaitable[Stored | None]]


def login_for(dialect: Dialect) -> Login:
    if dialect.name in ("mysql", "mariadb"):
        return login_mariadb if dialect.insert_returning else _login_mysql
    if dialect.name in _INSERT_OR_NOTHING_RETURNING:
        return _login_update_returning
    raise NotImplementedError(f"no atomic find-or-insert for the {dialect.name} dialect")


async def login_mariadb(conn: AsyncConnection, params: LoginParams) -> Stored:
    at = params["at"]
    args = (params["openid_arg"], params["unionid_arg"], at, at, at)
    row = (await conn.exec_driver_sql(MARIADB_LOGIN_SQL, args)).one()
    user_id, unionid, created_at, tag, status = tuple(row)
    return user_id, unionid, created_at, tag != user_id | EXISTED, status


async def _login_update_returning(conn: AsyncConnection, params: LoginParams) -> Stored | None:
    row = (await conn.execute(_UPDATE_RETURNING, params)).first()
    if row is not None:
        return row.id, row.unionid, row.created_at, False, row.status
    insert = _INSERT_OR_NOTHING_RETURNING[conn.dialect.name]
    new_id: int | None = (await conn.execute(insert, params)).scalar_one_or_none()
    return None if new_id is None else (new_id, params["unionid_arg"], params["at"], True, ACTIVE)


async def _login_mysql(conn: AsyncConnection, params: LoginParams) -> Stored | None:
    # Read first, without locks: an UPDATE matching no row would gap-lock the openid index, and
    # concurrent first logins would deadlock.
    row = (await conn.execute(_SELECT_BY_OPENID, params)).first()
    if row is not None:
        await conn.execute(_UPDATE_BY_ID, {**params, "user_id": row.id})
        return row.id, row.unionid or params["unionid_arg"], row.created_at, False, row.status
    new_id: int = (await conn.execute(_MYSQL_INSERT_OR_NOTHING, params)).lastrowid
    return (new_id, params["unionid_arg"], params["at"], True, ACTIVE) if new_id else None
