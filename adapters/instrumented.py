"""Decorators of the ports that time every store and WeChat call into Prometheus metrics.

The container wraps the real adapters (or the tests' fakes) in these, so neither the domain nor
the adapters know about metrics. Labels are bounded: store operation and WeChat API names come
from this code, and errcodes from WeChat; never a user, token, openid or path.

Each wrapper also logs a store's transitions (``store_down`` once when it starts failing,
``store_up`` once when it answers again) rather than one line per failed call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from time import perf_counter
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from domain.entities import LoginSession, User, WeChatSession
from domain.errors import (
    StoreUnavailable,
    UserBlocked,
    WeChatBusy,
    WeChatFailure,
    WeChatOverloaded,
    WeChatRateLimited,
)
from domain.platform import IssuedToken, PhoneNumber, SubscribeMessage, WeChatPlatform
from domain.platform_errors import InvalidPhoneCode, NotSubscribed
from domain.ports import NewLogin, SessionStore, UserRepository, WeChatGateway

logger = logging.getLogger("weapp_login.instrumented")

T = TypeVar("T")

STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
WECHAT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_ERRCODE_IN_DETAIL = re.compile(r"\berrcode (-?[0-9]{1,9})\b")
_ERRCODE_OF_FAILURE: tuple[tuple[type[WeChatFailure], str], ...] = (
    (WeChatBusy, "-1"),
    (UserBlocked, "40226"),
    (WeChatRateLimited, "45011"),
    (InvalidPhoneCode, "40029"),
    (NotSubscribed, "43101"),
)


class PortMetrics:
    """The metric families of the ports, registered in ``registry`` (one per container)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.session_store_seconds = Histogram(
            "weapp_session_store_seconds",
            "Session-store calls by operation and outcome (ok or unavailable).",
            ["operation", "outcome"], registry=registry, buckets=STORE_BUCKETS,
        )
        self.user_store_seconds = Histogram(
            "weapp_user_store_seconds",
            "User-store calls by operation and outcome (ok or unavailable).",
            ["operation", "outcome"], registry=registry, buckets=STORE_BUCKETS,
        )
        self.wechat_calls = Counter(
            "weapp_wechat_calls",
            "WeChat API calls by endpoint, outcome (ok, the error code, or overloaded: refused "
            "here before calling) and WeChat's errcode (empty when WeChat gave none).",
            ["endpoint", "outcome", "errcode"], registry=registry,
        )
        self.wechat_seconds = Histogram(
            "weapp_wechat_call_seconds", "WeChat API call latency by endpoint.",
            ["endpoint"], registry=registry, buckets=WECHAT_BUCKETS,
        )
        self.access_token_refreshes = Counter(
            "weapp_access_token_refreshes",
            "Fetches of the app's access_token (stable_token) by outcome.",
            ["outcome"], registry=registry,
        )


def wechat_outcome(failure: WeChatFailure) -> str:
    """The ``outcome`` label: the error code, but ``overloaded`` for the calls this process
    refused before calling WeChat (its own limit), which answer ``wechat_busy`` like WeChat's -1."""
    return "overloaded" if isinstance(failure, WeChatOverloaded) else failure.code


def wechat_errcode(failure: WeChatFailure) -> str:
    """WeChat's errcode behind a failure: the adapters name it in the detail of the errors they
    make from an unexpected errcode ("errcode 40013"); the others map one to one. Empty when
    WeChat gave none (timeout, unreachable, HTTP error, unreadable body) or it is ambiguous
    (``invalid_code`` is 40029 or 40163)."""
    if isinstance(failure, WeChatOverloaded):
        return ""
    match = _ERRCODE_IN_DETAIL.search(failure.detail)
    if match:
        return match.group(1)
    for failure_type, errcode in _ERRCODE_OF_FAILURE:
        if isinstance(failure, failure_type):
            return errcode
    return ""


class _StoreTimer:
    """Times one store's calls and logs its down/up transitions."""

    def __init__(self, store: str, histogram: Histogram) -> None:
        self._store = store
        self._histogram = histogram
        self._ok: dict[str, Any] = {}
        self._down = False

    async def timed(self, operation: str, call: Awaitable[T]) -> T:
        started = perf_counter()
        try:
            result = await call
        except StoreUnavailable:
            self._histogram.labels(operation, "unavailable").observe(perf_counter() - started)
            if not self._down:
                self._down = True
                logger.warning("the %s store is unavailable", self._store,
                               extra={"event": "store_down", "store": self._store})
            raise
        child = self._ok.get(operation)
        if child is None:
            child = self._ok[operation] = self._histogram.labels(operation, "ok")
        child.observe(perf_counter() - started)
        if self._down:
            self._down = False
            logger.info("the %s store answers again", self._store,
                        extra={"event": "store_up", "store": self._store})
        return result


class InstrumentedSessionStore:
    """A ``SessionStore`` that times every call of the one it wraps."""

    def __init__(self, inner: SessionStore, metrics: PortMetrics) -> None:
        self._inner = inner
        self._timer = _StoreTimer("sessions", metrics.session_store_seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # anything the port does not define, untimed

    async def record_login(self, login: NewLogin) -> str:
        return await self._timer.timed("record_login", self._inner.record_login(login))

    async def get(self, token: str) -> LoginSession | None:
        return await self._timer.timed("get", self._inner.get(token))

    async def extend(self, token: str, expires_at: float) -> None:
        await self._timer.timed("extend", self._inner.extend(token, expires_at))

    async def logout(self, token: str, *, everywhere: bool) -> bool:
        return await self._timer.timed(
            "logout", self._inner.logout(token, everywhere=everywhere)
        )

    async def session_key(self, user_id: int) -> str | None:
        return await self._timer.timed("session_key", self._inner.session_key(user_id))

    async def ping(self) -> None:
        await self._timer.timed("ping", self._inner.ping())


class InstrumentedUserRepository:
    """A ``UserRepository`` (and ``UserPhoneStore``) that times every call of the one it wraps."""

    def __init__(self, inner: UserRepository, metrics: PortMetrics) -> None:
        self._inner = inner
        self._timer = _StoreTimer("users", metrics.user_store_seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def get_or_create(
        self, openid: str, *, unionid: str | None, now: float
    ) -> tuple[User, bool]:
        return await self._timer.timed(
            "get_or_create", self._inner.get_or_create(openid, unionid=unionid, now=now)
        )

    async def get(self, user_id: int) -> User | None:
        return await self._timer.timed("get", self._inner.get(user_id))

    async def save_phone(self, user_id: int, phone: str) -> None:
        await self._timer.timed(
            "save_phone", self._inner.save_phone(user_id, phone)  # type: ignore[attr-defined]
        )

    async def ping(self) -> None:
        await self._timer.timed("ping", self._inner.ping())


class _WeChatTimer:
    def __init__(self, metrics: PortMetrics) -> None:
        self._metrics = metrics
        self._ok: dict[str, tuple[Any, Any]] = {}  # endpoint: its latency and ok-count children

    async def timed(self, endpoint: str, call: Awaitable[T]) -> T:
        started = perf_counter()
        try:
            result = await call
        except WeChatFailure as failure:
            self._record(endpoint, started, wechat_outcome(failure), wechat_errcode(failure))
            raise
        children = self._ok.get(endpoint)
        if children is None:
            children = self._ok[endpoint] = (
                self._metrics.wechat_seconds.labels(endpoint),
                self._metrics.wechat_calls.labels(endpoint, "ok", "0"),
            )
        latency, count = children
        latency.observe(perf_counter() - started)
        count.inc()
        return result

    def _record(self, endpoint: str, started: float, outcome: str, errcode: str) -> None:
        self._metrics.wechat_seconds.labels(endpoint).observe(perf_counter() - started)
        self._metrics.wechat_calls.labels(endpoint, outcome, errcode).inc()


class InstrumentedWeChatGateway:
    """A ``WeChatGateway`` that counts and times ``jscode2session``."""

    def __init__(self, inner: WeChatGateway, metrics: PortMetrics) -> None:
        self._inner = inner
        self._timer = _WeChatTimer(metrics)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def code_to_session(self, code: str) -> WeChatSession:
        return await self._timer.timed("jscode2session", self._inner.code_to_session(code))


class InstrumentedWeChatPlatform:
    """A ``WeChatPlatform`` that counts and times each API, and counts ``access_token`` fetches
    (logged as the ``access_token_refresh`` event)."""

    def __init__(self, inner: WeChatPlatform, metrics: PortMetrics) -> None:
        self._inner = inner
        self._metrics = metrics
        self._timer = _WeChatTimer(metrics)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def stable_token(self, *, force_refresh: bool = False) -> IssuedToken:
        try:
            issued = await self._timer.timed(
                "stable_token", self._inner.stable_token(force_refresh=force_refresh)
            )
        except WeChatFailure as failure:
            self._metrics.access_token_refreshes.labels(failure.code).inc()
            logger.warning("fetching the access token failed",
                           extra={"event": "access_token_refresh", "outcome": failure.code})
            raise
        self._metrics.access_token_refreshes.labels("ok").inc()
        logger.info("fetched a new access token", extra={
            "event": "access_token_refresh", "outcome": "ok", "expires_in": int(issued.expires_in)
        })
        return issued

    async def phone_number(self, access_token: str, code: str) -> PhoneNumber:
        return await self._timer.timed(
            "getuserphonenumber", self._inner.phone_number(access_token, code)
        )

    async def check_session(self, access_token: str, openid: str, signature: str) -> bool:
        return await self._timer.timed(
            "checksession", self._inner.check_session(access_token, openid, signature)
        )

    async def send_subscribe_message(self, access_token: str, message: SubscribeMessage) -> None:
        await self._timer.timed(
            "subscribe_send", self._inner.send_subscribe_message(access_token, message)
        )

