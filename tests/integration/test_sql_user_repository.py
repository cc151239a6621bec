"""The SQL user repository beyond the port's contract: the rows it writes, how it fails."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import upgrade_to_head
from adapters.sqlalchemy.tables import users
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.errors import StoreUnavailable
from tests.fakes import FakeClock
from tests.fixtures.mariadb_server import MariaDBServer, free_port


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.integration)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'users.db'}"
        await upgrade_to_head(url)
    else:
        url = str(request.getfixturevalue("mariadb_url"))
    async with asynccontextmanager(open_engine)(url) as opened:
        yield opened


async def row_of(engine: AsyncEngine, user_id: int) -> Row[tuple[object, ...]]:
    async with engine.connect() as connection:
        return (await connection.execute(select(users).where(users.c.id == user_id))).one()


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


async def test_a_login_records_its_time_and_leaves_updated_at_alone(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    repository = SqlAlchemyUserRepository(engine)
    created_at = clock.now()
    user, _ = await repository.get_or_create("o-alice", unionid="u-alice", now=created_at)
    clock.advance(90.5)

    await repository.get_or_create("o-alice", unionid="u-alice", now=clock.now())

    row = await row_of(engine, user.id)
    assert row.created_at == row.updated_at == utc(created_at)
    assert row.last_login_at == utc(clock.now())


async def test_filling_in_the_unionid_moves_updated_at(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    repository = SqlAlchemyUserRepository(engine)
    user, _ = await repository.get_or_create("o-alice", unionid=None, now=clock.now())
    clock.advance(60)

    await repository.get_or_create("o-alice", unionid="u-alice", now=clock.now())

    row = await row_of(engine, user.id)
    assert row.unionid == "u-alice"
    assert row.updated_at == row.last_login_at == utc(clock.now())


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("mariadb", marks=pytest.mark.integration)]
)
async def test_a_failing_statement_becomes_store_unavailable_without_the_openid(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'unmigrated.db'}"
    else:
        url = request.getfixturevalue("mariadb_server").create_database("weapp_unmigrated")
    async with asynccontextmanager(open_engine)(url) as engine:
        repository = SqlAlchemyUserRepository(engine)

        with pytest.raises(StoreUnavailable) as raised:  # no users table
            await repository.get_or_create("o-secret-openid", unionid=None, now=clock.now())

    assert raised.value.__cause__ is not None
    assert "o-secret-openid" not in str(raised.value.__cause__)


async def test_a_database_nobody_listens_for_is_unavailable_within_two_seconds(
    clock: FakeClock,
) -> None:
    url = f"mysql+aiomysql://weapp:pw@127.0.0.1:{free_port()}/weapp"
    async with asynccontextmanager(open_engine)(url) as engine:
        repository = SqlAlchemyUserRepository(engine)
        async with asyncio.timeout(2.5):
            with pytest.raises(StoreUnavailable):
                await repository.get_or_create("o-alice", unionid=None, now=clock.now())
            with pytest.raises(StoreUnavailable):
                await repository.get(1)
            with pytest.raises(StoreUnavailable):
                await repository.ping()


@pytest.mark.integration
async def test_a_frozen_mariadb_is_unavailable_within_two_seconds_and_back_when_it_thaws(
    mariadb_server: MariaDBServer, mariadb_url: str, clock: FakeClock
) -> None:
    async with asynccontextmanager(open_engine)(mariadb_url, pool_size=2) as engine:
        repository = SqlAlchemyUserRepository(engine)
        await repository.ping()  # one pooled connection, opened before the freeze
        mariadb_server.pause()
        try:
            for _ in range(2):  # the pooled connection, then a new one
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await repository.get_or_create("o-alice", unionid=None, now=clock.now())
                assert time.monotonic() - started < 2.0
        finally:
            mariadb_server.resume()

        user, created = await repository.get_or_create("o-alice", unionid=None, now=clock.now())
        assert created is True
        assert await repository.get(user.id) == user
