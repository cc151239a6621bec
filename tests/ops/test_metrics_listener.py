"""Where ``/metrics`` is served: its own listener with ``METRICS_PORT``, never production's main
port; and what it holds beyond the service's own series (process, platform, build info)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from entrypoints.metrics_listener import MetricsListener
from entrypoints.version import VERSION
from settings import ConfigError, Settings
from tests.e2e.conftest import ROOT, free_port
from tests.ops.conftest import FakedService
from tests.serving import make_container, serve

PRODUCTION = {"APP_ENV": "production", "WECHAT_APPID": "wx-test-app",
              "WECHAT_SECRET": "test-secret-0123456789abcdef",
              "SESSION_SECRET": "test-session-secret-0123456789abcdef"}


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def has_build_info(text: str) -> bool:
    info = families(text).get("weapp_login_build_info")
    return info is not None and [(s.labels, s.value) for s in info.samples] == [
        ({"version": VERSION}, 1.0)
    ]


async def status_and_body(http: aiohttp.ClientSession, method: str, url: str) -> tuple[int, Any]:
    async with http.request(method, url) as reply:
        if reply.content_type == "application/json":
            return reply.status, await reply.json()
        return reply.status, await reply.text()


def test_metrics_port_is_checked_at_start() -> None:
    assert Settings.from_env({}).as_config()["metrics_port"] is None
    assert Settings.from_env({"METRICS_PORT": "9100"}).as_config()["metrics_host"] == "127.0.0.1"
    for bad in ("0", "65536", "nine", "8000"):
        with pytest.raises(ConfigError, match=r"^METRICS_PORT:"):
            Settings.from_env({"METRICS_PORT": bad, "PORT": "8000"})


@pytest.mark.parametrize(
    "env", [PRODUCTION, {"METRICS_PORT": "9100"}, {**PRODUCTION, "METRICS_PORT": "9100"}],
    ids=["production", "development-with-metrics-port", "production-with-metrics-port"],
)
async def test_the_main_port_answers_404_for_metrics(env: dict[str, str], tmp_path: Path) -> None:
    container = make_container({**env, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/w.db"})
    async with serve(container) as url, aiohttp.ClientSession() as http:
        status, body = await status_and_body(http, "GET", f"{url}/metrics")
    assert status == 404
    assert body["error"]["code"] == "not_found"


async def test_the_scrape_has_process_platform_and_build_info_series(
    faked_service: FakedService,
) -> None:
    async with aiohttp.ClientSession() as http:
        status, text = await status_and_body(http, "GET", f"{faked_service.url}/metrics")
    assert status == 200
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= {
        sample.name for family in families(text).values() for sample in family.samples
    }
    assert has_build_info(text)


async def test_the_listener_serves_metrics_only() -> None:
    port = free_port()
    listener = MetricsListener("127.0.0.1", port, lambda: b"some_total 3.0\n")
    listener.start()
    try:
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            assert await status_and_body(http, "GET", f"{base}/metrics") == (
                200, "some_total 3.0\n"
            )
            status, body = await status_and_body(http, "GET", f"{base}/healthz")
            assert (status, body["error"]["code"]) == (404, "not_found")
            status, body = await status_and_body(http, "POST", f"{base}/metrics")
            assert (status, body["error"]["code"]) == (405, "method_not_allowed")
    finally:
        await asyncio.to_thread(listener.stop)


@pytest.mark.e2e
async def test_with_metrics_port_the_service_serves_metrics_there_only(
    service_runner: Callable[[dict[str, str]], Any], tmp_path: Path
) -> None:
    metrics_port = free_port()
    env = {**PRODUCTION, "WECHAT_API_BASE": "https://127.0.0.1:9", "LOG_LEVEL": "INFO",
           "METRICS_PORT": str(metrics_port),
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/weapp.db"}
    async with service_runner(env) as service, aiohttp.ClientSession() as http:
        await status_and_body(http, "GET", f"{service.url}/healthz")
        metrics = f"http://127.0.0.1:{metrics_port}"
        status, text = await status_and_body(http, "GET", f"{metrics}/metrics")
        main_status, _ = await status_and_body(http, "GET", f"{service.url}/metrics")
        other_status, _ = await status_and_body(http, "GET", f"{metrics}/healthz")
    assert status == 200
    samples = {s.name: s for f in families(text).values() for s in f.samples}
    assert "process_cpu_seconds_total" in samples
    assert has_build_info(text)
    assert samples["weapp_http_requests_total"].labels == {
        "method": "GET", "route": "/healthz", "status": "200"}  # the worker's own registry
    assert (main_status, other_status) == (404, 404)


@pytest.mark.e2e
async def test_a_metrics_port_in_use_stops_the_service_at_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "entrypoints", cwd=ROOT,
            env={"PATH": os.environ.get("PATH", ""), "PORT": str(free_port()),
                 "METRICS_PORT": str(port),
                 "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/weapp.db"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    [line] = stderr.decode().strip().splitlines()
    assert line.startswith(f"configuration error: METRICS_PORT: cannot listen on 127.0.0.1:{port}")
