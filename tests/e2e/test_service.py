"""The service as a process against real MariaDB, real Redis and the WeChat simulator over HTTP."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.e2e.conftest import ROOT, RunningService

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

APPID = "wx-test-app"
SECRET = "test-secret"


@pytest.fixture
async def full_service(
    service_runner: Callable[[dict[str, str]], Any],
    redis_url: str,
    mariadb_url: str,
    wechat_simulator: Any,
) -> AsyncIterator[RunningService]:
    env = {
        "WECHAT_APPID": APPID,
        "WECHAT_SECRET": SECRET,
        "WECHAT_API_BASE": wechat_simulator.base_url,
        "WECHAT_TIMEOUT_SECONDS": "1",
        "REDIS_URL": redis_url,
        "DATABASE_URL": mariadb_url,
        "LOGIN_RATE_PER_MINUTE": "0",
    }
    async with service_runner(env) as service:
        yield service


async def login(http: aiohttp.ClientSession, url: str, code: str) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{url}/api/v1/login", json={"code": code}) as response:
        return response.status, await response.json(content_type=None)


async def test_login_me_and_logout_work_on_mariadb_redis_and_the_simulator(
    full_service: RunningService,
) -> None:
    async with aiohttp.ClientSession() as http:
        status, body = await login(http, full_service.url, "alice:1")
        assert status == 200, body
        assert body["user"]["created"] is True
        auth = {"Authorization": f"Bearer {body['token']}"}

        async with http.get(f"{full_service.url}/api/v1/me", headers=auth) as response:
            assert response.status == 200
            me = await response.json()
        assert me["user"]["id"] == body["user"]["id"]

        status, again = await login(http, full_service.url, "alice:2")
        assert again["user"] == {"id": body["user"]["id"], "created": False}

        async with http.post(f"{full_service.url}/api/v1/logout", headers=auth) as response:
            assert response.status == 204
        async with http.get(f"{full_service.url}/api/v1/me", headers=auth) as response:
            assert response.status == 401

        async with http.get(f"{full_service.url}/readyz") as response:
            assert response.status == 200


WECHAT_FAILURES = [
    ("invalid-1", 401, "invalid_code"), ("blocked-1", 403, "user_blocked"),
    ("quota-1", 429, "rate_limited"), ("busy-1", 503, "platform_busy"),
    ("error-1", 502, "platform_error"), ("garbage-1", 502, "platform_error"),
    ("http500-1", 502, "platform_error"), ("nokey-1", 502, "platform_error"),
    ("hang-1", 504, "platform_timeout"),
]


async def test_wechat_failures_reach_the_client_as_documented(
    full_service: RunningService,
) -> None:
    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(
            *(login(http, full_service.url, code) for code, _, _ in WECHAT_FAILURES)
        )
    got = [(status, body["error"]["code"]) for status, body in answers]
    assert got == [(status, error) for _, status, error in WECHAT_FAILURES]


async def test_a_code_used_twice_is_exchanged_once_and_logs_in_twice(
    full_service: RunningService, wechat_simulator: Any
) -> None:
    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(*(login(http, full_service.url, "bob:1") for _ in range(5)))
        later = await login(http, full_service.url, "bob:1")
    assert [status for status, _ in results] + [later[0]] == [200] * 6
    assert len({body["user"]["id"] for _, body in [*results, later]}) == 1
    assert wechat_simulator.sim.code_calls["bob:1"] == 1


async def test_fifty_simultaneous_first_logins_of_one_user_make_one_user(
    full_service: RunningService, mariadb_url: str
) -> None:
    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(
            *(login(http, full_service.url, f"carol:{n}") for n in range(50))
        )
    assert [status for status, _ in results] == [200] * 50
    assert len({body["user"]["id"] for _, body in results}) == 1
    assert sum(body["user"]["created"] for _, body in results) == 1

    engine = create_async_engine(mariadb_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.scalar(text("SELECT COUNT(*) FROM users"))
    finally:
        await engine.dispose()
    assert rows == 1


async def test_no_secret_reaches_a_response_a_log_line_or_redis(
    full_service: RunningService, wechat_simulator: Any, redis_url: str
) -> None:
    """The app secret, session_key and openid never leave the server; tokens never sit in Redis."""
    seen_session_keys: list[str] = []
    original = wechat_simulator.sim._session

    def spying_session(code: str) -> Any:
        response = original(code)
        seen_session_keys.append(orjson.loads(response.body)["session_key"])
        return response

    wechat_simulator.sim._session = spying_session
    bodies: list[str] = []
    tokens: list[str] = []
    async with aiohttp.ClientSession() as http:
        for code in ["dave:1", "dave:2", "u-erin:1", "invalid-x", "busy-x", "garbage-x",
                     "nokey-x", "hang-x", "blocked-x"]:
            async with http.post(f"{full_service.url}/api/v1/login", json={"code": code}) as r:
                text_body = await r.text()
                bodies.append(text_body + str(dict(r.headers)))
                if r.status == 200:
                    tokens.append((await r.json())["token"])
        for token in tokens:
            async with http.get(f"{full_service.url}/api/v1/me",
                                headers={"Authorization": f"Bearer {token}"}) as r:
                bodies.append(await r.text() + str(dict(r.headers)))

    secrets = [SECRET, *seen_session_keys,
               wechat_simulator.sim.openid_for("dave"), wechat_simulator.sim.openid_for("u-erin")]
    assert len(seen_session_keys) == 3
    logs = full_service.logs()
    for secret in secrets:
        for body in bodies:
            assert secret not in body
        assert secret not in logs

    client = redis.from_url(redis_url)
    try:
        stored = b""
        async for key in client.scan_iter(count=1000):
            stored += key + (await client.dump(key) or b"")
    finally:
        await client.aclose()
    for token in tokens:
        random_part = token.rpartition(".")[2]  # a token is <route>.<random>
        for form in (token.encode(), base64.urlsafe_b64decode(random_part + "=")):
            assert form not in stored


async def test_the_embedded_defaults_serve_the_login_flow(
    service_runner: Callable[[dict[str, str]], Any], tmp_path: Path
) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/weapp.db"}
    async with service_runner(env) as service, aiohttp.ClientSession() as http:
        status, body = await login(http, service.url, "alice:1")
        assert status == 200, body
        async with http.get(f"{service.url}/api/v1/me",
                            headers={"Authorization": body["token"]}) as response:
            assert response.status == 200
    assert "simulator" in service.logs()


@pytest.mark.parametrize(
    ("env", "variable"),
    [({"PORT": "http"}, "PORT"), ({"APP_ENV": "production"}, "WECHAT_APPID"),
     ({"WORKERS": "2"}, "WORKERS"), ({"SESSION_TTL_SECONDS": "-5"}, "SESSION_TTL_SECONDS"),
     ({"APP_ENV": "production", "WECHAT_APPID": "wx1", "WECHAT_SECRET": "s",
       "WECHAT_API_BASE": "http://127.0.0.1:1"}, "WECHAT_API_BASE")],
)
async def test_a_bad_setting_stops_the_service_with_one_line_naming_it(
    env: dict[str, str], variable: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "entrypoints", cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert variable in lines[0]
