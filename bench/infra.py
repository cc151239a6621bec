"""The bench's processes: throw-away Redis and MariaDB (the tests' own fixtures' classes), the
WeChat simulator, the service and the floors; all on loopback, each stopped by its PID.

Everything waits with a deadline, and :class:`Processes` stops whatever it started, in reverse
order, even when the bench fails half-way.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from tests.fixtures.mariadb_server import MariaDBServer, _find, migrate_in_a_thread
from tests.fixtures.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60.0
DATABASE = "weapp"
DB_USER = "weapp"
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


BENCH_MARIADB = (
    "--skip-log-bin",
    "--innodb-buffer-pool-size=256M",
    "--innodb-log-file-size=256M",
    "--innodb-flush-log-at-trx-commit=2",
)
"""Sized like a small production server, not like the tests' throw-away one (32 MB pool, 8 MB
redo log): with 8 MB the audit trail's inserts made the server checkpoint constantly, and the
logins waited on it (docs/PERFORMANCE.md, "The audit trail's cost")."""
MAX_CONNECTIONS = 1000
"""Fifteen services keep up to DATABASE_POOL_SIZE (20) connections each, more than the 300 the
tests' server allows (set after its start: its own option comes last)."""

class BenchError(RuntimeError):
    """A step of the bench failed; the message says which, with the end of its log."""


def _stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command's name (state is ``[0]``)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process and of every process below it (``/proc``
    utime + stime): with WORKERS=2 the service is a main process and its workers."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError):
                parents.setdefault(int(_stat(entry.name)[1]), []).append(int(entry.name))
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = _stat(current)
        except OSError:
            if current == pid:
                raise
            continue  # a child that ended meanwhile
        total += (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        pending += parents.get(current, [])
    return total


def _tail(path: Path, limit: int = 2000) -> str:
    return path.read_text(errors="replace")[-limit:] if path.exists() else ""


class Processes:
    """The bench's child processes, each logging to its own file; ``stop_all()`` ends them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._started: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._servers: list[Callable[[], None]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = self.directory / f"{name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(  # noqa: S603 - our own argv
                argv,
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self._started.append((name, process))
        return process

    def log_tail(self, name: str) -> str:
        return _tail(self.directory / f"{name}.log")

    def python(
        self, name: str, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1"}
        return self.start(name, [sys.executable, *args], base | (env or {}))

    def redis(self, name: str = "redis") -> RedisServer:
        executable = shutil.which("redis-server")
        if executable is None:
            raise BenchError("redis-server is not installed (make bench installs it)")
        directory = self.directory / name
        directory.mkdir()
        server = RedisServer(executable, directory)
        self._servers.append(server.stop)
        server.start()
        return server

    def mariadb(self) -> MariaDBServer:
        """A migrated MariaDB with the ``weapp`` database and user, like the tests' fixture."""
        found = [_find("mariadbd", "mysqld"), _find("mariadb-install-db", "mysql_install_db")]
        if None in found:
            raise BenchError("mariadb-server is not installed (make bench installs it)")
        directory = self.directory / "mariadb"
        directory.mkdir()
        server = MariaDBServer(str(found[0]), str(found[1]), directory, sizing=BENCH_MARIADB)
        self._servers.append(server.remove)
        server.install()
        server.start()
        server.execute(f"SET GLOBAL max_connections = {MAX_CONNECTIONS}")
        server.execute(f"CREATE USER '{DB_USER}'@'127.0.0.1' IDENTIFIED BY '{server.password}'")
        server.create_database(DATABASE)
        migrate_in_a_thread(server.url)
        return server

    def stop_all(self) -> None:
        """SIGTERM each child by its PID (SIGKILL after 10 s), newest first; then the servers."""
        while self._started:
            _name, process = self._started.pop()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        while self._servers:
            self._servers.pop()()


def wait_until_serving(
    name: str,
    process: subprocess.Popen[bytes],
    processes: Processes,
    port: int,
    *,
    health_path: str | None = None,
) -> None:
    """Return once ``port`` accepts connections (and ``health_path`` answers 200, if given)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise BenchError(f"{name} exited at start:\n{processes.log_tail(name)}")
        if time.monotonic() > deadline:
            raise BenchError(
                f"{name} did not start in {STARTUP_SECONDS:.0f} s:\n{processes.log_tail(name)}"
            )
        if _answers(port, health_path):
            return
        time.sleep(0.05)


def _answers(port: int, health_path: str | None) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            pass
        if health_path is None:
            return True
        url = f"http://127.0.0.1:{port}{health_path}"
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


__all__ = ["BenchError", "Processes", "cpu_seconds", "free_port", "wait_until_serving"]
