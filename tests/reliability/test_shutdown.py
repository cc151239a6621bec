"""SIGTERM to ``python -m entrypoints`` while WeChat is slow: the logins in flight finish with 200,
new connections are refused, the pools are closed and the process exits within its grace."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.e2e.conftest import run_service
from tests.fixtures.mariadb_server import MariaDBServer
from tests.reliability.conftest import Simulated, login, service_env

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

GRACE_SECONDS = 10.0
"""``GRACEFUL_SHUTDOWN_TIMEOUT`` of the app."""


async def refuses_connections(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as fresh, fresh.get(f"{url}/healthz") as response:
            await response.read()
    except aiohttp.ClientConnectionError:
        return True
    return False


def aborted_connections(server: MariaDBServer) -> int:
    """Connections of the service that MariaDB saw dropped without a goodbye (``COM_QUIT``):
    a process that exits with its pool open leaves one line per pooled connection."""
    log = server._log.read_text(errors="replace")  # the fixture's server log
    return sum("Aborted connection" in line and "user: 'weapp'" in line
               for line in log.splitlines())


async def test_sigterm_finishes_the_logins_in_flight_refuses_new_ones_and_exits_in_time(
    tmp_path: Path, simulator: Simulated, redis_url: str, mariadb_url: str,
    mariadb_server: MariaDBServer,
) -> None:
    latency, logins = 2.0, 5
    simulator.sim.latency = latency
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url,
                      WECHAT_TIMEOUT_SECONDS="5")
    async with run_service(env, tmp_path / "service.log") as service, \
            aiohttp.ClientSession() as http:
        in_flight = [asyncio.create_task(login(http, service.url, f"sam{n}:1"))
                     for n in range(logins)]
        async with asyncio.timeout(5):
            while simulator.sim.in_flight < logins:  # every login is waiting on WeChat
                await asyncio.sleep(0.01)

        aborted_before = aborted_connections(mariadb_server)
        service.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        async with asyncio.timeout(latency / 2):  # before any login in flight could finish
            while not await refuses_connections(service.url):
                await asyncio.sleep(0.05)
        refused_after = time.monotonic() - signalled

        answers = await asyncio.gather(*in_flight)
        exit_code = await asyncio.wait_for(service.process.wait(), GRACE_SECONDS + 5)
        exited_after = time.monotonic() - signalled
        logs = service.logs()

    assert [answer.status for answer in answers] == [200] * logins
    assert exit_code == 0
    assert exited_after < GRACE_SECONDS
    await asyncio.sleep(0.2)  # MariaDB logs a dropped connection as soon as it sees it
    assert aborted_connections(mariadb_server) == aborted_before  # the pool was closed
    problems = [line for line in logs.splitlines()
                if line.startswith("{") and orjson.loads(line)["level"] in ("ERROR", "CRITICAL")]
    problems += [line for line in logs.splitlines()
                 if "Unclosed" in line or "was destroyed but it is pending" in line]
    assert problems == []
    print(f"shutdown: refused new connections after {refused_after:.2f} s, "
          f"{logins} logins in flight finished, exited after {exited_after:.2f} s")
