"""The Alembic migrations build the schema the code expects, idempotently: on SQLite, MariaDB and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import ALEMBIC_INI, upgrade_to_head
from adapters.sqlalchemy.tables import metadata
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.entities import Identity
from tests.fixtures.mariadb_server import MariaDBServer
from tests.fixtures.postgres_server import PostgresServer


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("mariadb", marks=pytest.mark.integration),
        pytest.param("postgres", marks=pytest.mark.integration),
    ]
)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database; the SQLite file's directory does not exist yet."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'weapp.db'}"
    server: MariaDBServer | PostgresServer = request.getfixturevalue(f"{request.param}_server")
    return server.create_database("weapp_fresh")


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[AsyncConnection]:
    async with asynccontextmanager(open_engine)(url) as engine, engine.connect() as connection:
        yield connection


def users_schema(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    return {
        "columns": [column["name"] for column in inspector.get_columns("users")],
        "unique": [sorted(c["column_names"]) for c in inspector.get_unique_constraints("users")],
        "primary_key": inspector.get_pk_constraint("users")["constrained_columns"],
    }


def head_revision() -> str | None:
    return ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_current_head()


def differences_from_the_code(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def test_upgrade_to_head_creates_users_and_their_unique_identities(fresh_url: str) -> None:
    await upgrade_to_head(fresh_url)

    async with connected(fresh_url) as connection:
        schema = await connection.run_sync(users_schema)
        identities = await connection.run_sync(
            lambda sync: inspect(sync).get_pk_constraint("user_identities")["constrained_columns"]
        )
    assert set(schema["columns"]) == {
        "id", "phone", "created_at", "updated_at", "last_login_at", "status"}
    assert schema["primary_key"] == ["id"]
    assert identities == ["platform", "appid", "openid"]


async def test_migrated_schema_matches_the_tables_the_code_queries(fresh_url: str) -> None:
    await upgrade_to_head(fresh_url)

    async with connected(fresh_url) as connection:
        assert await connection.run_sync(differences_from_the_code) == []


async def test_upgrading_twice_is_a_no_op(fresh_url: str) -> None:
    await upgrade_to_head(fresh_url)
    async with connected(fresh_url) as connection:
        await connection.execute(
            text(
                "INSERT INTO users (id, created_at, updated_at, last_login_at)"
                " VALUES (7, '2026-01-01', '2026-01-01', '2026-01-01')"
            )
        )
        await connection.commit()

    await upgrade_to_head(fresh_url)

    async with connected(fresh_url) as connection:
        version = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
        kept = (await connection.execute(text("SELECT id FROM users"))).scalars().all()
    assert version == [(head_revision(),)]
    assert kept == [7]


def downgrade_to_0004(connection: Connection) -> None:
    config = Config(str(ALEMBIC_INI))
    config.attributes["connection"] = connection
    command.downgrade(config, "0004")


def tables_and_rows(connection: Connection) -> tuple[set[str], list[Any]]:
    rows = connection.execute(
        text("SELECT user_id, appid, openid, unionid FROM user_identities ORDER BY openid")
    ).all()
    return set(inspect(connection).get_table_names()), [tuple(row) for row in rows]


async def test_0005_downgrades_to_0004_keeping_every_user_and_upgrades_again(
    fresh_url: str,
) -> None:
    await upgrade_to_head(fresh_url)
    shop, staff = (Identity("wechat", app, f"o-{app}", "u-1") for app in ("wx-shop", "wx-staff"))
    async with asynccontextmanager(open_engine)(fresh_url) as engine:
        repository = SqlAlchemyUserRepository(engine)
        user, _ = await repository.get_or_create(shop, now=1_800_000_000)
        await repository.get_or_create(staff, now=1_800_000_001)
    async with connected(fresh_url) as connection:
        tables, at_head = await connection.run_sync(tables_and_rows)
        claims = (await connection.execute(text("SELECT * FROM unionid_users"))).all()
    assert "unionid_users" in tables
    assert [tuple(row) for row in claims] == [("wechat", "u-1", user.id)]

    async with (
        asynccontextmanager(open_engine)(fresh_url, autocommit=False) as engine,
        engine.begin() as connection,
    ):
        await connection.run_sync(downgrade_to_0004)
    async with connected(fresh_url) as connection:
        tables, at_0004 = await connection.run_sync(tables_and_rows)
        version = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    assert "unionid_users" not in tables
    assert version == [("0004",)]
    assert at_0004 == at_head == [
        (user.id, "wx-shop", "o-wx-shop", "u-1"), (user.id, "wx-staff", "o-wx-staff", "u-1")]

    await upgrade_to_head(fresh_url)
    async with asynccontextmanager(open_engine)(fresh_url) as engine:
        repository = SqlAlchemyUserRepository(engine)
        assert await repository.get_or_create(shop, now=1_800_000_002) == (user, False)
        other, created = await repository.get_or_create(
            Identity("wechat", "wx-shop", "o-other", "u-2"), now=1_800_000_003
        )
        async with engine.connect() as connection:
            assert await connection.run_sync(differences_from_the_code) == []
    assert created is True
    assert other.id != user.id
