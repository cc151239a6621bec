"""The SQLAlchemy engine as a resource: one pool per worker, opened at start, disposed at stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

POOL_TIMEOUT_SECONDS = 1.0
"""How long a request waits for a free connection before the store counts as unavailable."""

POOL_RECYCLE_SECONDS = 1800
"""Connections are replaced before a server's idle timeout (MySQL ``wait_timeout``) drops them."""

STATEMENT_TIMEOUT_SECONDS = 2
"""The server's own limit on one statement or lock wait of the service: the repository gives up
after 1.5 s (and drops the connection), so the server should not keep working, or holding row
locks, for a client that has gone (MySQL waits 50 s for a row lock by default)."""

SQLITE_POOL_SIZE = 1
"""SQLite lets one writer in at a time (and logins write): more connections in one process only
busy-wait on each other's locks, and can starve past the busy timeout; requests queue fairly in
the pool instead."""

SQLITE_BUSY_TIMEOUT_MS = 1000
"""How long a SQLite writer waits for another's lock: writes are short; answers are due in 2 s."""


async def open_engine(
    url: str,
    *,
    pool_size: int = 20,
    connect_timeout: float = 1.0,
    autocommit: bool = True,
    statement_timeout: int | None = STATEMENT_TIMEOUT_SECONDS,
) -> AsyncIterator[AsyncEngine]:
    """Yield an ``AsyncEngine`` for ``url`` and dispose of its pool at the end.

    Every wait is bounded so that an unreachable database is reported within about a second:
    connecting (``connect_timeout``), waiting for a free connection (``POOL_TIMEOUT_SECONDS``),
    and statements on the server (``statement_timeout`` seconds; ``None`` for migrations, which
    may take long). SQLite files get their
    directory created, WAL, a busy timeout and a single connection (``pool_size`` is for servers:
    see ``SQLITE_POOL_SIZE``). Statement parameters (openids) are kept out of errors and logs.

    Round trips are what a login costs, so none is spent on bookkeeping:

    - ``autocommit`` (the default; migrations turn it off): each statement commits on its own,
      no ``COMMIT`` or ``ROLLBACK`` follows it. The repository's writes are single statements;
    - no ``pool_pre_ping`` (a round trip per checkout): a connection that died while pooled
      fails its statement as a disconnect, which invalidates the pool, and the repository tries
      once more on a fresh connection (see ``SqlAlchemyUserRepository``);
    - no reset of connections at check-in (``pool_reset_on_return``);
    - ``pool_size`` connections kept open and no overflow: SQLAlchemy closes an overflow
      connection at check-in, so a load beyond the pool paid a new connection (a handshake of
      several round trips and ~0.3 CPU-ms here) every few statements; beyond ``pool_size``
      statements wait for a connection, at most ``POOL_TIMEOUT_SECONDS``;
    - statements are compiled once per process (SQLAlchemy's compiled cache) and, on
      PostgreSQL, prepared once per connection (asyncpg's statement cache).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    options: dict[str, object] = {"hide_parameters": True, "pool_reset_on_return": None}
    if autocommit:
        options |= {"isolation_level": "AUTOCOMMIT", "skip_autocommit_rollback": True}
    if backend == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        if not in_memory:
            assert parsed.database is not None
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            options |= _pool_options(SQLITE_POOL_SIZE, max_overflow=0)
    else:
        options |= _pool_options(pool_size, max_overflow=0)
        options["pool_recycle"] = POOL_RECYCLE_SECONDS
        options["connect_args"] = _connect_args(parsed, connect_timeout, statement_timeout)

    engine = create_async_engine(parsed, **options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
    if backend == "postgresql":
        _drop_dead_connections_at_once(engine.sync_engine.dialect)
    try:
        yield engine
    finally:
        await engine.dispose()


def _pool_options(pool_size: int, max_overflow: int) -> dict[str, object]:
    return {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": POOL_TIMEOUT_SECONDS,
    }


def _connect_args(
    url: URL, connect_timeout: float, statement_timeout: int | None
) -> dict[str, object]:
    """The driver's timeouts and the session's settings, all sent while connecting.

    asyncpg: ``timeout`` (connect), ``command_timeout`` (each statement, client side) and the
    server's ``statement_timeout``/``lock_timeout`` in the start-up packet (no extra round
    trip). aiomysql has no read timeout (the repository's deadline covers it): the server gets
    ``innodb_lock_wait_timeout``; utf8mb4 unless the URL says otherwise.
    """
    if url.get_backend_name() == "postgresql":
        settings = {"application_name": "weapp-login"}
        if statement_timeout is not None:
            server_ms = str(statement_timeout * 1000)
            settings |= {"statement_timeout": server_ms, "lock_timeout": server_ms}
        return {
            "timeout": connect_timeout,
            "command_timeout": statement_timeout,
            "server_settings": settings,
        }
    args: dict[str, object] = {"connect_timeout": connect_timeout}
    if statement_timeout is not None:
        args["init_command"] = f"SET SESSION innodb_lock_wait_timeout = {statement_timeout}"
    if "charset" not in url.query:
        args["charset"] = "utf8mb4"
    return args


def _drop_dead_connections_at_once(dialect: Dialect) -> None:
    """Make a connection that SQLAlchemy gives up on (a statement cancelled at the deadline, a
    disconnect) close at once. SQLAlchemy first asks asyncpg for a polite close, which waits up
    to 2 s for the server to answer: a frozen server would hold every answer past its 2 s."""

    def terminate(dbapi_connection: DBAPIConnection) -> None:
        dialect.get_driver_connection(dbapi_connection).terminate()

    dialect.do_terminate = terminate  # type: ignore[method-assign]


def _configure_sqlite(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
