"""Driving load: wrk with the Lua scripts of ``bench/lua``, and a small aiohttp client for the
set-up logins whose tokens the bench keeps.

A measurement is one wrk run against one process, with that process's CPU time read from
``/proc`` before and after, so the figures are the process's own, not the machine's.
"""

from __future__ import annotations

import asyncio
import json
import math
import resource
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson

from bench.infra import BenchError, cpu_seconds

LUA = Path(__file__).resolve().parent / "lua"
WRK_TIMEOUT_SECONDS = 5
XFF_POOL_SIZE = 65_536
"""Client addresses the login script cycles through as ``X-Forwarded-For`` (a proxy's view of
many clients) for the services that keep the login rate limit on."""
LOGIN_RATE_PER_MINUTE = 60
"""The service's default limit, per client address and app, in fixed one-minute windows."""


def address_pool(size: int) -> list[str]:
    """``size`` distinct client addresses, ``10.0.0.0`` upwards (at most 2**24)."""
    if not 0 < size <= 1 << 24:
        raise ValueError(f"an address pool of 1 to {1 << 24:,} addresses, not {size:,}")
    return [f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}" for n in range(size)]


@dataclass(frozen=True)
class Measurement:
    """One wrk run: throughput, latency, errors, and the server process's CPU per request."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_seconds: float
    connections: int
    load_cpu_seconds: float = float("nan")
    """wrk's own CPU time (user + system) over the run: the load generator shares the cores."""
    status_errors: int = 0
    """Of ``errors``, the answers with a status of 400 or more (a 429 among them); the rest are
    wrk's socket errors and timeouts."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        """CPU milliseconds per request, i.e. CPU seconds per 1,000 requests."""
        return 1000 * self.cpu_seconds / self.requests if self.requests else float("nan")


def combine(runs: list[Measurement]) -> Measurement:
    """Several runs of one process as one: counts, seconds and CPU summed; p50 and p99 are the
    runs' means (wrk gives no histogram to merge)."""
    if len(runs) == 1:
        return runs[0]
    return Measurement(
        requests=sum(run.requests for run in runs),
        seconds=sum(run.seconds for run in runs),
        p50_ms=sum(run.p50_ms for run in runs) / len(runs),
        p99_ms=sum(run.p99_ms for run in runs) / len(runs),
        errors=sum(run.errors for run in runs),
        cpu_seconds=sum(run.cpu_seconds for run in runs),
        connections=runs[0].connections,
        load_cpu_seconds=sum(run.load_cpu_seconds for run in runs),
        status_errors=sum(run.status_errors for run in runs),
    )


def wrk_command(
    url: str, script: str, args: Iterable[str], *, connections: int, seconds: float
) -> list[str]:
    return [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={WRK_TIMEOUT_SECONDS}s",
        "-s",
        str(LUA / script),
        url,
        "--",
        *args,
    ]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _parse(
    output: str, *, pid: int | None, cpu: float, connections: int, load_cpu: float = math.nan
) -> Measurement:
    for line in output.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            break
    else:
        raise BenchError(f"wrk printed no result:\n{output[-2000:]}")
    errors = sum(data[kind] for kind in ("connect", "read", "write", "status", "timeout"))
    return Measurement(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=errors,
        cpu_seconds=cpu if pid is not None else float("nan"),
        connections=connections,
        load_cpu_seconds=load_cpu,
        status_errors=data["status"],
    )


def measure(
    url: str, script: str, args: Iterable[str], *, pid: int, connections: int, seconds: float
) -> Measurement:
    """Run wrk for ``seconds`` against ``url`` and read the CPU time of ``pid`` (and of the
    processes below it) and of wrk around it."""
    command = wrk_command(url, script, args, connections=connections, seconds=seconds)
    wrk_before = _children_cpu()
    before = cpu_seconds(pid)
    try:
        done = subprocess.run(  # noqa: S603 - our own argv
            command,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish: {' '.join(command)}") from exc
    spent = cpu_seconds(pid) - before
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return _parse(done.stdout, pid=pid, cpu=spent, connections=connections,
                  load_cpu=_children_cpu() - wrk_before)


def measure_count(
    url: str,
    script: str,
    args: list[str],
    *,
    pid: int,
    connections: int,
    answers: int,
    max_seconds: float,
) -> Measurement:
    """Run wrk (``login.lua``: ``limit=``) until ``answers`` responses came back (the script
    says so), then stop it.

    Up to ``connections - 1`` requests are still in flight when wrk stops; callers that need
    the exact count take it from the server side.
    """
    command = wrk_command(
        url, script, [*args, f"limit={answers}"], connections=connections, seconds=max_seconds
    )
    before = cpu_seconds(pid)
    with subprocess.Popen(  # noqa: S603 - our own argv
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as wrk:
        assert wrk.stdout is not None
        lines = []
        for line in wrk.stdout:
            lines.append(line)
            if line.startswith("BENCH_LIMIT"):
                wrk.send_signal(signal.SIGINT)
                break
        try:
            rest, errors = wrk.communicate(timeout=max_seconds + 60)
        except subprocess.TimeoutExpired as exc:
            wrk.kill()
            raise BenchError("wrk did not stop") from exc
    spent = cpu_seconds(pid) - before
    if wrk.returncode != 0:
        raise BenchError(f"wrk failed ({wrk.returncode}):\n{errors[-2000:]}")
    return _parse("".join(lines) + rest, pid=pid, cpu=spent, connections=connections)


def app_of(user: int, apps: int) -> str:
    """The app a user of the bench logs in to when the service has ``apps`` apps (the same in
    ``bench/lua/login.lua``): ``a000`` .. ``a099``, by the user's number."""
    return f"a{user % apps:03d}"


async def _login_all(
    base_url: str, codes: list[str], concurrency: int, apps: int, addresses: list[str] | None
) -> tuple[list[str], list[str]]:
    tokens: list[str] = []
    failures: list[str] = []
    pending = iter(enumerate(codes))
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:

        async def worker() -> None:
            for n, code in pending:
                body: dict[str, str] = {"code": code}
                headers = {"Content-Type": "application/json"}
                if apps:
                    body["app"] = app_of(int(code[1:].partition(":")[0]), apps)
                if addresses:
                    headers["X-Forwarded-For"] = addresses[n % len(addresses)]
                async with http.post(
                    f"{base_url}/api/v1/login", data=orjson.dumps(body), headers=headers,
                ) as response:
                    if response.status == 200:
                        tokens.append(orjson.loads(await response.read())["token"])
                    else:
                        failures.append(f"{response.status} {(await response.read())[:300]!r}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return tokens, failures


@dataclass(frozen=True)
class Logins:
    """Set-up logins for one service: each code (``u<N>:…``) once; with ``apps``, each to its
    user's app (:func:`app_of`); with ``addresses``, each from the next of them
    (``X-Forwarded-For``)."""

    base_url: str
    codes: list[str]
    apps: int = 0
    addresses: list[str] | None = None


def login_all(base_url: str, codes: list[str], *, concurrency: int = 32) -> list[str]:
    """Log each code in (concurrently); the tokens. More than 1 % failures stop the bench."""
    return login_each([Logins(base_url, codes)], concurrency=concurrency)[0]


def login_each(jobs: list[Logins], *, concurrency: int = 32) -> list[list[str]]:
    """Every job's logins, the jobs side by side (each service on its own core when it can);
    each job's tokens. More than 1 % failures in a job stop the bench, naming its URL."""

    async def all_jobs() -> list[tuple[list[str], list[str]]]:
        return await asyncio.gather(*(
            _login_all(job.base_url, job.codes, concurrency, job.apps, job.addresses)
            for job in jobs))

    issued = []
    for job, (tokens, failures) in zip(jobs, asyncio.run(all_jobs()), strict=True):
        if len(failures) > len(job.codes) // 100:
            raise BenchError(
                f"{len(failures)} of {len(job.codes)} set-up logins at {job.base_url} failed: "
                f"{failures[0]}"
            )
        issued.append(tokens)
    return issued
