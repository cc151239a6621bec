"""Upgrading a deployment of the release before apps loses nothing: a database populated as
that release left it (users with their openids, unionids and phones, schema 0002) and live tokens
in Redis in its session store's layout; then migration 0003; then every user, id, phone and token
is there, on SQLite, MariaDB and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text

from adapters.redis.sessions import RedisSessionStore
from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import upgrade_to_head
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.entities import Identity
from tests.fakes import FakeClock
from tests.fixtures.mariadb_server import MariaDBServer
from tests.fixtures.postgres_server import PostgresServer

pytestmark = pytest.mark.integration

APPID = "wx-deployed-app"
SECRET = "the deployment's session secret, unchanged by the upgrade"
PREFIX = "wl:"
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


async def v1_token(client: Redis, user_id: int, session_key: str, now_ms: int) -> str:
    """A live login as ``RedisSessionStore.record_login`` before apps left it: the user's hash
    ``<prefix>u:<route>`` with ``id``, ``created``, ``key`` (its one ``session_key``) and one
    field per session valued ``"<expires_at> <login_at> <max_expires_at>"`` (Unix ms)."""
    digest = hmac.digest(SECRET.encode(), f"route:{user_id}".encode(), hashlib.sha256)
    route = base64.urlsafe_b64encode(digest).decode()[:16]
    token = f"{route}.{secrets.token_urlsafe(32)}"
    field = hmac.digest(SECRET.encode(), token.encode(), hashlib.sha256)[:16]
    key = f"{PREFIX}u:{route}"
    expires_ms = now_ms + 3_600_000
    await client.hset(
        key,
        mapping={
            "id": user_id,
            "created": 1_777_622_400_000,
            "key": session_key,
            field: f"{expires_ms} {now_ms} {now_ms + 86_400_000}",
        },
    )
    await client.pexpireat(key, expires_ms)
    return token


async def test_every_user_id_phone_and_token_of_v1_survives_the_upgrade(
    v1_url: str, redis_url: str, clock: FakeClock
) -> None:
    await populate_as_v1(v1_url)
    client = Redis.from_url(redis_url)
    now_ms = int(clock.now() * 1000)
    tokens = {
        user_id: await v1_token(client, user_id, f"key-{user_id}", now_ms)
        for user_id, *_ in V1_USERS
    }

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

    sessions = RedisSessionStore(
        client, session_secret=SECRET, key_prefix=PREFIX, legacy_app="default"
    )
    for user_id, token in tokens.items():
        session = await sessions.get(token)
        assert session is not None
        assert (session.user_id, session.app, session.platform) == (user_id, "default", "wechat")
        assert await sessions.session_key(user_id, "default") == f"key-{user_id}"
        assert await sessions.session_key(user_id, "other-app") is None
    await client.aclose()
