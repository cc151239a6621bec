"""The floors: what each path costs on Sanic with nothing but its unavoidable I/O.

``python -m bench.floors KIND --port P [...]`` serves one of:

- ``bare``: ``GET /api/v1/me`` answers a constant; the cost of Sanic, HTTP and the event loop;
- ``me``: ``GET /api/v1/me`` does one Redis ``GET`` of the token's key (401 when absent);
  ``GET /api/v1/auth`` (forward auth's path) is the same handler;
- ``login``: ``POST /api/v1/login`` does one simulator ``jscode2session`` call over a shared
  aiohttp session, one MySQL upsert with the raw aiomysql driver (autocommit, one round trip),
  one Redis ``SET`` of the new token's session, and answers the token.

The floors keep the service's wire shapes (the same paths, bodies and answers, a SHA-256 of the
token as the key) so the same wrk scripts drive both, and they leave the garbage collector as it
is ("plain"). They run in one process on uvloop, like ``python -m entrypoints`` with WORKERS=1.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import struct
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
from sanic import HTTPResponse, Request, Sanic

_VALUE = struct.Struct(">qqq")  # user id, created_at ms, expires_at ms
_TTL_SECONDS = 604_800
_KEY_PREFIX = b"fl:s"
_FLOOR_USERS = (
    "CREATE TABLE IF NOT EXISTS floor_users (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
    " openid VARCHAR(64) NOT NULL UNIQUE, unionid VARCHAR(64), created_at DATETIME(6) NOT NULL,"
    " updated_at DATETIME(6) NOT NULL, last_login_at DATETIME(6) NOT NULL)"
    " ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_bin"
)
"""The floor's own table, the one-row-per-user shape the service had before apps (its
``users`` now has identities beside it): the floor stays the same I/O from build to build."""
_UPSERT = (
    "INSERT INTO floor_users (openid, unionid, created_at, updated_at, last_login_at)"
    " VALUES (%s, NULL, %s, %s, %s)"
    " ON DUPLICATE KEY UPDATE id = LAST_INSERT_ID(id), last_login_at = VALUES(last_login_at)"
)
_BARE_BODY = orjson.dumps(
    {"user": {"id": 1, "created_at": "2025-01-01T00:00:00Z"}, "expires_in": _TTL_SECONDS}
)
_UNAUTHORIZED = orjson.dumps({"error": "unauthorized"})


def _json(body: bytes, status: int = 200) -> HTTPResponse:
    return HTTPResponse(body, status=status, content_type="application/json")


def _key(token: str) -> bytes:
    return _KEY_PREFIX + hashlib.sha256(token.encode()).digest()[:16]


def _bearer(request: Request) -> str:
    return (request.headers.get("authorization") or "").rpartition(" ")[2]


def bare_app() -> Sanic:
    app = Sanic("floor_bare")

    async def me(request: Request) -> HTTPResponse:
        return _json(_BARE_BODY)

    app.add_route(me, "/api/v1/me", methods=["GET"])
    return app


# Each floor imports only its own drivers, so the bare one holds no more objects than Sanic's.


def me_app(redis_url: str) -> Sanic:
    from redis.asyncio import Redis  # noqa: PLC0415

    # The service's own pool: redis-py's BlockingConnectionPool costs more than the round trip.
    from adapters.redis.client import BoundedPool  # noqa: PLC0415

    app = Sanic("floor_me")

    async def open_redis(app: Sanic) -> None:
        pool = BoundedPool.from_url(redis_url, max_connections=64, timeout=1.0)
        app.ctx.redis = Redis.from_pool(pool)

    async def close_redis(app: Sanic) -> None:
        await app.ctx.redis.aclose()

    async def me(request: Request) -> HTTPResponse:
        value = await request.app.ctx.redis.get(_key(_bearer(request)))
        if value is None:
            return _json(_UNAUTHORIZED, 401)
        user_id, created_ms, expires_ms = _VALUE.unpack(value)
        created = datetime.fromtimestamp(created_ms / 1000, UTC)
        body = {
            "user": {"id": user_id, "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "expires_in": max(0, int(expires_ms / 1000 - time.time())),
        }
        return _json(orjson.dumps(body))

    app.register_listener(open_redis, "before_server_start")
    app.register_listener(close_redis, "after_server_stop")
    app.add_route(me, "/api/v1/me", methods=["GET"])
    app.add_route(me, "/api/v1/auth", methods=["GET"], name="auth")
    return app


def login_app(redis_url: str, mysql_url: str, wechat_url: str, appid: str, secret: str) -> Sanic:
    import aiohttp  # noqa: PLC0415
    import aiomysql  # noqa: PLC0415
    from redis.asyncio import Redis  # noqa: PLC0415

    from adapters.redis.client import BoundedPool  # noqa: PLC0415

    app = Sanic("floor_login")
    endpoint = wechat_url.rstrip("/") + "/sns/jscode2session"
    mysql = urlsplit(mysql_url)

    async def open_pools(app: Sanic) -> None:
        pool = BoundedPool.from_url(redis_url, max_connections=64, timeout=1.0)
        app.ctx.redis = Redis.from_pool(pool)
        app.ctx.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100),
            timeout=aiohttp.ClientTimeout(total=3),
        )
        app.ctx.mysql = await aiomysql.create_pool(
            host=mysql.hostname,
            port=mysql.port or 3306,
            user=unquote(mysql.username or ""),
            password=unquote(mysql.password or ""),
            db=mysql.path.lstrip("/"),
            charset="utf8mb4",
            autocommit=True,
            minsize=1,
            maxsize=20,
        )
        async with app.ctx.mysql.acquire() as conn, conn.cursor() as cursor:
            await cursor.execute(_FLOOR_USERS)

    async def close_pools(app: Sanic) -> None:
        app.ctx.mysql.close()
        await app.ctx.mysql.wait_closed()
        await app.ctx.http.close()
        await app.ctx.redis.aclose()

    async def login(request: Request) -> HTTPResponse:
        code = orjson.loads(request.body)["code"]
        params = {
            "appid": appid,
            "secret": secret,
            "js_code": code,
            "grant_type": "authorization_code",
        }
        async with request.app.ctx.http.get(endpoint, params=params) as response:
            wechat: dict[str, Any] = orjson.loads(await response.read())
        now = time.time()
        at = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
        async with request.app.ctx.mysql.acquire() as conn, conn.cursor() as cursor:
            changed = await cursor.execute(_UPSERT, (wechat["openid"], at, at, at))
            user_id = cursor.lastrowid
        token = secrets.token_urlsafe(32)
        now_ms = round(now * 1000)
        expires_ms = now_ms + _TTL_SECONDS * 1000
        await request.app.ctx.redis.set(
            _key(token), _VALUE.pack(user_id, now_ms, expires_ms), pxat=expires_ms
        )
        body = {
            "token": token,
            "token_type": "Bearer",
            "expires_in": _TTL_SECONDS,
            "user": {"id": user_id, "created": changed == 1},
        }
        return _json(orjson.dumps(body))

    app.register_listener(open_pools, "before_server_start")
    app.register_listener(close_pools, "after_server_stop")
    app.add_route(login, "/api/v1/login", methods=["POST"])
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve one benchmark floor.")
    parser.add_argument("kind", choices=("bare", "me", "login"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url")
    parser.add_argument("--mysql-url", help="mysql://user:password@host:port/database")
    parser.add_argument("--wechat-url")
    parser.add_argument("--appid")
    parser.add_argument("--secret")
    args = parser.parse_args(argv)
    if args.kind == "bare":
        app = bare_app()
    elif args.kind == "me":
        app = me_app(args.redis_url)
    else:
        app = login_app(args.redis_url, args.mysql_url, args.wechat_url, args.appid, args.secret)
    app.config.update(ACCESS_LOG=False, MOTD=False, KEEP_ALIVE_TIMEOUT=15)
    app.run(
        host="127.0.0.1",
        port=args.port,
        single_process=True,
        access_log=False,
        motd=False,
        backlog=1024,
    )


if __name__ == "__main__":
    main()
