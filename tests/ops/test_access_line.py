"""The request's line, written without ``logging``: the same line as through it, written at once
written whole (never mixed with another process's), none lost at a clean stop."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from entrypoints import logs
from entrypoints.logs import (
    AccessLine,
    JsonFormatter,
    RequestIdFilter,
    StdoutLines,
)
from entrypoints.redaction import RedactingFilter
from tests.e2e.conftest import ROOT
from tests.ops.conftest import ENV
from tests.serving import make_container, serve

SECRET = "configured-secret-0123456789"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")


class Writes(io.StringIO):
    """A stream that records each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def through_logging(redactor: RedactingFilter, *args: Any) -> dict[str, Any]:
    """The line as ``logging`` wrote it before: the JSON formatter and both filters."""
    method, route, status, seconds, rid = args
    output = io.StringIO()
    handler = logging.StreamHandler(output)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(redactor)
    logger = logging.getLogger("weapp_login.access")
    saved = logger.handlers[:], logger.propagate, logger.level
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    try:
        logger.info("%s %s %d", method, route, status, extra={
            "event": "request", "request_id": rid, "method": method, "route": route,
            "status": status, "duration_ms": round(seconds * 1000, 3)})
    finally:
        logger.handlers[:], logger.propagate, level = saved
        logger.setLevel(level)
    line: dict[str, Any] = orjson.loads(output.getvalue())
    return line


@pytest.mark.parametrize("args", [
    ("GET", "/api/v1/me", 200, 0.0012345, "0123456789abcdef0123456789abcdef"),
    ("POST", "/api/v1/login", 429, 0.25, "client-id.1"),
    ("GET", None, 404, 0.0001, None),
    # What a client chose, masked alike: a method of its own, an id shaped like a token or
    # holding a configured secret.
    ("QWERTYuiop1234567890ASDFGHjkl", None, 405, 0.001, "AbCdEfGhIjKlMnOpQrStUvWxYz012345"),
    ("PATCH", "/api/v1/me/session-key", 503, 1.5, f"x.{SECRET}.y"),
])
def test_the_line_is_the_one_logging_wrote(args: tuple[Any, ...]) -> None:
    redactor = RedactingFilter([SECRET])
    stream = io.StringIO()
    lines = StdoutLines()
    lines.stream = stream
    saved = logs.STDOUT
    logs.STDOUT = lines
    try:
        AccessLine(redactor)(*args)
    finally:
        logs.STDOUT = saved
    raw = stream.getvalue()
    assert raw.endswith("\n")
    assert raw.count("\n") == 1
    fast = orjson.loads(raw)
    slow = through_logging(redactor, *args)
    assert TIME.fullmatch(fast.pop("time"))
    slow.pop("time")
    assert list(fast.items()) == list(slow.items())  # the same fields, in the same order
    assert SECRET not in raw


def line(n: int, size: int = 100) -> bytes:
    return orjson.dumps({"n": n, "pad": "x" * size}) + b"\n"


async def test_each_line_is_one_write_at_once_whole_in_order() -> None:
    """On the event loop too: nothing is kept for later (a process killed outright loses no
    line it wrote), and a line longer than a pipe's atomic size is still one write."""
    stream = Writes()
    lines = StdoutLines()
    lines.stream = stream
    sent = [line(1), line(2, size=5_000), b'{"level":"WARNING"}\n', line(3)]
    for raw in sent:
        lines.write(raw)
    assert stream.writes == [raw.decode() for raw in sent]


async def test_the_app_has_written_every_line_when_it_stops(
    json_logs: Callable[[str], io.StringIO],
) -> None:
    output = json_logs("INFO")
    container = make_container(ENV)
    async with serve(container) as url, aiohttp.ClientSession() as http, http.get(
        f"{url}/healthz", headers={"X-Request-ID": "last-one"}
    ) as reply:
        assert reply.status == 200
    # Stopped: every line written (each at once, nothing kept for later).
    assert [orjson.loads(raw).get("request_id") for raw in output.getvalue().splitlines()
            if "last-one" in raw] == ["last-one"]


async def test_every_request_has_its_line_even_when_stopped_at_once(
    service_runner: Callable[[dict[str, str]], Any], tmp_path: Path
) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/weapp.db", "LOG_LEVEL": "INFO"}
    ids = [f"stop-{n}" for n in range(50)]
    async with service_runner(env) as service, aiohttp.ClientSession() as http:
        for rid in ids:
            async with http.get(f"{service.url}/healthz", headers={"X-Request-ID": rid}) as reply:
                assert reply.status == 200
        # Stopped (SIGTERM) right after the last answer.
    lines = [orjson.loads(raw) for raw in service.logs().splitlines() if raw.strip()]
    requests = [entry["request_id"] for entry in lines if entry.get("event") == "request"
                and entry["request_id"].startswith("stop-")]
    assert sorted(requests) == sorted(ids)  # each once, none lost


WRITER = textwrap.dedent("""
    import sys
    import orjson
    from entrypoints.logs import STDOUT
    me = sys.argv[1]
    for n in range(int(sys.argv[2])):
        STDOUT.write(orjson.dumps({"who": me, "n": n, "pad": "y" * (n % 700)}) + b"\\n")
""")


@pytest.mark.parametrize("attempt", [1, 2, 3])  # mixing is likely, not certain, without
def test_two_processes_on_one_pipe_never_mix_their_lines(attempt: int) -> None:
    """As two workers write to the one stdout they inherit: each write holds whole lines and
    fits the size a pipe never interleaves."""
    read, write = os.pipe()
    count = 10000
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, who, str(count)], cwd=ROOT, stdout=write,
            env={"PATH": os.environ.get("PATH", "")},
        )
        for who in ("a", "b")
    ]
    os.close(write)
    chunks = []
    while chunk := os.read(read, 512):  # a slow reader: writers wait on a full pipe together
        chunks.append(chunk)
    os.close(read)
    output = b"".join(chunks)
    assert [writer.wait(30) for writer in writers] == [0, 0]
    seen: dict[str, list[int]] = {"a": [], "b": []}
    mixed = 0
    for raw in output.splitlines():
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            mixed += 1
            continue
        seen[entry["who"]].append(entry["n"])
    assert mixed == 0
    assert seen["a"] == list(range(count))
    assert seen["b"] == list(range(count))


async def test_the_service_logging_writes_request_lines_and_others_in_order(
    json_logs: Callable[[str], io.StringIO],
) -> None:
    output = json_logs("INFO")
    logs.access_line("GET", "/healthz", 200, 0.001, "r1")
    logging.getLogger("weapp_login").warning("after", extra={"event": "store_down"})
    events = [orjson.loads(raw).get("event") for raw in output.getvalue().splitlines()]
    assert events == ["request", "store_down"]


async def test_a_request_its_client_gave_up_on_is_logged_as_499_not_500(
    faked_service: Any, json_logs: Callable[[str], io.StringIO]
) -> None:
    """A client that hangs up mid-login (a load generator stopping, a phone losing signal) is
    not a server error: its line says 499 and nothing is logged as an error."""
    output = json_logs("INFO")
    faked_service.wechat.delay = 2.0  # the platform still thinking when the client leaves
    host, port = faked_service.url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    body = b'{"code": "code-of-a-client-who-leaves"}'
    writer.write(
        b"POST /api/v1/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"X-Request-ID: hung-up\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await writer.wait_closed()
    line = None
    for _ in range(50):
        await asyncio.sleep(0.1)
        lines = [orjson.loads(raw) for raw in output.getvalue().splitlines() if raw.strip()]
        line = next((e for e in lines if e.get("request_id") == "hung-up"
                     and e.get("event") == "request"), None)
        if line is not None:
            break
    assert line is not None, output.getvalue()
    assert line["status"] == 499
    assert [e for e in lines if e.get("level") == "ERROR"] == []
