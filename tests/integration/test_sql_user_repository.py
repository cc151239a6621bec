"""The SQL user repository beyond the port's contract: the rows it writes, how it fails."""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import aiomysql
import pytest
from sqlalchemy import Row, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy.engine import STATEMENT_TIMEOUT_SECONDS, open_engine
from adapters.sqlalchemy.tables import unionid_users, users
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.entities import Identity
from domain.errors import StoreUnavailable
from tests.fakes import FakeClock
from tests.fixtures.mariadb_server import MariaDBServer, free_port
from tests.fixtures.postgres_server import PostgresServer
from tests.integration.conftest import SERVERS


def server_of(backend: str, request: pytest.FixtureRequest) -> MariaDBServer | PostgresServer:
    """The session's server of ``backend``, running, its ``weapp`` database emptied."""
    request.getfixturevalue(f"{backend}_url")
    server: MariaDBServer | PostgresServer = request.getfixturevalue(f"{backend}_server")
    return server


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
    user, _ = await repository.get_or_create(
        Identity("wechat", "wx-test", "o-alice", "u-alice"), now=created_at
    )
    clock.advance(90.5)

    await repository.get_or_create(
        Identity("wechat", "wx-test", "o-alice", "u-alice"), now=clock.now()
    )

    row = await row_of(engine, user.id)
    assert row.created_at == row.updated_at == utc(created_at)
    assert row.last_login_at == utc(clock.now())


async def test_filling_in_the_unionid_keeps_it_on_the_identity(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    repository = SqlAlchemyUserRepository(engine)
    user, _ = await repository.get_or_create(
        Identity("wechat", "wx-test", "o-alice", None), now=clock.now()
    )
    clock.advance(60)

    await repository.get_or_create(
        Identity("wechat", "wx-test", "o-alice", "u-alice"), now=clock.now()
    )

    assert await repository.identities(user.id) == [
        Identity("wechat", "wx-test", "o-alice", "u-alice")
    ]
    row = await row_of(engine, user.id)
    assert row.last_login_at == utc(clock.now())


@pytest.mark.integration
async def test_on_mariadb_a_returning_login_is_one_query_and_leaves_its_connection_clean(
    mariadb_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with asynccontextmanager(open_engine)(mariadb_url, pool_size=1) as engine:
        repository = SqlAlchemyUserRepository(engine)
        alice = Identity("wechat", "wx-test", "o-alice", None)
        user, _ = await repository.get_or_create(alice, now=clock.now())
        clock.advance(30)
        queries: list[object] = []
        send = aiomysql.Connection._execute_command

        async def counted(self: aiomysql.Connection, command: int, sql: object) -> None:
            queries.append(sql)
            await send(self, command, sql)

        monkeypatch.setattr(aiomysql.Connection, "_execute_command", counted)

        again, created = await repository.get_or_create(
            Identity("wechat", "wx-test", "o-alice", "u-alice"), now=clock.now()
        )

        assert (again, created) == (user, False)
        assert len(queries) == 1
        # The one pooled connection answers the next statement, not the login's leftovers.
        assert await repository.identities(user.id) == [
            Identity("wechat", "wx-test", "o-alice", "u-alice")
        ]
        assert (await row_of(engine, user.id)).last_login_at == utc(clock.now())


@pytest.mark.parametrize("backend", ["sqlite", *SERVERS])
async def test_a_failing_statement_becomes_store_unavailable_without_the_openid(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> None:
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'unmigrated.db'}"
    else:
        url = request.getfixturevalue(f"{backend}_server").create_database("weapp_unmigrated")
    async with asynccontextmanager(open_engine)(url) as engine:
        repository = SqlAlchemyUserRepository(engine)

        for _ in range(2):  # the first login, then one on MariaDB's driver-level path
            with pytest.raises(StoreUnavailable) as raised:  # no users table
                await repository.get_or_create(
                    Identity("wechat", "wx-test", "o-secret-openid", None), now=clock.now()
                )

            assert raised.value.__cause__ is not None
            assert "o-secret-openid" not in str(raised.value.__cause__)


@pytest.mark.parametrize("scheme", ["mysql+aiomysql", "postgresql+asyncpg"])
async def test_a_database_nobody_listens_for_is_unavailable_within_two_seconds(
    scheme: str, clock: FakeClock
) -> None:
    url = f"{scheme}://weapp:pw@127.0.0.1:{free_port()}/weapp"
    async with asynccontextmanager(open_engine)(url) as engine:
        repository = SqlAlchemyUserRepository(engine)
        async with asyncio.timeout(2.5):
            with pytest.raises(StoreUnavailable):
                await repository.get_or_create(
                    Identity("wechat", "wx-test", "o-alice", None), now=clock.now()
                )
            with pytest.raises(StoreUnavailable):
                await repository.get(1)
            with pytest.raises(StoreUnavailable):
                await repository.ping()


@pytest.mark.parametrize("backend", SERVERS)
async def test_a_frozen_server_is_unavailable_within_two_seconds_and_back_when_it_thaws(
    backend: str, request: pytest.FixtureRequest, clock: FakeClock
) -> None:
    server = server_of(backend, request)
    async with asynccontextmanager(open_engine)(server.url, pool_size=2) as engine:
        repository = SqlAlchemyUserRepository(engine)
        # One pooled connection, opened before the freeze; the repository knows the server.
        await repository.get_or_create(
            Identity("wechat", "wx-test", "o-bob", None), now=clock.now()
        )
        server.pause()
        try:
            for _ in range(2):  # the pooled connection, then a new one
                started = time.monotonic()
                with pytest.raises(StoreUnavailable):
                    await repository.get_or_create(
                        Identity("wechat", "wx-test", "o-alice", None), now=clock.now()
                    )
                assert time.monotonic() - started < 2.0
        finally:
            server.resume()

        # A statement the server had received before it froze runs when it thaws (it commits
        # on its own), so this login may find the user already there: once, all the same.
        user, _ = await repository.get_or_create(
            Identity("wechat", "wx-test", "o-alice", None), now=clock.now()
        )
        assert await repository.get(user.id) == user
        again, created = await repository.get_or_create(
            Identity("wechat", "wx-test", "o-alice", None), now=clock.now()
        )
        assert (again, created) == (user, False)


@pytest.mark.parametrize("backend", SERVERS)
async def test_connections_pooled_before_a_server_restart_cost_no_error(
    backend: str, request: pytest.FixtureRequest, clock: FakeClock
) -> None:
    server = server_of(backend, request)
    async with asynccontextmanager(open_engine)(server.url, pool_size=3) as engine:
        repository = SqlAlchemyUserRepository(engine)
        alice, _ = await repository.get_or_create(
            Identity("wechat", "wx-test", "o-alice", None), now=clock.now()
        )
        # Three connections in the pool, all of which the restart will cut.
        await asyncio.gather(
            *(
                repository.get_or_create(
                    Identity("wechat", "wx-test", "o-alice", None), now=clock.now()
                )
                for _ in range(3)
            )
        )

        server.stop()
        server.start()

        again, created = await repository.get_or_create(
            Identity("wechat", "wx-test", "o-alice", None), now=clock.now()
        )
        assert (again, created) == (alice, False)
        bob, created = await repository.get_or_create(
            Identity("wechat", "wx-test", "o-bob", None), now=clock.now()
        )
        assert created is True
        assert await repository.get(bob.id) == bob
        await repository.ping()


@pytest.mark.parametrize(
    ("backend", "query", "limited"),
    [
        pytest.param(
            "mariadb",
            "SELECT @@SESSION.innodb_lock_wait_timeout",
            ["2"],
            marks=pytest.mark.integration,
        ),
        pytest.param(
            "postgres",
            "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')",
            ["2s", "2s"],
            marks=pytest.mark.integration,
        ),
    ],
)
async def test_the_server_limits_the_statements_of_the_service_but_not_of_migrations(
    backend: str, query: str, limited: list[str], request: pytest.FixtureRequest
) -> None:
    # A client that gave up at its deadline must not leave the server working or holding locks;
    # a migration of a large table may take long.
    url = server_of(backend, request).url

    async def settings(statement_timeout: int | None) -> list[str]:
        async with (
            asynccontextmanager(open_engine)(url, statement_timeout=statement_timeout) as engine,
            engine.connect() as connection,
        ):
            return [str(value) for value in (await connection.execute(text(query))).one()]

    assert STATEMENT_TIMEOUT_SECONDS == 2
    assert await settings(STATEMENT_TIMEOUT_SECONDS) == limited
    assert await settings(None) != limited


@pytest.mark.parametrize("backend", SERVERS)
async def test_a_new_user_whose_transaction_fails_leaves_nothing_and_no_connection_inside_it(
    backend: str, request: pytest.FixtureRequest, clock: FakeClock
) -> None:
    # Another transaction holds the unionid's claim past the server's lock timeout (1 s here):
    # the creating transaction fails half-way (a user inserted), not on the expected conflict.
    url = server_of(backend, request).url
    engine_at = asynccontextmanager(open_engine)
    async with (
        engine_at(url, pool_size=1, statement_timeout=1) as engine,
        engine_at(url, autocommit=False) as other,
    ):
        repository = SqlAlchemyUserRepository(engine, timeout=10)
        async with other.connect() as holder:
            inserted = await holder.execute(insert(users).values(
                created_at=utc(clock.now()), updated_at=utc(clock.now()),
                last_login_at=utc(clock.now()),
            ))
            assert inserted.inserted_primary_key is not None
            await holder.execute(insert(unionid_users).values(
                platform="wechat", unionid="u-held", user_id=inserted.inserted_primary_key[0],
            ))
            with pytest.raises(StoreUnavailable):
                await repository.get_or_create(
                    Identity("wechat", "wx-shop", "o-held", "u-held"), now=clock.now()
                )
            await holder.rollback()

        # The pool's one connection was closed, not pooled inside the failed transaction: the
        # next login commits its user alone, and the failed one's user is gone.
        user, created = await repository.get_or_create(
            Identity("wechat", "wx-shop", "o-next", "u-next"), now=clock.now()
        )
        async with other.connect() as reader:
            ids = (await reader.execute(select(users.c.id))).scalars().all()
            claims = (await reader.execute(select(func.count()).select_from(unionid_users)))

        assert created is True
        assert ids == [user.id]
        assert claims.scalar_one() == 1
