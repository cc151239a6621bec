"""``python -m entrypoints`` as a process: JSON logs on stdout, and two workers sharing stores."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from entrypoints.logs import configure_logging
from tests.e2e.conftest import ROOT, RunningService, free_port

pytestmark = [pytest.mark.e2e]


def log_lines(service: RunningService) -> list[dict[str, Any]]:
    """Every line of the service's output, each of which must be one JSON object."""
    lines = []
    for raw in service.logs().splitlines():
        if raw.strip():
            line = orjson.loads(raw)
            assert isinstance(line, dict), raw
            lines.append(line)
    return lines


def requests_by_id(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["request_id"]: line for line in lines if line.get("event") == "request"}


async def get(http: aiohttp.ClientSession, url: str, request_id: str, **kwargs: Any) -> int:
    async with http.get(url, headers={"X-Request-ID": request_id, **kwargs}) as reply:
        await reply.read()
        return reply.status


async def test_the_service_logs_one_json_line_per_request_and_per_notable_event(
    service_runner: Callable[[dict[str, str]], Any], tmp_path: Path
) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/weapp.db", "LOG_LEVEL": "INFO"}
    async with service_runner(env) as service, aiohttp.ClientSession() as http:
        assert await get(http, f"{service.url}/healthz", "log-health") == 200
        assert await get(http, f"{service.url}/no/such/thing", "log-missing") == 404
        async with http.post(f"{service.url}/api/v1/login", json={"code": "error-1"},
                             headers={"X-Request-ID": "log-login"}) as reply:
            assert reply.status == 502
        await asyncio.sleep(0.1)  # the response is sent before its line is written
    lines = log_lines(service)

    assert all(line["level"] in ("DEBUG", "INFO", "WARNING", "ERROR") for line in lines)
    assert all(line.get("event") or line.get("message") for line in lines)
    assert not [line for line in lines if line["level"] == "DEBUG"]
    events = {line.get("event") for line in lines}
    assert {"service_start", "wechat_simulator", "migrations_applied", "worker_started"} <= events
    assert any("simulator" in line["message"] for line in lines
               if line.get("event") == "wechat_simulator")

    requests = requests_by_id(lines)
    health = requests["log-health"]
    assert (health["method"], health["route"], health["status"]) == ("GET", "/healthz", 200)
    assert isinstance(health["duration_ms"], float)
    assert health["level"] == "INFO"
    assert requests["log-missing"]["route"] is None  # no raw path: it could hold anything
    assert "/no/such/thing" not in service.logs()
    login = requests["log-login"]
    assert (login["route"], login["status"]) == ("/api/v1/login", 502)
    inside = [line for line in lines if line.get("request_id") == "log-login"
              and line.get("event") != "request"]
    assert inside, "lines logged while serving a request carry its request_id"


def test_log_level_drops_lines_below_it(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("WARNING")
        logging.getLogger("weapp_login.access").info("a request", extra={"event": "request"})
        logging.getLogger("weapp_login").warning("a store is down", extra={"event": "store_down"})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    lines = [orjson.loads(raw) for raw in capsys.readouterr().out.splitlines()]
    assert [(line["level"], line["event"]) for line in lines] == [("WARNING", "store_down")]


async def test_the_in_memory_session_store_refuses_two_workers_at_start() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "entrypoints", cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "WORKERS": "2"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 2
    assert stdout == b""
    [line] = stderr.decode().strip().splitlines()
    assert line.startswith("configuration error: WORKERS: ")
    assert "in-memory session store" in line
    assert "REDIS_URL" in line


@pytest.mark.integration
async def test_two_workers_share_tokens_and_sum_their_metrics_on_the_metrics_port(
    service_runner: Callable[[dict[str, str]], Any],
    redis_url: str,
    mariadb_url: str,
    wechat_simulator: Any,
) -> None:
    env = {
        "WORKERS": "2", "LOG_LEVEL": "INFO", "REDIS_URL": redis_url, "DATABASE_URL": mariadb_url,
        "WECHAT_APPID": "wx-test-app", "WECHAT_SECRET": "test-secret",
        "WECHAT_API_BASE": wechat_simulator.base_url, "LOGIN_RATE_PER_MINUTE": "0",
        "METRICS_PORT": str(free_port()),
    }
    async with service_runner(env) as service:
        async with aiohttp.ClientSession() as http, http.post(
            f"{service.url}/api/v1/login", json={"code": "alice:1"},
            headers={"X-Request-ID": "workers-login"},
        ) as reply:
            assert reply.status == 200
            token = (await reply.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}
        statuses: list[int] = []
        pids: set[int] = set()
        # A fresh connection per request, until both workers have answered one.
        while len(pids) < 2 and len(statuses) < 200:
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True)
            ) as http:
                statuses += await asyncio.gather(*(
                    get(http, f"{service.url}/api/v1/me", f"workers-me-{len(statuses) + n}",
                        **auth) for n in range(10)
                ))
            await asyncio.sleep(0.05)
            requests = requests_by_id(log_lines(service))
            pids = {line["pid"] for rid, line in requests.items() if rid.startswith("workers-me")}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{env['METRICS_PORT']}/metrics") as reply:
                metrics = await reply.text()
            async with http.get(f"{service.url}/metrics") as reply:
                assert reply.status == 404  # METRICS_PORT set: its listener alone serves them
        main_pid = service.process.pid
    lines = log_lines(service)
    requests = requests_by_id(lines)

    assert statuses == [200] * len(statuses)
    assert len(pids) == 2, "both workers answered, each accepting the token"
    assert requests["workers-login"]["pid"] in pids
    started = [line["pid"] for line in lines if line.get("event") == "worker_started"]
    assert sorted(started) == sorted(pids)  # each worker opened its resources once
    assert main_pid not in pids
    migrated = [line["pid"] for line in lines if line.get("event") == "migrations_applied"]
    assert migrated == [main_pid]  # once, before the workers started
    served = sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "weapp_http_requests_total"
        and sample.labels == {"method": "GET", "route": "/api/v1/me", "status": "200"}
    )
    assert served == len(statuses)  # the two workers' counts, summed
    names = {sample.name for family in text_string_to_metric_families(metrics)
             for sample in family.samples}
    assert {"process_cpu_seconds_total", "weapp_login_build_info"} <= names
