"""Upgrading a deployment of release 0.1.0 loses nothing: a database populated as 0.1.0 left it
(users with their openids, unionids and phones, schema 0002) and live tokens in Redis as 0.1.0
wrote them (its frozen writer); then migration 0003; then every user, id and phone is there, on
SQLite, MariaDB and PostgreSQL, and the 2.0 service, whatever its SESSION_SECRET, answers the
0.1.0 tokens over HTTP as logins of the WeChat app, until they are logged out or their user is
banned."""

from __future__ import annotations

import base64
import os
import secrets
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from dependency_injector import providers
from redis.asyncio import Redis
from sqlalchemy import text

from adapters.apps import PlatformClients
from adapters.memory import InMemoryWeChatGateway
from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import upgrade_to_head
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.entities import Identity
from tests.fakes import FakeClock
from tests.fixtures import v0_1_sessions as v01
from tests.fixtures.mariadb_server import MariaDBServer
from tests.fixtures.postgres_server import PostgresServer
from tests.serving import make_container, serve

pytestmark = pytest.mark.integration

APPID = "wx-deployed-app"
WECHAT_SECRET = "the WeChat app's secret, the same before and after the upgrade"
ADMIN_TOKEN = "admin-token-0123456789abcdef-0123456789"
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


async def v1_token(client: Redis, user_id: int, session_key: str) -> str:
    """A live login as release 0.1.0 left it in Redis, written by a frozen copy of its writer."""
    now = time.time()
    session = v01.LoginSession(
        user_id=user_id, user_created_at=CREATED.replace(tzinfo=UTC).timestamp(),
        login_at=now - 60, expires_at=now + 3_600, max_expires_at=now + 86_400,
    )
    writer = v01.V01SessionWriter(client, wechat_secret=WECHAT_SECRET)
    return await writer.login(session, session_key=session_key, now=now - 60)


async def test_every_user_id_phone_and_token_of_v1_survives_the_upgrade(
    v1_url: str, redis_url: str, clock: FakeClock
) -> None:
    await populate_as_v1(v1_url)
    client = Redis.from_url(redis_url)
    keys = {user_id: session_key(user_id) for user_id, *_ in V1_USERS}
    tokens = {user_id: await v1_token(client, user_id, keys[user_id]) for user_id in keys}
    await client.aclose()

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
        # A new app of the same platform with alice's unionid finds alice; a new user is new,
        # and claims its unionid (0005) for the platform's other apps.
        staff = Identity("wechat", "wx-staff", "o-alice-staff", "u-alice")
        assert (await repository.get_or_create(staff, now=clock.now()))[0].id == 1
        dave, created = await repository.get_or_create(
            Identity("wechat", APPID, "o-dave", "u-dave"), now=clock.now()
        )
        assert (dave.id, created) == (4, True)
        dave_staff = Identity("wechat", "wx-staff", "o-dave-staff", "u-dave")
        assert await repository.get_or_create(dave_staff, now=clock.now()) == (dave, False)

    # The 2.0 service, with a SESSION_SECRET 0.1.0 never had and the same WeChat app.
    env = {"REDIS_URL": redis_url, "DATABASE_URL": v1_url, "WECHAT_APPID": APPID,
           "WECHAT_SECRET": WECHAT_SECRET, "SESSION_SECRET": secrets.token_urlsafe(32),
           "ADMIN_TOKEN": ADMIN_TOKEN}
    container = make_container(env)
    wechat = InMemoryWeChatGateway()
    container.platforms.override(providers.Object({"default": PlatformClients(wechat)}))
    async with serve(container) as url, aiohttp.ClientSession() as http:

        async def call(method: str, path: str, token: str, **kwargs: Any) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {token}"}
            async with http.request(method, url + path, headers=headers, **kwargs) as answer:
                return answer.status, await answer.json() if answer.status != 204 else None

        for user_id, token in tokens.items():
            status, me = await call("GET", "/api/v1/me", token)
            assert status == 200, me
            assert (me["user"]["id"], me["app"], me["platform"]) == (user_id, "default", "wechat")
        alice, bob, carol = tokens[1], tokens[2], tokens[3]

        # Alice's 0.1.0 session_key still decrypts her open data; her session is listed.
        data = {"nickName": "Alice", "watermark": {"appid": APPID, "timestamp": 1477314187}}
        status, body = await call(
            "POST", "/api/v1/me/decrypt", alice, json=encrypt(keys[1], data)
        )
        assert (status, body) == (200, {"data": data})
        status, listed = await call("GET", "/api/v1/me/sessions", alice)
        [session] = listed["sessions"]
        assert session["id"].startswith("v1.")
        assert (session["app"], session["ip"], session["user_agent"]) == ("default", None, None)

        # Logging out ends a 0.1.0 token; a ban ends another one at once; others keep working.
        assert (await call("POST", "/api/v1/logout", alice))[0] == 204
        assert (await call("GET", "/api/v1/me", alice))[0] == 401
        banned = await call("POST", "/api/v1/admin/users/2/ban", ADMIN_TOKEN,
                            json={"reason": "spam"})
        assert banned[0] == 204
        assert (await call("GET", "/api/v1/me", bob))[0] == 401
        assert (await call("GET", "/api/v1/me", carol))[0] == 200


def session_key(user_id: int) -> str:
    """A session_key as WeChat gives them: the base64 of 16 bytes."""
    return base64.b64encode(f"session-key-{user_id}".encode().ljust(16, b"!")).decode()


def encrypt(key: str, payload: dict[str, Any]) -> dict[str, str]:
    """Open data as WeChat encrypts it for the mini-program: AES-128-CBC under the session_key."""
    iv = os.urandom(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(orjson.dumps(payload)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(base64.b64decode(key)), modes.CBC(iv)).encryptor()
    data = encryptor.update(plain) + encryptor.finalize()
    return {"encrypted_data": base64.b64encode(data).decode(), "iv": base64.b64encode(iv).decode()}
