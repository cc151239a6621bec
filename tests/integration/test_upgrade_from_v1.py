"""Upgrading a deployment of the release before apps loses nothing: a database populated as
that release left it (users with their openids, unionids and phones, schema 0002); then
migration 0003; then every user, id and phone is there, on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import upgrade_to_head
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.entities import Identity
from tests.fakes import FakeClock
from tests.fixtures.mariadb_server import MariaDBServer
from tests.fixtures.postgres_server import PostgresServer

pytestmark = pytest.mark.integration

APPID = "wx-deployed-app"
V1_USERS = [
    # id, openid, unionid, phone
    (1, "o-alice", "u-alice", "+8613800138000"),
    (2, "o-bob", None, None),
    (3, "o-carol", None, "+12025550123"),
]
CREATED = datetime(2026, 11, 1, 8, 0, 0)


@pytest.fixture(params=["sqlite", "mariadb", "postgres"])
def v1_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'var' / 'weapp.db'}"
    server: MariaDBServer | PostgresServer = request.getfixturevalue(f"{request.param}_server")
    return server.create_database("weapp_v1")


async def populate_as_v1(url: str) -> None:
    """The schema before apps (revisions 0001 and 0002) and rows as its repository wrote them."""
    await upgrade_to_head(url, revision="0002")
    async with asynccontextmanager(open_engine)(url) as engine, engine.begin() as connection:
        for _, openid, unionid, phone in V1_USERS:  # ids from the database, as before
            await connection.execute(
                text(
                    "INSERT INTO users (openid, unionid, phone, created_at, updated_at,"
                    " last_login_at) VALUES (:openid, :unionid, :phone, :at, :at, :at)"
                ),
                {
                    "openid": openid,
                    "unionid": unionid,
                    "phone": phone,
                    "at": CREATED,
                },
            )


async def test_every_user_id_and_phone_of_v1_survives_the_upgrade(
    v1_url: str, clock: FakeClock
) -> None:
    await populate_as_v1(v1_url)

    await upgrade_to_head(v1_url, wechat_appid=APPID)

    async with asynccontextmanager(open_engine)(v1_url) as engine:
        async with engine.connect() as connection:
            users = (
                await connection.execute(text("SELECT id, phone FROM users ORDER BY id"))
            ).all()
        assert [tuple(row) for row in users] == [(i, phone) for i, _, _, phone in V1_USERS]
        repository = SqlAlchemyUserRepository(engine)
        for user_id, openid, unionid, _ in V1_USERS:
            identity = Identity("wechat", APPID, openid, unionid)
            assert await repository.identities(user_id) == [identity]
            user, created = await repository.get_or_create(identity, now=clock.now())
            assert (user.id, created) == (user_id, False)
        # A new app of the same platform with alice's unionid finds alice; a new user is new.
        staff = Identity("wechat", "wx-staff", "o-alice-staff", "u-alice")
        assert (await repository.get_or_create(staff, now=clock.now()))[0].id == 1
        dave, created = await repository.get_or_create(
            Identity("wechat", APPID, "o-dave"), now=clock.now()
        )
        assert (dave.id, created) == (4, True)
