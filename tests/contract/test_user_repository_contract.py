"""The ``UserRepository`` contract, run against every implementation: memory, SQLite, MariaDB."""

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


@pytest.fixture(params=["memory", "sqlite", pytest.param("mariadb", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """``None`` for the in-memory repository, else the URL of a migrated, empty database."""
    if request.param == "memory":
        return None
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    return str(request.getfixturevalue("mariadb_url"))


@pytest.fixture
async def users(database_url: str | None) -> AsyncIterator[UserRepository]:
    if database_url is None:
        yield InMemoryUserRepository()
        return
    if database_url.startswith("sqlite"):
        await upgrade_to_head(database_url)
    async with asynccontextmanager(open_engine)(database_url) as engine:
        yield SqlAlchemyUserRepository(engine)


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
