"""The HTTP side of the metrics (requests, logins) and ``GET /metrics``.

With several workers every process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(``python -m entrypoints`` creates that directory before the workers start), and a scrape of any
process sums them all; with one worker the container's registry is served as it is. Either way
the text also has the build-info series and the process series (CPU, memory, file descriptors:
of the process that answers the scrape) and the platform's (Python's version).

Where it is served: on ``METRICS_PORT`` alone when that is set (``metrics_listener.py``), else
on the main port in development only; production's main port answers 404.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sanic import HTTPResponse, Request

from entrypoints.version import VERSION

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
"""Decided when this module is imported, as prometheus_client decides how to store values."""

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created series double the text and say nothing here

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
UNMATCHED = "unmatched"
"""The route label of requests that matched no route: their raw paths stay out of the labels."""


class BuildInfo(Collector):
    """``weapp_login_build_info{version="..."} 1``: the version that serves, as a series."""

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "weapp_login_build_info", "The service's version; always 1.", labels=["version"]
        )
        info.add_metric([VERSION], 1)
        yield info


def add_runtime_series(registry: CollectorRegistry) -> None:
    """The build-info, process and platform series, read at each scrape (no stored values)."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(BuildInfo())


class HttpMetrics:
    """Requests by route and status, their latency, and logins by outcome."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        if not MULTIPROCESS:  # else added at each scrape, to the registry of every worker's files
            add_runtime_series(registry)
        self.requests = Counter(
            "weapp_http_requests", "HTTP requests by method, route pattern and status.",
            ["method", "route", "status"], registry=registry,
        )
        self.request_seconds = Histogram(
            "weapp_http_request_seconds", "Time to answer an HTTP request, by route pattern.",
            ["route"], registry=registry, buckets=REQUEST_BUCKETS,
        )
        self.logins = Counter(
            "weapp_logins", "Logins by outcome: ok, or the error code of the answer.",
            ["outcome"], registry=registry,
        )
        self.logins.labels("ok")
        # Labelled children by (method, route, status): ``labels()`` takes a lock and builds
        # a key at every call, and every request lands here. The keys are bounded like the
        # labels (routes are patterns, methods a fixed set, statuses few).
        self._children: dict[tuple[str, str | None, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str | None, status: int, seconds: float) -> None:
        key = (method if method in METHODS else "other", route, status)
        children = self._children.get(key)
        if children is None:
            label = route or UNMATCHED
            children = self._children[key] = (
                self.requests.labels(key[0], label, str(status)),
                self.request_seconds.labels(label),
            )
        count, latency = children
        count.inc()
        latency.observe(seconds)


class UnmeasuredHttp(HttpMetrics):
    """Requests not counted nor timed (``BENCH_DISABLE=metrics``, the benchmark's A/B only)."""

    def observe_request(self, method: str, route: str | None, status: int, seconds: float) -> None:
        pass


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text of ``registry``, or of every worker's files in multiprocess mode."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        add_runtime_series(registry)
    return generate_latest(registry)


def mark_worker_dead() -> None:
    """Let the multiprocess files of this worker's live gauges go (counters keep counting)."""
    if MULTIPROCESS:
        prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


async def metrics(request: Request) -> HTTPResponse:
    # In multiprocess mode this reads every worker's files: off the event loop.
    body = await asyncio.to_thread(exposition, request.app.ctx.metrics.registry)
    return HTTPResponse(body, content_type=CONTENT_TYPE_LATEST)
