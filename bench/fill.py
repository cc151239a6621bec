"""Sessions written straight into a Redis, for the bench's large-Redis runs.

Every login goes through the service's own session store (``SessionStore.record_login`` of the
store the container builds from the settings), so the sessions have whatever layout the store
has today. Login ``n`` is a session of user ``FIRST_USER_ID + n // SESSIONS_PER_USER``.

- :func:`fill_redis` (what the bench calls): ``parallel`` processes of
  ``python -m bench.fill --pipe``, each on its own range of logins, each piping the commands that
  the store sends (recorded by :class:`Recorder` in place of the Redis client) into
  ``redis-cli --pipe``: Redis runs them as fast as it can, without a round trip each.
- ``python -m bench.fill --redis-url URL --count N`` (no ``--pipe``): the same logins through a
  real client, 48 at once; about five times slower, and what :func:`fill_redis` falls back to
  when the store sends something the recorder cannot answer (it answers scripts only).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import inspect
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import IO, Any

from dependency_injector import providers
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from container import Container
from domain.accounts import network_of
from domain.entities import LoginSession, WeChatSession
from domain.ports import NewLogin, SessionStore
from settings import Settings

FIRST_USER_ID = 100_000_000
"""Far above the bench's own users (they come from the database's auto-increment)."""
SESSIONS_PER_USER = 2
TTL_SECONDS = 604_800
USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.50"


NETWORKS = [network_of(f"10.0.{n}.1") for n in range(256)]
"""The clients' networks the logins come from, in turn (as ``network_of`` keeps them)."""


def new_login(n: int, now: float) -> NewLogin:
    """Login ``n``: its user, a session of the default app with a week to live, a network."""
    user = FIRST_USER_ID + n // SESSIONS_PER_USER
    session_key = base64.b64encode(os.urandom(16)).decode()
    return NewLogin(
        session=LoginSession(
            user_id=user,
            user_created_at=now - 86_400,
            login_at=now,
            expires_at=now + TTL_SECONDS,
            max_expires_at=now + 30 * 86_400,
        ),
        session_key=session_key,
        code_hash=hashlib.sha256(b"fill:%d" % n).digest(),
        exchanged=WeChatSession(openid=f"o-fill-{user}", session_key=session_key),
        ip=NETWORKS[n & 255],
        user_agent=USER_AGENT,
    )


def resp(args: tuple[Any, ...]) -> bytes:
    """One command in the Redis protocol (what ``redis-cli --pipe`` reads)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if type(arg) is bytes else str(arg).encode()
        parts += (b"$%d\r\n" % len(data), data, b"\r\n")
    return b"".join(parts)


class Recorder(Redis):
    """A Redis client that writes each script it is asked to run to ``output`` instead of
    sending it, and answers 1 (a script's "done"). A script's first call answers NOSCRIPT, so
    the caller sends it whole (``EVAL``) once, which loads it where the commands are replayed.
    Any other command raises: its answer cannot be made up."""

    def __init__(self, output: IO[bytes]) -> None:
        super().__init__()
        self._output = output
        self._known: set[str] = set()

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        name = str(args[0]).upper()
        if name == "EVALSHA" and args[1] not in self._known:
            self._known.add(args[1])
            raise NoScriptError("NOSCRIPT (recorded: sent whole once)")
        if name not in ("EVAL", "EVALSHA"):
            raise NotImplementedError(f"the recorder answers scripts only, not {name}")
        self._output.write(resp(args))
        return 1


async def _resolve(provided: Any) -> Any:
    return await provided if inspect.isawaitable(provided) else provided


async def fill(redis_url: str, first: int, count: int, *, concurrency: int = 48,
               output: IO[bytes] | None = None) -> float:
    """Record logins ``first`` .. ``first + count - 1`` (with ``output``: write the commands
    there instead of sending them); the seconds it took."""
    settings = Settings.from_env({"REDIS_URL": redis_url, "APP_ENV": "development"})
    container = Container()
    container.config.from_dict(settings.as_config())
    if output is not None:
        container.redis_client.override(providers.Object(Recorder(output)))
        concurrency = 1
    store: SessionStore = await _resolve(container.session_store())
    started = time.monotonic()
    pending = iter(range(first, first + count))
    now = time.time()

    async def worker() -> None:
        for n in pending:
            if await store.record_login(new_login(n, now)) is None:
                raise RuntimeError(f"the store refused login {n}")

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        if output is None:
            await _resolve(container.shutdown_resources())
    return time.monotonic() - started


@dataclass(frozen=True)
class Filled:
    sessions: int
    seconds: float
    method: str


def _fill_command(redis_url: str, first: int, count: int, pipe: bool) -> list[str]:
    return [sys.executable, "-m", "bench.fill", "--redis-url", redis_url, "--first", str(first),
            "--count", str(count), *(["--pipe"] if pipe else [])]


def _ranges(count: int, parallel: int) -> list[tuple[int, int]]:
    """``count`` logins cut into ``parallel`` ranges (first, count) of nearly equal size."""
    size, extra = divmod(count, parallel)
    ranges, first = [], 0
    for n in range(parallel):
        length = size + (1 if n < extra else 0)
        if length:
            ranges.append((first, length))
        first += length
    return ranges


def fill_redis(redis_url: str, count: int, *, parallel: int = 2, timeout: float = 600) -> Filled:
    """``count`` sessions into the Redis at ``redis_url``, ``parallel`` processes at once."""
    started = time.monotonic()
    cli = shutil.which("redis-cli")
    if cli is not None:
        try:
            _run_all(
                [(_fill_command(redis_url, first, n, True), [cli, "-u", redis_url, "--pipe"])
                 for first, n in _ranges(count, parallel)],
                timeout,
            )
            return Filled(count, time.monotonic() - started,
                          f"{parallel} processes, the store's commands into redis-cli --pipe")
        except RuntimeError as error:
            print(f"  the recorded fill failed ({error}); through the client instead",
                  flush=True)
    started = time.monotonic()
    _run_all([(_fill_command(redis_url, first, n, False), None)
              for first, n in _ranges(count, parallel)], timeout)
    return Filled(count, time.monotonic() - started,
                  f"{parallel} processes of 48 concurrent record_login calls")


def _run_all(commands: list[tuple[list[str], list[str] | None]], timeout: float) -> None:
    """Each producer (piped into its consumer, if any), all at once; raise if any fails."""
    started: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for producer, consumer in commands:
            fill_process = subprocess.Popen(  # noqa: S603 - our own argv
                producer, stdout=subprocess.PIPE if consumer else None, stderr=subprocess.PIPE)
            started.append((fill_process, "fill"))
            if consumer:
                cli_process = subprocess.Popen(  # noqa: S603 - our own argv
                    consumer, stdin=fill_process.stdout, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT)
                assert fill_process.stdout is not None
                fill_process.stdout.close()  # redis-cli holds it now
                started.append((cli_process, "redis-cli"))
        deadline = time.monotonic() + timeout
        for process, name in started:
            out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
            text = (out or b"").decode(errors="replace") + (err or b"").decode(errors="replace")
            if process.returncode != 0:
                raise RuntimeError(f"{name} exited with {process.returncode}: {text[-500:]}")
            if name == "redis-cli" and "errors: 0," not in text:
                raise RuntimeError(f"redis-cli: {text.strip()[-500:]}")
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"the fill took more than {timeout:.0f} s") from exc
    finally:
        for process, _name in started:
            if process.poll() is None:
                process.kill()
                process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--pipe", action="store_true",
                        help="write the commands to stdout (for redis-cli --pipe), send nothing")
    args = parser.parse_args(argv)
    if args.pipe:
        with open(sys.stdout.fileno(), "wb", buffering=1 << 20, closefd=False) as output:
            asyncio.run(fill(args.redis_url, args.first, args.count, output=output))
        return
    seconds = asyncio.run(
        fill(args.redis_url, args.first, args.count, concurrency=args.concurrency))
    print(f"{args.count:,} logins recorded in {seconds:.1f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
