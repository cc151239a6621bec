"""``BENCH_DISABLE``: the benchmark's A/B of each per-request feature, in development only."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from dependency_injector import providers

from adapters.apps import PlatformClients
from adapters.memory import InMemoryUserRepository, InMemoryWeChatGateway
from settings import ConfigError, Settings
from tests.ops.conftest import ENV
from tests.serving import make_container, serve

PRODUCTION = {"APP_ENV": "production", "WECHAT_APPID": "wx1", "WECHAT_SECRET": "s" * 32,
              "SESSION_SECRET": "x" * 40}


def refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(environ)
    [line] = str(refused.value).splitlines()
    return line


def test_an_unknown_feature_is_refused_naming_the_variable_and_the_choices() -> None:
    line = refusal({"BENCH_DISABLE": "metrics,logs"})
    assert line.startswith("BENCH_DISABLE: unknown 'logs'")
    assert "access_log, metrics, request_id" in line


def test_it_is_refused_in_production_even_empty_of_effect() -> None:
    assert Settings.from_env(PRODUCTION).bench_disable == frozenset()  # unset: fine
    line = refusal({**PRODUCTION, "BENCH_DISABLE": "access_log"})
    assert line.startswith("BENCH_DISABLE: ")
    assert "APP_ENV=production" in line


def test_names_are_a_comma_separated_subset_and_reach_the_container() -> None:
    config = Settings.from_env({"BENCH_DISABLE": " metrics , access_log,"}).as_config()
    assert config["bench_disable"] == ["access_log", "metrics"]
    assert Settings.from_env({}).as_config()["bench_disable"] == []


def test_the_process_environment_is_read_as_names_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not JSON, as pydantic-settings would read a set from the environment by default."""
    monkeypatch.setenv("BENCH_DISABLE", "access_log,request_id")
    assert Settings.from_env().bench_disable == {"access_log", "request_id"}


async def served(disabled: str) -> AsyncIterator[str]:
    container = make_container({**ENV, "BENCH_DISABLE": disabled})
    wechat = InMemoryWeChatGateway()
    wechat.add_code("alice:1", "openid-alice")
    container.platforms.override(providers.Object({"default": PlatformClients(wechat)}))
    container.user_repository.override(providers.Object(InMemoryUserRepository()))
    async with serve(container) as url:
        yield url


async def one_request(
    disabled: str, output: io.StringIO
) -> tuple[aiohttp.ClientResponse, list[dict[str, Any]], str]:
    """A login and a ``/me`` with ``BENCH_DISABLE=disabled``: the ``/me``'s reply, the access
    lines, and the metrics' text."""
    async for url in served(disabled):
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/api/v1/login", json={"code": "alice:1"}) as reply:
                token = (await reply.json())["token"]
            async with http.get(f"{url}/api/v1/me", headers={
                "Authorization": f"Bearer {token}", "X-Request-ID": "bench-me"
            }) as me:
                await me.read()
            async with http.get(f"{url}/metrics") as reply:
                text = await reply.text()
    lines = [orjson.loads(line) for line in output.getvalue().splitlines()]
    return me, [line for line in lines if line.get("event") == "request"], text


@pytest.mark.parametrize("disabled", ["", "access_log", "request_id", "metrics"])
async def test_each_name_turns_its_feature_off_and_only_it(
    disabled: str, json_logs: Callable[[str], io.StringIO]
) -> None:
    me, access, metrics = await one_request(disabled, json_logs("INFO"))
    assert me.status == 200

    assert bool(access) == (disabled != "access_log")
    ids = [line["request_id"] for line in access]
    assert (me.headers.get("X-Request-ID") == "bench-me") == (disabled != "request_id")
    if disabled == "request_id":
        assert "X-Request-ID" not in me.headers
        assert ids
        assert set(ids) == {None}
    elif disabled != "access_log":
        assert "bench-me" in ids
    counted = 'weapp_http_requests_total{method="GET",route="/api/v1/me",status="200"} 1.0'
    timed = 'weapp_session_store_seconds_count{operation="get",outcome="ok"}'
    assert (counted in metrics) == (disabled != "metrics")
    assert (timed in metrics) == (disabled != "metrics")
    assert "weapp_logins_total" in metrics  # the families are there, metrics off or not
