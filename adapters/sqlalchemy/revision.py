"""Whether a database is at the schema revision this code needs (Alembic's ``alembic_version``).

Production does not migrate at start, so a deploy that skipped ``make migrate`` would serve on
an older schema and fail at the first query of a missing column. The user repository's ping
checks the database's revision instead, and says ``SchemaOutdated``.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.migrate import ALEMBIC_INI
from domain.errors import SchemaOutdated

VERSION_TABLE = "alembic_version"
_CURRENT = text("SELECT version_num FROM alembic_version")


@dataclass(frozen=True, slots=True)
class Revisions:
    """The revisions of this code's migrations: the newest (``heads``) and all it knows."""

    heads: frozenset[str]
    known: frozenset[str]

    def outdated(self, current: frozenset[str]) -> bool:
        """The database lacks a migration of this code: it has no revision, or only older ones.

        A revision this code does not know is newer: a later version migrated the database
        during a rolling deploy. Its migrations keep older code working, so that counts as up
        to date.
        """
        return current != self.heads and current <= self.known


@functools.cache
def code_revisions() -> Revisions:
    """Read from the migration scripts once per process (files: call it off the event loop)."""
    script = ScriptDirectory.from_config(Config(str(ALEMBIC_INI)))
    return Revisions(
        heads=frozenset(script.get_heads()),
        known=frozenset(revision.revision for revision in script.walk_revisions()),
    )


class SchemaCheck:
    """``await check(connection)`` raises ``SchemaOutdated`` unless the database is up to date."""

    def __init__(self) -> None:
        self._revisions: Revisions | None = None

    async def __call__(self, conn: AsyncConnection) -> None:
        if self._revisions is None:
            self._revisions = await asyncio.to_thread(code_revisions)
        if self._revisions.outdated(await _current(conn)):
            raise SchemaOutdated()


async def _current(conn: AsyncConnection) -> frozenset[str]:
    """The database's revisions; none where it was never migrated (no version table)."""
    try:
        result = await conn.execute(_CURRENT)
    except DBAPIError as exc:
        # Drivers name a missing table differently: ask the catalogue, on a live connection.
        if exc.connection_invalidated or await conn.run_sync(_has_version_table):
            raise
        return frozenset()
    return frozenset(result.scalars())


def _has_version_table(connection: Connection) -> bool:
    return inspect(connection).has_table(VERSION_TABLE)
