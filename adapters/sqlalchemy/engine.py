"""The SQLAlchemy engine as a resource: one pool per worker, opened at start, disposed at stop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

POOL_TIMEOUT_SECONDS = 1.0
"""How long a request waits for a free connection before the store counts as unavailable."""

POOL_RECYCLE_SECONDS = 1800
"""Connections are replaced before a server's idle timeout (MySQL ``wait_timeout``) drops them."""

SQLITE_POOL_SIZE = 1
"""SQLite lets one writer in at a time (and logins write): more connections in one process only
busy-wait on each other's locks, and can starve past the busy timeout; requests queue fairly in
the pool instead."""

SQLITE_BUSY_TIMEOUT_MS = 1000
"""How long a SQLite writer waits for another's lock: writes are short; answers are due in 2 s."""


async def open_engine(
    url: str, *, pool_size: int = 10, connect_timeout: float = 1.0
) -> AsyncIterator[AsyncEngine]:
    """Yield an ``AsyncEngine`` for ``url`` and dispose of its pool at the end.

    Every wait is bounded so that an unreachable database is reported within about a second:
    connecting (``connect_timeout``), checking a pooled connection out (``pool_pre_ping`` drops
    dead ones) and waiting for a free connection (``POOL_TIMEOUT_SECONDS``). SQLite files get
    their directory created, WAL, a busy timeout and a single connection (``pool_size`` is for
    servers: see ``SQLITE_POOL_SIZE``).
    Statement parameters (openids) are kept out of error messages and logs. A login on MySQL
    costs four round trips: the pre-ping, ``SELECT``, ``UPDATE``, ``COMMIT``.
    """
    parsed = make_url(url)
    options: dict[str, Any] = {
        "pool_pre_ping": True,
        "hide_parameters": True,
        # Our connections always end their transactions (``begin()`` commits or rolls back,
        # ``connect()`` rolls back on close, a cancelled statement invalidates): the pool's own
        # ROLLBACK at check-in would be one more round trip per login for nothing.
        "pool_reset_on_return": None,
    }
    if parsed.get_backend_name() == "sqlite":
        in_memory = parsed.database in (None, "", ":memory:")
        if not in_memory:
            assert parsed.database is not None
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            options |= _pool_options(SQLITE_POOL_SIZE, max_overflow=0)
    else:
        options |= _pool_options(pool_size)
        options["pool_recycle"] = POOL_RECYCLE_SECONDS
        options["connect_args"] = _connect_args(parsed, connect_timeout)

    engine = create_async_engine(parsed, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
    try:
        yield engine
    finally:
        await engine.dispose()


def _pool_options(pool_size: int, max_overflow: int = 10) -> dict[str, Any]:
    return {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": POOL_TIMEOUT_SECONDS,
    }


def _connect_args(url: URL, connect_timeout: float) -> dict[str, Any]:
    """The driver's connect timeout (aiomysql has no read timeout: statement deadlines are the
    repository's), and utf8mb4 on MySQL unless the URL says otherwise."""
    if url.get_backend_name() == "postgresql":
        return {"timeout": connect_timeout}
    args: dict[str, Any] = {"connect_timeout": connect_timeout}
    if "charset" not in url.query:
        args["charset"] = "utf8mb4"
    return args


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
