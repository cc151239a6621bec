"""Simultaneous first logins of one openid create one user, and only one call says it created it."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import upgrade_to_head
from adapters.sqlalchemy.tables import users
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.entities import User
from tests.fakes import FakeClock

LOGINS = 50
OPENID = "o-first-login-race"


class InsertCounter:
    """Counts the INSERT statements sent, to show that the race was run, not serialised away."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.inserts = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        statement: str = args[2]
        self.inserts += statement.lstrip().upper().startswith("INSERT")


async def warm_up(engine: AsyncEngine, connections: int) -> None:
    """Open ``connections`` pooled connections at once, so the logins do not wait to connect."""

    async def hold() -> None:
        async with engine.connect() as connection:
            await connection.execute(select(1))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(hold() for _ in range(connections)))


async def rows_of(engine: AsyncEngine, openid: str) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(users).where(users.c.openid == openid)
        return int((await connection.execute(query)).scalar_one())


def assert_one_user_created(results: list[tuple[User, bool]]) -> None:
    assert len({user.id for user, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1


engine_at = asynccontextmanager(open_engine)


@pytest.mark.integration
async def test_fifty_simultaneous_first_logins_on_mariadb_create_exactly_one_user(
    mariadb_url: str, clock: FakeClock
) -> None:
    async with engine_at(mariadb_url, pool_size=20) as engine:
        await warm_up(engine, 20)
        counter = InsertCounter(engine)
        repository = SqlAlchemyUserRepository(engine)

        results = await asyncio.gather(
            *(
                repository.get_or_create(OPENID, unionid=None, now=clock.now())
                for _ in range(LOGINS)
            )
        )

        assert_one_user_created(results)
        assert await rows_of(engine, OPENID) == 1
        assert counter.inserts > 1


async def test_fifty_simultaneous_first_logins_on_sqlite_from_several_workers_create_one_user(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    await upgrade_to_head(url)
    async with AsyncExitStack() as stack:
        # One engine per worker process of the service, all on the same file.
        engines = [await stack.enter_async_context(engine_at(url, pool_size=1)) for _ in range(5)]
        repositories = [SqlAlchemyUserRepository(engine) for engine in engines]

        results = await asyncio.gather(
            *(
                repositories[i % len(repositories)].get_or_create(
                    OPENID, unionid=None, now=clock.now()
                )
                for i in range(LOGINS)
            )
        )

        assert_one_user_created(results)
        assert await rows_of(engines[0], OPENID) == 1
