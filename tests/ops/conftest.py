"""The app on in-memory fakes, served on loopback; the service as a process."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from adapters.memory import InMemoryUserRepository, InMemoryWeChatGateway
from tests.e2e.conftest import ROOT, RunningService, free_port
from tests.e2e.conftest import _wait_healthy as wait_healthy
from tests.fakes import FakeClock
from tests.serving import make_container, serve

ENV = {"LOGIN_RATE_PER_MINUTE": "0", "ADMIN_TOKEN": "admin-token-0123456789"}


@dataclass
class FakedService:
    url: str
    container: Any
    wechat: InMemoryWeChatGateway
    users: InMemoryUserRepository


@pytest.fixture
async def faked_service(clock: FakeClock) -> AsyncIterator[FakedService]:
    """The app with WeChat, users and the clock faked (sessions in memory), as tests/http does."""
    container = make_container(ENV)
    wechat = InMemoryWeChatGateway()
    users = InMemoryUserRepository()
    container.wechat_gateway.override(providers.Object(wechat))
    container.user_repository.override(providers.Object(users))
    container.clock.override(providers.Object(clock))
    async with serve(container) as url:
        yield FakedService(url=url, container=container, wechat=wechat, users=users)


@asynccontextmanager
async def run_service(env: dict[str, str], log_path: Path) -> AsyncIterator[RunningService]:
    """``python -m entrypoints`` as ``tests.e2e.conftest.run_service`` runs it, but in a session
    of its own: Sanic's worker manager SIGKILLs its workers' whole process group when one fails
    to start, and that group would otherwise be pytest's."""
    port = free_port()
    full_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOST": "127.0.0.1",
                "PORT": str(port), "LOG_LEVEL": "DEBUG", **env}
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "entrypoints", cwd=ROOT, env=full_env,
            stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
    service = RunningService(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        await wait_healthy(service)
        yield service
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()


@pytest.fixture
def service_runner(tmp_path: Path) -> Callable[[dict[str, str]], Any]:
    """Start ``python -m entrypoints`` with this environment; logs in ``tmp_path``."""
    counter = itertools.count()

    def runner(env: dict[str, str]) -> Any:
        return run_service(env, tmp_path / f"service-{next(counter)}.log")

    return runner
