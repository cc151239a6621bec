"""The ``UserRepository`` contract, run against every implementation: memory, SQLite, MariaDB
(its one-statement login, and the path that MySQL servers without ``RETURNING`` take),
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from adapters.memory.users import InMemoryUserRepository
from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import upgrade_to_head
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.ports import UserRepository
from tests.fakes import FakeClock

SERVERS = {"mariadb": "mariadb_url", "mysql-path": "mariadb_url", "postgres": "postgres_url"}
"""Backends on a real server, and the URL fixture of each. ``mysql-path`` is MariaDB told it has
no ``INSERT ... RETURNING``: the statements that MySQL servers get."""


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        *(pytest.param(name, marks=pytest.mark.integration) for name in SERVERS),
    ]
)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """``None`` for the in-memory repository, else the URL of a migrated, empty database."""
    if backend == "memory":
        return None
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    return str(request.getfixturevalue(SERVERS[backend]))


@pytest.fixture
async def users(backend: str, database_url: str | None) -> AsyncIterator[UserRepository]:
    if database_url is None:
        yield InMemoryUserRepository()
        return
    if database_url.startswith("sqlite"):
        await upgrade_to_head(database_url)
    async with asynccontextmanager(open_engine)(database_url) as engine:
        repository = SqlAlchemyUserRepository(engine)
        if backend == "mysql-path":
            await repository.ping()  # the dialect learns what the server is, then forgets
            engine.dialect.insert_returning = False
        yield repository


async def test_first_login_of_an_openid_creates_a_user(
    users: UserRepository, clock: FakeClock
) -> None:
    user, created = await users.get_or_create("o-alice", unionid="u-alice", now=clock.now())

    assert created is True
    assert isinstance(user.id, int)
    assert user.openid == "o-alice"
    assert user.unionid == "u-alice"
    assert user.created_at == pytest.approx(clock.now(), abs=1e-6)


async def test_second_login_of_a_user_reuses_the_user_id(
    users: UserRepository, clock: FakeClock
) -> None:
    first, _ = await users.get_or_create("o-alice", unionid=None, now=clock.now())
    clock.advance(60)

    again, created = await users.get_or_create("o-alice", unionid=None, now=clock.now())

    assert created is False
    assert again.id == first.id


async def test_a_login_at_the_very_instant_of_the_previous_one_is_not_a_creation(
    users: UserRepository, clock: FakeClock
) -> None:
    # Nothing in the row changes: a count of affected rows would call this an insert.
    first, _ = await users.get_or_create("o-alice", unionid="u-alice", now=clock.now())

    again, created = await users.get_or_create("o-alice", unionid="u-alice", now=clock.now())

    assert created is False
    assert again == first


async def test_a_new_user_right_after_a_returning_one_is_reported_created(
    users: UserRepository, clock: FakeClock
) -> None:
    # On one connection, what the returning login left behind must not hide the creation.
    await users.get_or_create("o-alice", unionid=None, now=clock.now())
    await users.get_or_create("o-alice", unionid=None, now=clock.now())

    bob, created = await users.get_or_create("o-bob", unionid=None, now=clock.now())

    assert created is True
    assert await users.get(bob.id) == bob


async def test_different_openids_get_different_user_ids(
    users: UserRepository, clock: FakeClock
) -> None:
    alice, _ = await users.get_or_create("o-alice", unionid=None, now=clock.now())
    bob, created = await users.get_or_create("o-bob", unionid=None, now=clock.now())

    assert created is True
    assert bob.id != alice.id


async def test_openids_that_differ_only_in_case_are_different_users(
    users: UserRepository, clock: FakeClock
) -> None:
    lower, _ = await users.get_or_create("oabc", unionid=None, now=clock.now())
    upper, created = await users.get_or_create("oABC", unionid=None, now=clock.now())

    assert created is True
    assert upper.id != lower.id


async def test_unionid_is_filled_in_when_it_first_appears(
    users: UserRepository, clock: FakeClock
) -> None:
    user, _ = await users.get_or_create("o-alice", unionid=None, now=clock.now())
    clock.advance(60)

    again, _ = await users.get_or_create("o-alice", unionid="u-alice", now=clock.now())

    assert again.unionid == "u-alice"
    assert await users.get(user.id) == again


async def test_unionid_once_known_is_never_overwritten(
    users: UserRepository, clock: FakeClock
) -> None:
    user, _ = await users.get_or_create("o-alice", unionid="u-first", now=clock.now())

    other, _ = await users.get_or_create("o-alice", unionid="u-other", now=clock.now())
    without, _ = await users.get_or_create("o-alice", unionid=None, now=clock.now())

    assert other.unionid == without.unionid == "u-first"
    stored = await users.get(user.id)
    assert stored is not None
    assert stored.unionid == "u-first"


async def test_get_finds_a_user_by_id(users: UserRepository, clock: FakeClock) -> None:
    user, _ = await users.get_or_create("o-alice", unionid="u-alice", now=clock.now())

    assert await users.get(user.id) == user


async def test_get_of_an_unknown_id_is_none(users: UserRepository, clock: FakeClock) -> None:
    user, _ = await users.get_or_create("o-alice", unionid=None, now=clock.now())

    assert await users.get(user.id + 1000) is None


async def test_created_at_stays_the_same_across_logins(
    users: UserRepository, clock: FakeClock
) -> None:
    user, _ = await users.get_or_create("o-alice", unionid=None, now=clock.now())
    clock.advance(3600)

    again, _ = await users.get_or_create("o-alice", unionid="u-alice", now=clock.now())

    assert again.created_at == user.created_at
    stored = await users.get(user.id)
    assert stored is not None
    assert stored.created_at == user.created_at


async def test_ping_answers_when_the_store_is_up(users: UserRepository) -> None:
    await users.ping()
