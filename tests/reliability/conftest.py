"""Helpers of the reliability tests: a WeChat simulator that counts its calls in flight, the
environment of a service on the real stores, timed HTTP calls, a Redis that persists."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from adapters.wechat.simulator import Handler, WeChatSimulator, run_simulator
from tests.fixtures.redis_server import RedisServer, redis_executable
from tests.fixtures.wechat_simulator import SIM_APPID, SIM_SECRET


class CountingSimulator(WeChatSimulator):
    """The simulator, also counting the WeChat calls it is answering right now and their peak."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(appid=SIM_APPID, secret=SIM_SECRET, **kwargs)
        self.in_flight = 0
        self.peak = 0

    def _wechat(self, handler: Handler) -> Handler:
        answer = super()._wechat(handler)

        async def counted(request: web.Request) -> web.StreamResponse:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                return await answer(request)
            finally:
                self.in_flight -= 1

        return counted


@dataclass(frozen=True)
class Simulated:
    sim: CountingSimulator
    base_url: str


@pytest.fixture
async def simulator() -> AsyncIterator[Simulated]:
    sim = CountingSimulator()
    async with run_simulator(sim) as base_url:
        yield Simulated(sim=sim, base_url=base_url)


def service_env(
    *, wechat: str, redis_url: str | None = None, database_url: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment of a service against the simulator at ``wechat`` and the given stores."""
    env = {
        "WECHAT_APPID": SIM_APPID,
        "WECHAT_SECRET": SIM_SECRET,
        "WECHAT_API_BASE": wechat,
        "WECHAT_TIMEOUT_SECONDS": "1",
        "LOGIN_RATE_PER_MINUTE": "0",
        **extra,
    }
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    return env


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Any
    seconds: float

    @property
    def code(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error.get("code") if isinstance(error, dict) else None


async def call(
    http: aiohttp.ClientSession, method: str, url: str, *, token: str | None = None,
    json: Any = None,
) -> Answer:
    """One request, timed; the body parsed as JSON when there is one."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    started = time.monotonic()
    async with http.request(method, url, headers=headers, json=json) as response:
        raw = await response.read()
        seconds = time.monotonic() - started
        body = orjson.loads(raw) if raw else None
        return Answer(response.status, body, response.headers, seconds)


async def login(http: aiohttp.ClientSession, url: str, code: str) -> Answer:
    return await call(http, "POST", f"{url}/api/v1/login", json={"code": code})


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of its own that loses nothing it acknowledged: AOF, fsync at every write."""
    directory = tmp_path / "redis-aof"
    directory.mkdir()
    server = RedisServer(
        redis_executable(), directory, options={"appendonly": "yes", "appendfsync": "always"}
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
