"""``/readyz`` on a database at another schema revision than the code's (production does not
migrate at start): older or never migrated is ``outdated``; newer (a rolling deploy) is fine."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import ALEMBIC_INI, upgrade_to_head
from tests.fixtures.mariadb_server import MariaDBServer
from tests.fixtures.postgres_server import PostgresServer
from tests.serving import make_container, serve


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("mariadb", marks=pytest.mark.integration),
        pytest.param("postgres", marks=pytest.mark.integration),
    ]
)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'weapp.db'}"
    server: MariaDBServer | PostgresServer = request.getfixturevalue(f"{request.param}_server")
    return server.create_database("weapp_revisions")


async def on_connection(url: str, work: Any) -> None:
    async with (
        asynccontextmanager(open_engine)(url, autocommit=False) as engine,
        engine.begin() as connection,
    ):
        await connection.run_sync(work)


def downgrade_one(connection: Connection) -> None:
    config = Config(str(ALEMBIC_INI))
    config.attributes["connection"] = connection
    command.downgrade(config, "-1")


async def readyz(url: str) -> tuple[int, dict[str, Any]]:
    async with serve(make_container({"DATABASE_URL": url})) as base, aiohttp.ClientSession(
    ) as http, http.get(f"{base}/readyz") as reply:
        return reply.status, await reply.json()


async def test_a_database_at_the_previous_revision_is_outdated(empty_url: str) -> None:
    await upgrade_to_head(empty_url)
    await on_connection(empty_url, downgrade_one)

    status, body = await readyz(empty_url)

    assert status == 503
    assert body["error"]["code"] == "unavailable"
    assert body["checks"] == {"sessions": "ok", "users": "outdated"}


async def test_a_database_never_migrated_is_outdated(empty_url: str) -> None:
    status, body = await readyz(empty_url)

    assert status == 503
    assert body["checks"] == {"sessions": "ok", "users": "outdated"}


async def test_a_database_at_the_head_revision_is_ready(empty_url: str) -> None:
    await upgrade_to_head(empty_url)

    assert await readyz(empty_url) == (
        200, {"status": "ok", "checks": {"sessions": "ok", "users": "ok"}}
    )


async def test_a_database_at_a_newer_revision_than_the_code_knows_is_ready(
    empty_url: str,
) -> None:
    """A later version migrated it first (rolling deploy): this one keeps serving."""
    await upgrade_to_head(empty_url)
    await on_connection(
        empty_url, lambda c: c.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    )

    status, body = await readyz(empty_url)

    assert (status, body["checks"]) == (200, {"sessions": "ok", "users": "ok"})
