"""Redis and MariaDB taken away and given back under a running service: fast honest 503s, the
store that is down named by ``/readyz``, recovery with no restart, no half-made login."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from dependency_injector import providers
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from tests.fixtures.mariadb_server import MariaDBServer
from tests.fixtures.redis_server import RedisServer
from tests.reliability.conftest import Answer, Simulated, call, login, service_env
from tests.serving import make_container, serve

pytestmark = pytest.mark.integration

BOUND = 2.0
"""Documented: an endpoint whose store cannot be reached answers 503 within 2 s."""


def assert_unavailable_in_time(answers: dict[str, Answer]) -> None:
    for name, answer in answers.items():
        assert (answer.status, answer.code) == (503, "unavailable"), (name, answer)
        assert answer.headers["Retry-After"] == "1", name
        assert answer.seconds < BOUND, (name, answer.seconds)
    print("time to 503:", {name: round(answer.seconds, 3) for name, answer in answers.items()})


def redis_fault(server: RedisServer, kind: str) -> tuple[Callable[[], None], Callable[[], None]]:
    """How to take Redis away (stopped: refuses connections; paused: accepts, never answers)."""
    if kind == "stopped":
        return server.stop, server.start
    assert server.pid is not None
    pid = server.pid
    return (lambda: os.kill(pid, signal.SIGSTOP)), (lambda: os.kill(pid, signal.SIGCONT))


@pytest.mark.parametrize("kind", ["stopped", "paused"])
async def test_without_redis_login_me_and_logout_are_503_within_2_s_and_it_heals_itself(
    kind: str, redis_server: RedisServer, redis_url: str, mariadb_url: str, simulator: Simulated
) -> None:
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url,
                      LOGIN_RATE_PER_MINUTE="1000")
    take_away, give_back = redis_fault(redis_server, kind)
    async with serve(make_container(env)) as url, aiohttp.ClientSession() as http:
        first = await login(http, url, "alice:1")
        assert first.status == 200
        token = first.body["token"]

        take_away()
        try:
            names = ["login", "me", "logout", "logout all"]
            answers = await asyncio.gather(
                login(http, url, "alice:2"),
                call(http, "GET", f"{url}/api/v1/me", token=token),
                call(http, "POST", f"{url}/api/v1/logout", token=token),
                call(http, "POST", f"{url}/api/v1/logout", token=token, json={"all": True}),
            )
            assert_unavailable_in_time(dict(zip(names, answers, strict=True)))
            ready = await call(http, "GET", f"{url}/readyz")
            assert ready.status == 503
            assert ready.body["checks"] == {"sessions": "down", "users": "ok"}
            assert ready.seconds < BOUND
        finally:
            give_back()

        # Same process, same pools: the stale connections are replaced as they are used.
        again = await login(http, url, "alice:3")
        assert again.status == 200
        assert again.body["user"] == {"id": first.body["user"]["id"], "created": False}
        fresh = again.body["token"]
        assert (await call(http, "GET", f"{url}/api/v1/me", token=fresh)).status == 200
        assert (await call(http, "GET", f"{url}/readyz")).status == 200
        assert (await call(http, "POST", f"{url}/api/v1/logout", token=fresh)).status == 204


@pytest.mark.parametrize("kind", ["stopped", "paused"])
async def test_without_mariadb_login_is_503_within_2_s_readyz_names_users_and_it_heals_itself(
    kind: str, mariadb_server: MariaDBServer, mariadb_url: str, redis_url: str,
    simulator: Simulated,
) -> None:
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url)
    take_away, give_back = {
        "stopped": (mariadb_server.stop, mariadb_server.start),
        "paused": (mariadb_server.pause, mariadb_server.resume),
    }[kind]
    async with serve(make_container(env)) as url, aiohttp.ClientSession() as http:
        first = await login(http, url, "bob:1")
        assert first.status == 200
        token = first.body["token"]

        await asyncio.to_thread(take_away)
        try:
            assert_unavailable_in_time({"login": await login(http, url, "bob:2")})
            ready = await call(http, "GET", f"{url}/readyz")
            assert ready.status == 503
            assert ready.body["checks"] == {"sessions": "ok", "users": "down"}
            assert ready.seconds < BOUND
            # Sessions live in Redis: a logged-in user carries on.
            assert (await call(http, "GET", f"{url}/api/v1/me", token=token)).status == 200
        finally:
            await asyncio.to_thread(give_back)

        again = await login(http, url, "bob:3")
        assert again.status == 200, again
        assert again.body["user"] == {"id": first.body["user"]["id"], "created": False}
        assert (await call(http, "GET", f"{url}/readyz")).status == 200


async def test_pooled_connections_made_stale_by_a_mariadb_restart_never_surface(
    mariadb_server: MariaDBServer, mariadb_url: str, redis_url: str, simulator: Simulated
) -> None:
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url)
    async with serve(make_container(env)) as url, aiohttp.ClientSession() as http:
        # Concurrent logins fill the pool with connections...
        warm = await asyncio.gather(*(login(http, url, f"user{n}:1") for n in range(10)))
        assert [answer.status for answer in warm] == [200] * 10
        # ...that the restart kills behind the pool's back.
        await asyncio.to_thread(mariadb_server.stop)
        await asyncio.to_thread(mariadb_server.start)

        after = await asyncio.gather(*(login(http, url, f"user{n}:2") for n in range(10)))
    assert [answer.status for answer in after] == [200] * 10
    assert [a.body["user"]["id"] for a in after] == [a.body["user"]["id"] for a in warm]


class StopsRedisAfterTheUserIsSaved:
    """The user repository, stopping Redis right after it saved a user, once: the session write
    that follows fails for real."""

    def __init__(self, inner: SqlAlchemyUserRepository, redis_server: RedisServer) -> None:
        self._inner = inner
        self._redis_server = redis_server
        self.armed = False

    async def get_or_create(self, identity: Any, *, now: float) -> Any:
        saved = await self._inner.get_or_create(identity, now=now)
        if self.armed:
            self.armed = False
            await asyncio.to_thread(self._redis_server.stop)
        return saved

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def test_a_user_saved_whose_session_is_not_gets_an_error_and_no_token_and_is_found_again(
    redis_server: RedisServer, redis_url: str, mariadb_url: str, simulator: Simulated
) -> None:
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url)
    container = make_container(env)
    faulty: list[StopsRedisAfterTheUserIsSaved] = []

    def repository(engine: Any) -> StopsRedisAfterTheUserIsSaved:
        faulty.append(StopsRedisAfterTheUserIsSaved(SqlAlchemyUserRepository(engine), redis_server))
        return faulty[-1]

    container.user_repository.override(providers.Singleton(repository, container.database))
    async with serve(container) as url, aiohttp.ClientSession() as http:
        faulty[0].armed = True
        try:
            failed = await login(http, url, "zoe:1")
        finally:
            redis_server.start()
        assert (failed.status, failed.code) == (503, "unavailable")
        assert "token" not in failed.body
        assert "Authorization" not in failed.headers

        rows = await user_rows(mariadb_url)
        assert list(rows) == [simulator.sim.openid_for("zoe")]  # the user was saved

        later = await login(http, url, "zoe:2")
    assert later.status == 200
    assert later.body["user"] == {"id": rows[simulator.sim.openid_for("zoe")], "created": False}


async def user_rows(database_url: str) -> dict[str, int]:
    """``openid -> user id`` of every identity."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(text("SELECT openid, user_id FROM user_identities"))
            return {row.openid: row.user_id for row in result}
    finally:
        await engine.dispose()


async def test_a_redis_that_drops_every_connection_costs_each_request_two_attempts_at_most(
    mariadb_url: str, simulator: Simulated
) -> None:
    """No retry storm: one attempt and one retry on a fresh connection, then 503."""
    attempts = 0

    async def drop(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.close()

    dropper = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = dropper.sockets[0].getsockname()[1]
    env = service_env(wechat=simulator.base_url, redis_url=f"redis://127.0.0.1:{port}/0",
                      database_url=mariadb_url, LOGIN_RATE_PER_MINUTE="10")
    container = make_container(env)
    try:
        async with serve(container) as url, aiohttp.ClientSession() as http:
            token = "A" * 14 + "." + "t" * 43  # well-formed, so Redis is asked
            counted = {}
            for name, request in [
                ("login", lambda: login(http, url, "alice:1")),
                ("me", lambda: call(http, "GET", f"{url}/api/v1/me", token=token)),
            ]:
                before = attempts
                answer = await request()
                assert (answer.status, answer.code) == (503, "unavailable")
                counted[name] = attempts - before
    finally:
        dropper.close()
        await dropper.wait_closed()
    assert all(1 <= attempts <= 2 for attempts in counted.values()), counted
