"""The ``UserRepository`` contract, run against every implementation: memory, SQLite, MariaDB,
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
from domain.entities import Identity
from domain.ports import UserRepository
from tests.fakes import FakeClock

SERVERS = {"mariadb": "mariadb_url", "postgres": "postgres_url"}
"""Backends on a real server, and the URL fixture of each."""


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
        yield SqlAlchemyUserRepository(engine)


def shop(openid: str, unionid: str | None = None) -> Identity:
    """An identity on the WeChat app ``wx-shop``."""
    return Identity("wechat", "wx-shop", openid, unionid)


async def test_first_login_of_an_identity_creates_a_user(
    users: UserRepository, clock: FakeClock
) -> None:
    user, created = await users.get_or_create(shop("o-alice", "u-alice"), now=clock.now())

    assert created is True
    assert isinstance(user.id, int)
    assert user.created_at == pytest.approx(clock.now(), abs=1e-6)
    assert await users.identities(user.id) == [shop("o-alice", "u-alice")]


async def test_second_login_of_a_user_reuses_the_user_id(
    users: UserRepository, clock: FakeClock
) -> None:
    first, _ = await users.get_or_create(shop("o-alice"), now=clock.now())
    clock.advance(60)

    again, created = await users.get_or_create(shop("o-alice"), now=clock.now())

    assert created is False
    assert again.id == first.id


async def test_a_login_at_the_very_instant_of_the_previous_one_is_not_a_creation(
    users: UserRepository, clock: FakeClock
) -> None:
    first, _ = await users.get_or_create(shop("o-alice", "u-alice"), now=clock.now())

    again, created = await users.get_or_create(shop("o-alice", "u-alice"), now=clock.now())

    assert created is False
    assert again == first


async def test_a_new_user_right_after_a_returning_one_is_reported_created(
    users: UserRepository, clock: FakeClock
) -> None:
    await users.get_or_create(shop("o-alice"), now=clock.now())
    await users.get_or_create(shop("o-alice"), now=clock.now())

    bob, created = await users.get_or_create(shop("o-bob"), now=clock.now())

    assert created is True
    assert await users.get(bob.id) == bob


async def test_different_openids_get_different_user_ids(
    users: UserRepository, clock: FakeClock
) -> None:
    alice, _ = await users.get_or_create(shop("o-alice"), now=clock.now())
    bob, created = await users.get_or_create(shop("o-bob"), now=clock.now())

    assert created is True
    assert bob.id != alice.id


async def test_openids_that_differ_only_in_case_are_different_users(
    users: UserRepository, clock: FakeClock
) -> None:
    lower, _ = await users.get_or_create(shop("oabc"), now=clock.now())
    upper, created = await users.get_or_create(shop("oABC"), now=clock.now())

    assert created is True
    assert upper.id != lower.id


async def test_one_openid_on_two_apps_or_platforms_is_two_users(
    users: UserRepository, clock: FakeClock
) -> None:
    ids = set()
    for identity in (
        shop("o-1"),
        Identity("wechat", "wx-staff", "o-1"),
        Identity("qq", "wx-shop", "o-1"),
    ):
        user, created = await users.get_or_create(identity, now=clock.now())
        assert created is True
        ids.add(user.id)
    assert len(ids) == 3


async def test_two_apps_of_one_platform_with_one_unionid_are_one_user(
    users: UserRepository, clock: FakeClock
) -> None:
    alice, _ = await users.get_or_create(shop("o-shop", "u-alice"), now=clock.now())
    staff = Identity("wechat", "wx-staff", "o-staff", "u-alice")

    again, created = await users.get_or_create(staff, now=clock.now())

    assert (again.id, created) == (alice.id, False)
    assert again.created_at == alice.created_at
    assert sorted(i.appid for i in await users.identities(alice.id)) == ["wx-shop", "wx-staff"]


async def test_a_unionid_never_joins_two_platforms(users: UserRepository, clock: FakeClock) -> None:
    alice, _ = await users.get_or_create(shop("o-shop", "u-alice"), now=clock.now())

    other, created = await users.get_or_create(
        Identity("qq", "1110000000", "o-qq", "u-alice"), now=clock.now()
    )

    assert created is True
    assert other.id != alice.id


async def test_unionid_is_filled_in_when_it_first_appears(
    users: UserRepository, clock: FakeClock
) -> None:
    user, _ = await users.get_or_create(shop("o-alice"), now=clock.now())
    clock.advance(60)

    await users.get_or_create(shop("o-alice", "u-alice"), now=clock.now())

    assert await users.identities(user.id) == [shop("o-alice", "u-alice")]


async def test_unionid_once_known_is_never_overwritten(
    users: UserRepository, clock: FakeClock
) -> None:
    user, _ = await users.get_or_create(shop("o-alice", "u-first"), now=clock.now())

    await users.get_or_create(shop("o-alice", "u-other"), now=clock.now())
    await users.get_or_create(shop("o-alice"), now=clock.now())

    assert await users.identities(user.id) == [shop("o-alice", "u-first")]


async def test_get_finds_a_user_by_id(users: UserRepository, clock: FakeClock) -> None:
    user, _ = await users.get_or_create(shop("o-alice", "u-alice"), now=clock.now())

    assert await users.get(user.id) == user


async def test_get_of_an_unknown_id_is_none(users: UserRepository, clock: FakeClock) -> None:
    user, _ = await users.get_or_create(shop("o-alice"), now=clock.now())

    assert await users.get(user.id + 1000) is None
    assert await users.identities(user.id + 1000) == []


async def test_created_at_stays_the_same_across_logins(
    users: UserRepository, clock: FakeClock
) -> None:
    user, _ = await users.get_or_create(shop("o-alice"), now=clock.now())
    clock.advance(3600)

    again, _ = await users.get_or_create(shop("o-alice", "u-alice"), now=clock.now())

    assert again.created_at == user.created_at
    stored = await users.get(user.id)
    assert stored is not None
    assert stored.created_at == user.created_at


async def test_ping_answers_when_the_store_is_up(users: UserRepository) -> None:
    await users.ping()
