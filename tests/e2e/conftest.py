"""``python -m entrypoints`` as a real process, configured through its environment."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningService:
    url: str
    process: asyncio.subprocess.Process
    log_path: Path

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@asynccontextmanager
async def run_service(env: dict[str, str], log_path: Path) -> AsyncIterator[RunningService]:
    """``python -m entrypoints`` with ``env``, in a process session of its own: Sanic's worker
    manager SIGKILLs its workers' whole process group when one fails to start, and that group
    would otherwise be pytest's. Stopped with SIGTERM; its group killed if it hangs. ``PORT``
    in ``env`` keeps the address across restarts; else a free port."""
    port = int(env.get("PORT") or free_port())
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "DEBUG",
        **env,
    }
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "entrypoints", cwd=ROOT, env=full_env,
            stdout=log, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    service = RunningService(url=url, process=process, log_path=log_path)
    try:
        await _wait_healthy(service)
        yield service
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()


async def _wait_healthy(service: RunningService) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if service.process.returncode is not None:
                raise RuntimeError(f"the service exited early:\n{service.logs()}")
            try:
                async with http.get(f"{service.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the service did not become healthy:\n{service.logs()}")


@pytest.fixture
def service_runner(tmp_path: Path) -> Callable[[dict[str, str]], Any]:
    """Start ``python -m entrypoints`` with this environment; logs in ``tmp_path``."""
    counter = itertools.count()

    def runner(env: dict[str, str]) -> Any:
        return run_service(env, tmp_path / f"service-{next(counter)}.log")

    return runner
