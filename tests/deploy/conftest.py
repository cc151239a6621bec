"""The deploy recipes' fixtures: real nginx, with exactly ``deploy/nginx.conf``, in front of
``python -m entrypoints``."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from tests.e2e.conftest import RunningService, free_port, run_service
from tests.fixtures.processes import wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
PLACEHOLDERS = ("${WEAPP_LOGIN_LISTEN}", "${WEAPP_LOGIN_UPSTREAM}", "${YOUR_API_UPSTREAM}")
ADMIN_TOKEN = "admin-token-0123456789abcdef-01234567"
LOGINS_PER_MINUTE = 2


def render(text: str, *, listen: str, upstream: str, your_api: str) -> str:
    """What the documented ``envsubst '${WEAPP_LOGIN_LISTEN} ${WEAPP_LOGIN_UPSTREAM}
    ${YOUR_API_UPSTREAM}'`` does."""
    assert set(re.findall(r"\$\{[A-Za-z_]+\}", text)) == set(PLACEHOLDERS)
    return (text.replace("${WEAPP_LOGIN_LISTEN}", listen)
            .replace("${WEAPP_LOGIN_UPSTREAM}", upstream)
            .replace("${YOUR_API_UPSTREAM}", your_api))


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                      else None)
    if found is None:
        pytest.fail("nginx is not installed: `make system-deps` installs it")
    return found


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def run_nginx(prefix: Path, upstream: str, your_api: str) -> Iterator[str]:
    """nginx as a child (``daemon off``), its prefix, temp dirs, pid file and logs in
    ``prefix``, with ``deploy/nginx.conf`` included as Debian's nginx.conf includes conf.d/.
    Yields its base URL; stopped by its PID."""
    port = free_port()
    (prefix / "conf.d").mkdir(parents=True)
    (prefix / "conf.d" / "weapp-login.conf").write_text(
        render(NGINX_CONF.read_text(), listen=f"127.0.0.1:{port}", upstream=upstream,
               your_api=your_api))
    user = "user root;\n" if os.geteuid() == 0 else ""  # the workers must reach tmp_path
    temp = "".join(f"    {kind}_temp_path {prefix / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\n"
        f"error_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n    access_log {prefix / 'access.log'};\n{temp}"
        f"    include {prefix / 'conf.d'}/*.conf;\n}}\n")
    log = prefix / "error.log"
    process = subprocess.Popen(
        [nginx_binary(), "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
         "-e", str(log), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
    )

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    wait_until_answering(process, lambda: _answers(port), name="nginx", log=log,
                         seconds=20, give_up=stop)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop()


@dataclass
class Proxied:
    nginx: str
    service: RunningService
    your_api: list[dict[str, str]]
    """The headers of every request that reached the protected upstream, in order (a header
    sent twice is its values joined by commas)."""


@asynccontextmanager
async def run_your_api(seen: list[dict[str, str]]) -> AsyncIterator[str]:
    """A tiny upstream standing for the team's own API: records each request's headers and
    answers 200 with them. Yields its ``host:port``."""

    async def echo(request: web.Request) -> web.Response:
        seen.append({name: ",".join(request.headers.getall(name)) for name in request.headers})
        return web.json_response({"path": request.path})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def wait_for_a_fresh_minute() -> None:
    """The login limit counts in fixed wall-clock minutes: start a test's logins early in one,
    so that all of them (well under a second) fall into the same window."""
    into = time.time() % 60
    if into > 45:
        time.sleep(60.5 - into)


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[Proxied]:
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/weapp.db",
        "LOGIN_RATE_PER_MINUTE": str(LOGINS_PER_MINUTE),
        "TRUSTED_PROXY_COUNT": "1",
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "LOG_LEVEL": "INFO",
    }
    seen: list[dict[str, str]] = []
    async with run_service(env, tmp_path / "service.log") as service, run_your_api(
        seen
    ) as your_api:
        upstream = service.url.removeprefix("http://")
        with run_nginx(tmp_path / "nginx", upstream, your_api) as nginx:
            yield Proxied(nginx=nginx, service=service, your_api=seen)
