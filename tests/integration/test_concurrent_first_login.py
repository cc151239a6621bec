"""Simultaneous first logins of one openid create one user, and only one call says it created it;
so do simultaneous first logins of one unionid on several apps of a platform (several openids)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.memory.users import InMemoryUserRepository
from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import upgrade_to_head
from adapters.sqlalchemy.tables import user_identities, users, webhook_outbox
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.entities import Identity, User
from tests.fakes import FakeClock

LOGINS = 50
OPENID = "o-first-login-race"

engine_at = asynccontextmanager(open_engine)


class InsertCounter:
    """Counts the INSERT statements sent through SQLAlchemy, to show that the race was run."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.inserts = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        statement: str = args[2]
        self.inserts += statement.lstrip().upper().startswith("INSERT")

    def count(self) -> int:
        return self.inserts


class UserInsertCounter:
    """Counts the ``INSERT INTO users`` statements sent: more than one for a unionid shows that
    its first logins raced to create its user (the losers' inserts are rolled back)."""

    def __init__(self, engines: list[AsyncEngine]) -> None:
        self.inserts = 0
        for engine in engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        statement: str = args[2]
        self.inserts += statement.lstrip().upper().startswith("INSERT INTO USERS ")


async def warm_up(engine: AsyncEngine, connections: int) -> None:
    """Open ``connections`` pooled connections at once, so the logins do not wait to connect."""

    async def hold() -> None:
        async with engine.connect() as connection:
            await connection.execute(select(1))
            await asyncio.sleep(0.05)

    await asyncio.gather(*(hold() for _ in range(connections)))


async def rows_of(engine: AsyncEngine, openid: str) -> int:
    """Users with an identity of ``openid``, and users without any (a race's leftovers)."""
    identities = user_identities.c
    async with engine.connect() as connection:
        query = (
            select(func.count())
            .select_from(users)
            .where(
                users.c.id.in_(select(identities.user_id).where(identities.openid == openid))
                | users.c.id.not_in(select(identities.user_id))
            )
        )
        return int((await connection.execute(query)).scalar_one())


async def race(
    get_or_create: Callable[[int], Awaitable[tuple[User, bool]]],
) -> list[tuple[User, bool]]:
    return list(await asyncio.gather(*(get_or_create(i) for i in range(LOGINS))))


def assert_one_user_created(results: list[tuple[User, bool]]) -> None:
    assert len({user.id for user, _ in results}) == 1
    assert [created for _, created in results].count(True) == 1


@pytest.mark.integration
@pytest.mark.parametrize(
    ("backend", "url_fixture"),
    [("mariadb", "mariadb_url"), ("postgres", "postgres_url")],
)
async def test_fifty_simultaneous_first_logins_on_a_server_create_exactly_one_user(
    backend: str, url_fixture: str, request: pytest.FixtureRequest, clock: FakeClock
) -> None:
    url = str(request.getfixturevalue(url_fixture))
    async with engine_at(url, pool_size=20) as engine:
        await warm_up(engine, 20)
        repository = SqlAlchemyUserRepository(engine)
        await repository.get_or_create(
            Identity("wechat", "wx-test", "o-someone-else", None), now=clock.now()
        )
        inserts = InsertCounter(engine).count
        before = inserts()

        results = await race(
            lambda _: repository.get_or_create(
                Identity("wechat", "wx-test", OPENID, None), now=clock.now()
            )
        )

        assert_one_user_created(results)
        assert await rows_of(engine, OPENID) == 1
        assert inserts() - before > 1  # the calls raced, they were not queued one by one


async def test_fifty_simultaneous_first_logins_on_sqlite_from_several_workers_create_one_user(
    tmp_path: Path, clock: FakeClock
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    await upgrade_to_head(url)
    async with AsyncExitStack() as stack:
        # One engine per worker process of the service, all on the same file.
        engines = [await stack.enter_async_context(engine_at(url, pool_size=1)) for _ in range(5)]
        repositories = [SqlAlchemyUserRepository(engine) for engine in engines]
        counters = [InsertCounter(engine) for engine in engines]

        # Five engines on one file do not always overlap (SQLite takes turns at its lock): race
        # fresh openids until a round has really raced, each round making exactly one user.
        for attempt in range(10):
            openid = f"{OPENID}-{attempt}"
            before = sum(counter.inserts for counter in counters)
            results = await race(
                lambda i, openid=openid: repositories[i % len(repositories)].get_or_create(
                    Identity("wechat", "wx-test", openid, None), now=clock.now()
                )
            )
            assert_one_user_created(results)
            assert await rows_of(engines[0], openid) == 1
            if sum(counter.inserts for counter in counters) - before > 1:
                break
        else:
            pytest.fail("no round of fifty logins raced: the test proved nothing")


async def test_fifty_simultaneous_first_logins_in_memory_create_one_user(clock: FakeClock) -> None:
    repository = InMemoryUserRepository()

    results = await race(
        lambda _: repository.get_or_create(
            Identity("wechat", "wx-test", OPENID, None), now=clock.now()
        )
    )

    assert_one_user_created(results)


UNIONIDS = 20
APPS = 5
"""Each unionid's first logins: twice on each of ``APPS`` apps of one platform, all at once."""


async def count(engine: AsyncEngine, query: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def race_one_unionid(
    repositories: list[SqlAlchemyUserRepository], unionid: str, clock: FakeClock
) -> list[tuple[User, bool]]:
    logins = [
        Identity("wechat", f"wx-app-{n % APPS}", f"o-{unionid}-{n % APPS}", unionid)
        for n in range(2 * APPS)
    ]
    return list(await asyncio.gather(*(
        repositories[n % len(repositories)].get_or_create(identity, now=clock.now())
        for n, identity in enumerate(logins)
    )))


@asynccontextmanager
async def engines_on(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[list[AsyncEngine]]:
    """A server's engine with 20 pooled connections; or, on SQLite, five engines on one file
    (five worker processes of the service)."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
        await upgrade_to_head(url)
        async with AsyncExitStack() as stack:
            engines = [
                await stack.enter_async_context(engine_at(url, pool_size=1)) for _ in range(5)
            ]
            yield engines
        return
    url = str(request.getfixturevalue(f"{backend}_url"))
    async with engine_at(url, pool_size=20) as engine:
        await warm_up(engine, 20)
        yield [engine]


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        pytest.param("mariadb", marks=pytest.mark.integration),
        pytest.param("postgres", marks=pytest.mark.integration),
    ],
)
async def test_simultaneous_first_logins_of_one_unionid_on_several_apps_make_one_user(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> None:
    async with engines_on(backend, request, tmp_path) as engines:
        repositories = [SqlAlchemyUserRepository(engine) for engine in engines]
        creations = UserInsertCounter(engines)
        engine = engines[0]

        raced = 0
        for n in range(UNIONIDS):
            before = creations.inserts
            results = await race_one_unionid(repositories, f"u-race-{n}", clock)

            assert_one_user_created(results)
            raced += creations.inserts - before > 1

        assert await count(engine, select(func.count()).select_from(users)) == UNIONIDS
        assert await count(engine, select(func.count()).select_from(user_identities)) == (
            UNIONIDS * APPS
        )
        created_messages = select(func.count()).select_from(webhook_outbox).where(
            webhook_outbox.c.type == "user.created"
        )
        assert await count(engine, created_messages) == UNIONIDS
        assert raced > 0, "no unionid's first logins raced to create its user: nothing was shown"
