"""The metrics of the ports and the timers that fill them (see ``adapters/instrumented.py``).

Labels are bounded: store operations are method names, WeChat endpoints the API names, and
errcodes come from WeChat; never a user, token, openid or path. A store's transitions are logged
once each way (``store_down`` when it starts failing, ``store_up`` when it answers again) rather
than one line per failed call.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable
from time import perf_counter
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

from domain.errors import (
    StoreUnavailable,
    UserBlocked,
    WeChatBusy,
    WeChatFailure,
    WeChatOverloaded,
    WeChatRateLimited,
)
from domain.platform import IssuedToken
from domain.platform_errors import InvalidPhoneCode, NotSubscribed

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
    refused before calling the platform (its own limit), which answer ``platform_busy`` like
    WeChat's -1."""
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


class StoreTimer:
    """Times one store's calls by operation and outcome; logs its down/up transitions."""

    def __init__(self, store: str, histogram: Histogram) -> None:
        self._store = store
        self._histogram = histogram
        self._ok: dict[str, Histogram] = {}  # operation: its "ok" child, looked up once
        self._down = False

    async def timed(self, label: str, call: Awaitable[T]) -> T:
        started = perf_counter()
        try:
            result = await call
        except StoreUnavailable:
            self._histogram.labels(label, "unavailable").observe(perf_counter() - started)
            if not self._down:
                self._down = True
                logger.warning("the %s store is unavailable", self._store,
                               extra={"event": "store_down", "store": self._store})
            raise
        child = self._ok.get(label)
        if child is None:
            child = self._ok[label] = self._histogram.labels(label, "ok")
        child.observe(perf_counter() - started)
        if self._down:
            self._down = False
            logger.info("the %s store answers again", self._store,
                        extra={"event": "store_up", "store": self._store})
        return result


class WeChatTimer:
    """Times and counts WeChat calls by endpoint, outcome and WeChat's errcode."""

    def __init__(self, metrics: PortMetrics) -> None:
        self._metrics = metrics
        self._ok: dict[str, tuple[Histogram, Counter]] = {}  # endpoint: latency, ok-count

    async def timed(self, label: str, call: Awaitable[T]) -> T:
        started = perf_counter()
        try:
            result = await call
        except WeChatFailure as failure:
            self._metrics.wechat_seconds.labels(label).observe(perf_counter() - started)
            self._metrics.wechat_calls.labels(
                label, wechat_outcome(failure), wechat_errcode(failure)
            ).inc()
            raise
        children = self._ok.get(label)
        if children is None:
            children = self._ok[label] = (
                self._metrics.wechat_seconds.labels(label),
                self._metrics.wechat_calls.labels(label, "ok", "0"),
            )
        latency, count = children
        latency.observe(perf_counter() - started)
        count.inc()
        return result


class AccessTokenRefreshes:
    """Counts ``stable_token`` fetches by outcome and logs each as ``access_token_refresh``."""

    def __init__(self, metrics: PortMetrics) -> None:
        self._count = metrics.access_token_refreshes

    def ok(self, result: object) -> None:
        self._count.labels("ok").inc()
        expires_in = int(result.expires_in) if isinstance(result, IssuedToken) else None
        logger.info("fetched a new access token", extra={
            "event": "access_token_refresh", "outcome": "ok", "expires_in": expires_in
        })

    def failed(self, failure: Exception) -> None:
        if isinstance(failure, WeChatFailure):
            self._count.labels(failure.code).inc()
            logger.warning("fetching the access token failed",
                           extra={"event": "access_token_refresh", "outcome": failure.code})
