"""Prometheus metrics at /metrics: logins, WeChat calls, store latency, access-token refreshes."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from adapters.instrumented import (
    SESSIONS,
    WECHAT_PLATFORM,
    PortMetrics,
    instrumented,
    wechat_errcode,
    wechat_outcome,
)
from adapters.memory import InMemoryCodeExchangeRegistry, InMemorySessionStore
from adapters.memory.platform import InMemoryWeChatPlatform
from domain.errors import (
    InvalidCode,
    StoreUnavailable,
    UserBlocked,
    WeChatBusy,
    WeChatError,
    WeChatOverloaded,
    WeChatTimeout,
)
from domain.platform_errors import AccessTokenInvalid, InvalidTemplate
from tests.fakes import FakeClock
from tests.ops.conftest import FakedService

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(f"{url}/metrics") as reply:
        assert reply.status == 200
        assert reply.content_type == "text/plain"
        return await reply.text()


async def login(http: aiohttp.ClientSession, url: str, code: str) -> dict[str, Any]:
    async with http.post(f"{url}/api/v1/login", json={"code": code}) as reply:
        body: dict[str, Any] = await reply.json()
        return body


async def test_metrics_count_logins_wechat_calls_store_calls_and_requests_by_route(
    faked_service: FakedService,
) -> None:
    service = faked_service
    service.wechat.add_code("code-1", "openid-secret-alice")
    service.wechat.failures["code-bad"] = InvalidCode()
    async with aiohttp.ClientSession() as http:
        token = (await login(http, service.url, "code-1"))["token"]
        await login(http, service.url, "code-bad")
        await login(http, service.url, "")
        async with http.get(f"{service.url}/api/v1/me",
                            headers={"Authorization": f"Bearer {token}"}) as reply:
            assert reply.status == 200
        async with http.get(f"{service.url}/no/such/path-{token}") as reply:
            assert reply.status == 404
        text = await scrape(http, service.url)
    samples = parse(text)

    assert value(samples, "weapp_logins_total", outcome="ok") == 1
    assert value(samples, "weapp_logins_total", outcome="invalid_code") == 1
    assert value(samples, "weapp_logins_total", outcome="invalid_request") == 1
    calls = "weapp_wechat_calls_total"
    assert value(samples, calls, endpoint="jscode2session", outcome="ok", errcode="0") == 1
    assert value(samples, calls, endpoint="jscode2session", outcome="invalid_code",
                 errcode="") == 1
    assert value(samples, "weapp_wechat_call_seconds_count", endpoint="jscode2session") == 2
    assert value(samples, "weapp_session_store_seconds_count", operation="record_login",
                 outcome="ok") == 1
    assert value(samples, "weapp_session_store_seconds_count", operation="get",
                 outcome="ok") == 1
    assert value(samples, "weapp_user_store_seconds_count", operation="get_or_create",
                 outcome="ok") == 1
    requests = "weapp_http_requests_total"
    assert value(samples, requests, method="GET", route="/api/v1/me", status="200") == 1
    assert value(samples, requests, method="POST", route="/api/v1/login", status="401") == 1
    assert value(samples, requests, method="GET", route="unmatched", status="404") == 1
    for secret in (token, "openid-secret-alice", "/no/such/path"):
        assert secret not in text


async def test_access_token_fetches_are_counted_and_logged_as_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    fake = InMemoryWeChatPlatform()
    platform = instrumented(fake, port=WECHAT_PLATFORM, metrics=PortMetrics(registry))
    fake.fail_next("stable_token", WeChatBusy())
    with caplog.at_level(logging.INFO, logger="weapp_login.instrumented"):
        with pytest.raises(WeChatBusy):
            await platform.stable_token()
        issued = await platform.stable_token()
        await platform.check_session(issued.value, "openid-x", "sig")

    assert registry.get_sample_value("weapp_access_token_refreshes_total", {"outcome": "ok"}) == 1
    assert registry.get_sample_value(
        "weapp_access_token_refreshes_total", {"outcome": "platform_busy"}) == 1
    assert registry.get_sample_value(
        "weapp_wechat_calls_total",
        {"endpoint": "stable_token", "outcome": "platform_busy", "errcode": "-1"}) == 1
    assert registry.get_sample_value(
        "weapp_wechat_calls_total",
        {"endpoint": "checksession", "outcome": "ok", "errcode": "0"}) == 1
    events = [(r.levelname, getattr(r, "outcome", None)) for r in caplog.records
              if getattr(r, "event", None) == "access_token_refresh"]
    assert events == [("WARNING", "platform_busy"), ("INFO", "ok")]
    assert issued.value not in caplog.text


class FlakySessions(InMemorySessionStore):
    """Unavailable while ``down`` is set."""

    down = False

    async def ping(self) -> None:
        if self.down:
            raise StoreUnavailable()


async def test_a_store_going_down_and_back_logs_one_event_each_way_and_times_every_call(
    clock: FakeClock, caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    inner = FlakySessions(
        clock=clock, session_secret="s" * 32, registry=InMemoryCodeExchangeRegistry(clock=clock)
    )
    sessions = instrumented(inner, port=SESSIONS, metrics=PortMetrics(registry))
    with caplog.at_level(logging.INFO, logger="weapp_login.instrumented"):
        await sessions.ping()
        inner.down = True
        for _ in range(3):
            with pytest.raises(StoreUnavailable):
                await sessions.ping()
        inner.down = False
        await sessions.ping()
    events = [(r.event, r.store) for r in caplog.records if hasattr(r, "event")]  # type: ignore[attr-defined]
    assert events == [("store_down", "sessions"), ("store_up", "sessions")]
    count = "weapp_session_store_seconds_count"
    assert registry.get_sample_value(count, {"operation": "ping", "outcome": "ok"}) == 2
    assert registry.get_sample_value(count, {"operation": "ping", "outcome": "unavailable"}) == 3


@pytest.mark.parametrize(
    ("failure", "errcode"),
    [
        (WeChatError("WeChat answered errcode 40013."), "40013"),
        (AccessTokenInvalid("WeChat refused the access token (errcode 42001)."), "42001"),
        (InvalidTemplate("WeChat refused the message (errcode 47003): argument invalid"), "47003"),
        (WeChatBusy(), "-1"),
        (UserBlocked(), "40226"),
        (InvalidCode(), ""),
        (WeChatTimeout(), ""),
        (WeChatError("WeChat answered HTTP 502."), ""),
        (WeChatOverloaded(), ""),
    ],
)
def test_the_errcode_label_is_wechats_errcode_when_it_is_known(
    failure: Exception, errcode: str
) -> None:
    assert wechat_errcode(failure) == errcode  # type: ignore[arg-type]


def test_calls_refused_before_reaching_wechat_are_labelled_overloaded() -> None:
    assert wechat_outcome(WeChatOverloaded()) == "overloaded"
    assert wechat_outcome(WeChatBusy()) == "platform_busy"
