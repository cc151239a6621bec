"""``python -m bench``: the service as deployed against its floors, from nothing to the table.

1. Start on loopback: Redis (and a second one for the million sessions), MariaDB (throw-away),
   the WeChat simulators (0 and 50 ms added latency; one of 100 apps, ``bench/many_apps.py``),
   the floors (``bench/floors.py``: bare Sanic, ``/me``, login at 0 and 50 ms) and the services
   (``python -m entrypoints``, development mode, so migrated at start), each with its stdout
   (the JSON log lines) in a file of the bench's temporary directory, as a log collector would
   take it:

   - **as deployed** (``deployed0``, ``deployed50``; ``…_w2`` with WORKERS=2): the default
     LOG_LEVEL (INFO: one JSON access line per request), metrics on with their own listener
     (METRICS_PORT), the login rate limit at its default (60 a minute per client address)
     behind one trusted proxy (TRUSTED_PROXY_COUNT=1): wrk sends each login from the next of
     65,536 addresses (``X-Forwarded-For``), so no address nears the limit, and a 429 is an
     error like any other;
   - **bare** (``service0``, ``service50``, and ``servicejwt``, ``audited0``, ``quiet0`` for
     the JWT mode and the audit trail): 1 worker, LOG_LEVEL=WARNING (no access line), no rate
     limit: how the bench ran the service before;
   - **one feature off** (``no_access``: LOG_LEVEL=WARNING; ``no_metrics``, ``no_request_id``:
     BENCH_DISABLE; ``no_limit``: LOGIN_RATE_PER_MINUTE=0): as deployed but for that feature;
   - **at scale**, as deployed: ``big`` on a Redis holding 1,000,000 more sessions, written
     through the service's own session store (``bench/fill.py``), and ``apps100`` with an
     APPS_FILE of 100 WeChat apps.
2. Log 10,000 users in once through the service, the login floor, the JWT-mode service, ``big``
   and ``apps100`` (each user to one app): every later login is a returning user's; the tokens
   are kept for the ``/me`` runs. Then wait until the services' webhook senders have sent
   those new users' ``user.created`` messages: the first runs would measure the drain.
3. Redis bytes per added session: ``INFO memory`` before and after 30,000 more logins (or 45 s)
   of the users who already hold a session (a user's own key: the session store's contract test).
4. The groups of runs (``PLAN``), each in ABBA order over ``rounds`` (A B … B A): per path the
   floors, the bare service and the service as deployed with 1 and 2 workers; each feature's
   A/B (deployed, and deployed without it); forward auth, the JWT mode and the audit trail as
   before; the runs at scale against ``deployed0``. Each run is warmed up, then measured with
   wrk; the CPU time of the service's processes (the main one and its workers) and of wrk is
   read around each measured run.
5. Print the tables and the targets (``bench/report.py``) and write them, with the raw figures,
   under ``var/bench/``.

With ``--profile``, ``deployed0`` runs under ``bench/cpu_profile.py`` (a CPU-time sampler, idle
until asked) and is then sampled under the login (0 ms) and ``/me`` loads; the summaries
(``bench/profile.py``) are printed and saved beside the table, the samples as
``var/bench/profile-*.txt`` (collapsed stacks, as ``py-spy record --format raw`` writes them).
With ``--hold``, the stack only starts and stays up for wrk and ``py-spy top``/``record`` by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import signal
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from urllib.parse import unquote, urlsplit

import jwt
import pymysql
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from bench import fill, load, many_apps, profile, report
from bench.infra import ROOT, BenchError, Processes, free_port, wait_until_serving

APPID = "wx-bench-app"
SECRET = "bench-secret-0123456789"  # noqa: S105 - the local simulator's credential
CODE_CLAIM_MAX_TTL_MS = 6 * 60 * 1000
"""Keys expiring within this are the code-exchange claims (5 minutes), not sessions (days)."""
OUTPUT = ROOT / "var" / "bench"
SAMPLES = OUTPUT / "samples.txt"


@dataclasses.dataclass(frozen=True)
class Options:
    warmup: float = 3.0
    """Before a process's first run of a script; ``rewarm`` before its later ones."""
    rewarm: float = 1.0
    seconds: float = 5.0
    """Measured per run; each group runs ``rounds`` times per process."""
    rounds: int = 2
    """In ABBA order (A B … B A): a drift of the machine in between (this VM has slow phases of
    minutes) weighs on both sides alike."""
    users: int = 10_000
    memory_logins: int = 20_000
    memory_seconds: float = 30.0
    """The Redis memory phase stops at ``memory_logins`` or after this, whichever comes first."""
    login_connections: int = 32
    slow_login_connections: int = 64
    me_connections: int = 64
    offline_verifications: int = 20_000
    """Access tokens checked in-process with PyJWT, for the downstream cost."""
    sessions: int = 1_000_000
    """Written into the second Redis before its service's runs."""
    apps: int = 100
    """In the APPS_FILE of ``apps100``."""
    profile: bool = False
    hold: float = 0.0
    """With ``--hold``: start and fill the stack, describe it, keep it up this long, stop."""
    paths: tuple[str, ...] = ()
    """Only these groups (``PLAN``'s names, or ``deployed``, ``features``, ``scale``) and no
    Redis memory phase; empty: everything."""
    deadline: float = 1080.0
    """Everything stops (cleanly) after this."""

    @classmethod
    def quick(cls) -> Options:
        return cls(
            warmup=1.0,
            rewarm=0.0,
            seconds=2.0,
            rounds=1,
            users=500,
            memory_logins=2_000,
            memory_seconds=10.0,
            offline_verifications=2_000,
            sessions=20_000,
            deadline=420.0,
        )


@dataclasses.dataclass(frozen=True)
class Service:
    """How one service of the bench runs: its simulator, its environment, its Redis."""

    sim: str
    env: dict[str, str]
    deployed: bool = False
    """Behind a proxy (requests carry ``X-Forwarded-For``), metrics on their own port."""
    redis: str = "redis"
    apps: int = 0
    """With an APPS_FILE of this many WeChat apps (0: the one-app WECHAT_* shorthand)."""

    @property
    def rate_limited(self) -> bool:
        return self.env.get("LOGIN_RATE_PER_MINUTE") != "0"


BARE = {"WORKERS": "1", "LOGIN_RATE_PER_MINUTE": "0", "LOG_LEVEL": "WARNING"}
"""The service as the bench ran it before: no access line, no rate limit."""
DEPLOYED = {"WORKERS": "1", "TRUSTED_PROXY_COUNT": "1"}
"""The defaults otherwise: LOG_LEVEL=INFO, 60 logins a minute per client address; each
deployed service also gets a METRICS_PORT of its own."""
SERVICES = {
    "service0": Service("sim0", BARE),
    "service50": Service("sim50", BARE),
    "servicejwt": Service("sim0", BARE | {"TOKEN_FORMAT": "jwt", "REDIS_KEY_PREFIX": "wj:"}),
    # The audit trail's cost: two fresh services alike but for it (no events kept in quiet0).
    "audited0": Service("sim0", BARE),
    "quiet0": Service("sim0", BARE | {"AUDIT_RETENTION_DAYS": "0"}),
    "deployed0": Service("sim0", DEPLOYED, deployed=True),
    "deployed50": Service("sim50", DEPLOYED, deployed=True),
    "deployed0_w2": Service("sim0", DEPLOYED | {"WORKERS": "2"}, deployed=True),
    "deployed50_w2": Service("sim50", DEPLOYED | {"WORKERS": "2"}, deployed=True),
    "no_access": Service("sim0", DEPLOYED | {"LOG_LEVEL": "WARNING"}, deployed=True),
    "no_metrics": Service("sim0", DEPLOYED | {"BENCH_DISABLE": "metrics"}, deployed=True),
    "no_request_id": Service("sim0", DEPLOYED | {"BENCH_DISABLE": "request_id"}, deployed=True),
    "no_limit": Service("sim0", DEPLOYED | {"LOGIN_RATE_PER_MINUTE": "0"}, deployed=True),
    "big": Service("sim0", DEPLOYED, deployed=True, redis="big"),
    "apps100": Service("simapps", DEPLOYED, deployed=True, apps=100),
}
FLOORS = {"bare": ("bare", None), "floor_me": ("me", None), "floor0": ("login", "sim0"),
          "floor50": ("login", "sim50")}


@dataclasses.dataclass(frozen=True)
class Group:
    """Runs of several processes on one path, in ABBA order.

    ``kind``: "path" (a floor, then the service: the last target), "deployed" (floor(s), the
    bare service, the service as deployed with 1 and 2 workers), "feature" (as deployed with the
    feature, then without it), "scale" (as deployed, then the same at scale)."""

    name: str
    title: str
    script: str
    targets: tuple[str, ...]
    kind: str = "path"
    path: str | None = None
    label: str = ""
    where: str = ""
    """For "feature" and "scale": the path's short name in the tables."""
    slow: bool = False
    """Login against the simulator at 50 ms: more connections."""


PLAN = (
    Group("login0", "login, WeChat 0 ms: floor, bare, as deployed (1 and 2 workers)",
          "login.lua", ("floor0", "service0", "deployed0", "deployed0_w2"), "deployed"),
    Group("login50", "login, WeChat 50 ms: floor, bare, as deployed (1 and 2 workers)",
          "login.lua", ("floor50", "service50", "deployed50", "deployed50_w2"), "deployed",
          slow=True),
    Group("me", "GET /api/v1/me: floors, bare, as deployed (1 and 2 workers)", "me.lua",
          ("bare", "floor_me", "service0", "deployed0", "deployed0_w2"), "deployed"),
    Group("access_line", "the access line: as deployed, and LOG_LEVEL=WARNING", "me.lua",
          ("deployed0", "no_access"), "feature", label="access line", where="/me"),
    Group("metrics", "metrics: as deployed, and BENCH_DISABLE=metrics", "me.lua",
          ("deployed0", "no_metrics"), "feature", label="metrics", where="/me"),
    Group("request_id", "request ids: as deployed, and BENCH_DISABLE=request_id", "me.lua",
          ("deployed0", "no_request_id"), "feature", label="request id", where="/me"),
    Group("rate_limit", "the login rate limit: as deployed, and LOGIN_RATE_PER_MINUTE=0",
          "login.lua", ("deployed0", "no_limit"), "feature", label="rate limit",
          where="login 0 ms"),
    Group("auth", "GET /api/v1/auth (forward auth)", "me.lua", ("floor_me", "service0"),
          path="/api/v1/auth"),
    Group("login_jwt", "login, JWT mode, WeChat 0 ms", "login.lua", ("floor0", "servicejwt")),
    Group("me_jwt", "GET /api/v1/me, JWT mode", "me.lua", ("floor_me", "servicejwt")),
    Group("audit", "login, WeChat 0 ms, audit trail off and on", "login.lua",
          ("quiet0", "audited0")),
    Group("sessions_me", "GET /api/v1/me: small Redis, and {sessions:,} more sessions",
          "me.lua", ("deployed0", "big"), "scale", where="/me"),
    Group("sessions_login", "login, WeChat 0 ms: small Redis, and {sessions:,} more sessions",
          "login.lua", ("deployed0", "big"), "scale", where="login 0 ms"),
    Group("apps", "login, WeChat 0 ms: 1 app, and {apps} apps", "login.lua",
          ("deployed0", "apps100"), "scale", label="{apps} apps", where="login 0 ms"),
)
ALIASES = {
    "deployed": ("login0", "login50", "me"),
    "features": ("access_line", "metrics", "request_id", "rate_limit"),
    "scale": ("sessions_me", "sessions_login", "apps"),
}


def chosen_groups(paths: tuple[str, ...]) -> list[Group]:
    """The groups named (or all of them): unknown names stop the bench."""
    if not paths:
        return list(PLAN)
    names = {name for given in paths for name in ALIASES.get(given, (given,))}
    unknown = names - {group.name for group in PLAN}
    if unknown:
        known = ", ".join([group.name for group in PLAN] + list(ALIASES))
        raise BenchError(f"unknown --paths {', '.join(sorted(unknown))} (known: {known})")
    return [group for group in PLAN if group.name in names]


def roles_for(groups: list[Group]) -> set[str]:
    """The processes the groups need, with what the set-up needs: ``service0`` (the tokens,
    the Redis memory phase), ``floor0`` when a floor's tokens are needed."""
    roles = {target for group in groups for target in group.targets} | {"service0"}
    if roles & {"bare", "floor_me"}:
        roles.add("floor0")
    return roles


@dataclasses.dataclass
class Stack:
    """What the bench started, by role; ports and PIDs."""

    redis_url: str
    sim_urls: dict[str, str]
    services: dict[str, tuple[str, int]]  # role -> (base URL, pid)
    floors: dict[str, tuple[str, int]]
    big_redis_url: str | None = None
    addresses: str = ""
    """The file of client addresses (``X-Forwarded-For``) for the services behind a proxy."""
    log_files: dict[str, str] = dataclasses.field(default_factory=dict)
    database_url: str = ""


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.partition(":")[2].strip()
            break
    load1, load5, _ = os.getloadavg()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs ({model}), "
        f"Python {platform.python_version()}, load average {load1:.2f} / {load5:.2f}"
    )


def _service_env(role: str, spec: Service, *, port: int, sim_urls: dict[str, str],
                 redis_urls: dict[str, str], database_url: str, directory: Path,
                 apps: int) -> dict[str, str]:
    env = {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "APP_ENV": "development",
        "REDIS_URL": redis_urls[spec.redis],
        "DATABASE_URL": database_url,
        **spec.env,
    }
    if spec.sim == "simapps":
        env["APPS_FILE"] = str(directory / "apps.toml")
        (directory / "apps.toml").write_text(
            many_apps.apps_toml(apps, sim_urls["simapps"], SECRET))
    else:
        env |= {"WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET,
                "WECHAT_API_BASE": sim_urls[spec.sim]}
    if spec.deployed:
        env["METRICS_PORT"] = str(free_port())
    if env.get("TOKEN_FORMAT") == "jwt":
        signing_key = directory / f"jwt-signing-{role}.pem"
        signing_key.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        env["JWT_SIGNING_KEY_FILE"] = str(signing_key)
    return env


def start_stack(processes: Processes, options: Options, roles: set[str]) -> Stack:
    print(f"starting Redis, MariaDB, the simulators, {len(roles)} services and floors",
          flush=True)
    redis_urls = {"redis": processes.redis().url}
    if "big" in roles:
        redis_urls["big"] = processes.redis("redis-big").url
    mariadb = processes.mariadb()
    waits = []
    sims = {SERVICES[role].sim for role in roles if role in SERVICES}
    sims |= {FLOORS[role][1] for role in roles if role in FLOORS} - {None}
    sim_urls = {}
    for role, latency in (("sim0", "0"), ("sim50", "0.05"), ("simapps", "0")):
        if role not in sims:
            continue
        port = free_port()
        if role == "simapps":
            args = ["-m", "bench.many_apps", "--apps", str(options.apps), "--secret", SECRET]
        else:
            args = ["-m", "adapters.wechat.simulator", "--appid", APPID, "--secret", SECRET,
                    "--latency", latency]
        process = processes.python(role, *args, "--port", str(port))
        sim_urls[role] = f"http://127.0.0.1:{port}"
        waits.append((role, process, port, "/__sim/stats"))

    addresses = processes.directory / "addresses.txt"
    addresses.write_text("\n".join(load.address_pool(load.XFF_POOL_SIZE)) + "\n")
    services = {}
    for role, spec in SERVICES.items():
        if role not in roles:
            continue
        port = free_port()
        env = _service_env(role, spec, port=port, sim_urls=sim_urls, redis_urls=redis_urls,
                           database_url=mariadb.url, directory=processes.directory,
                           apps=options.apps)
        # Profiled, the service as deployed runs under the CPU sampler (idle until SIGUSR1).
        sampled = options.profile and role == "deployed0"
        wrapper = ["-m", "bench.cpu_profile", str(SAMPLES)] if sampled else []
        process = processes.python(role, *wrapper, "-m", "entrypoints", env=env)
        services[role] = (f"http://127.0.0.1:{port}", process.pid)
        waits.append((role, process, port, "/healthz"))

    floors = {}
    mysql_url = mariadb.url.replace("mysql+aiomysql://", "mysql://")
    for role, (kind, sim) in FLOORS.items():
        if role not in roles:
            continue
        port = free_port()
        args = ["-m", "bench.floors", kind, "--port", str(port), "--redis-url",
                redis_urls["redis"]]
        if sim is not None:
            args += ["--mysql-url", mysql_url, "--wechat-url", sim_urls[sim], "--appid", APPID,
                     "--secret", SECRET]
        process = processes.python(role, *args)
        floors[role] = (f"http://127.0.0.1:{port}", process.pid)
        waits.append((role, process, port, None))

    for role, process, port, health in waits:
        wait_until_serving(role, process, processes, port, health_path=health)
    return Stack(redis_urls["redis"], sim_urls, services, floors, redis_urls.get("big"),
                 str(addresses), {role: str(processes.directory / f"{role}.log")
                                  for role in services}, mariadb.url)


def _sim_calls(url: str) -> int:
    with urllib.request.urlopen(f"{url}/__sim/stats", timeout=5) as response:  # noqa: S310
        return int(json.load(response)["calls"])


def _used_memory(client: redis.Redis) -> int:
    """``used_memory`` without the clients' buffers."""
    info = client.info("memory")
    return (
        int(info["used_memory"])
        - int(info.get("mem_clients_normal", 0))
        - int(info.get("mem_clients_slaves", 0))
    )


def _scan(client: redis.Redis) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for key in client.scan_iter(count=1000):
        batch.append(key)
        if len(batch) == 1000:
            yield batch
            batch = []
    if batch:
        yield batch


_DROP_SHORT_LIVED = """
local found = redis.call('SCAN', ARGV[1], 'COUNT', ARGV[2])
local dropped = 0
for _, key in ipairs(found[2]) do
  local ttl = redis.call('PTTL', key)
  if ttl > 0 and ttl <= tonumber(ARGV[3]) then
    redis.call('UNLINK', key)
    dropped = dropped + 1
  end
end
return {found[1], dropped}
"""


def _drop_code_claims(client: redis.Redis) -> int:
    """Delete the keys that expire within minutes (the code-exchange claims), in Redis itself
    (a script per 5,000 keys scanned: a million keys take seconds, not a minute); how many."""
    script = client.register_script(_DROP_SHORT_LIVED)
    cursor: bytes | int = 0
    dropped = 0
    while True:
        cursor, count = script(args=[cursor, 5000, CODE_CLAIM_MAX_TTL_MS])
        dropped += int(count)
        if int(cursor) == 0:
            return dropped


def _family(key: bytes) -> str:
    """The key's family: the prefix up to its colon and the kind letter after it (``wl:u…``:
    users' sessions, ``wl:c…``: codes, ``wl:r…``: rate limits, ``wl:f…``: refresh tokens,
    ``wl:t…``/``wl:l…``: the access token and its lock), whatever ``REDIS_KEY_PREFIX`` is (up to
    8 characters before ``:``)."""
    head, colon, rest = key.partition(b":")
    kind = rest[:1] if rest[:1].isalpha() else b""
    family = head + colon + kind if colon and len(head) <= 8 else key[:4]
    return ascii(family.decode("latin-1"))[1:-1] + "…"


def _families(client: redis.Redis, sample: int = 300) -> tuple[Counter[str], dict[str, float]]:
    counts: Counter[str] = Counter()
    samples: dict[str, list[bytes]] = {}
    for keys in _scan(client):
        for key in keys:
            family = _family(key)
            counts[family] += 1
            if len(samples.setdefault(family, [])) < sample:
                samples[family].append(key)
    sizes = {}
    for family, keys in samples.items():
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.memory_usage(key, samples=0)
        found = [size for size in pipe.execute() if size]
        sizes[family] = sum(found) / len(found) if found else 0.0
    return counts, sizes


def measure_redis_memory(stack: Stack, options: Options, run_id: str) -> report.RedisMemory:
    """Bytes per session over ``memory_logins`` logins through the service (0 ms WeChat)."""
    url, pid = stack.services["service0"]
    print(
        f"Redis memory: {options.memory_logins:,} logins (at most {options.memory_seconds:.0f} s)",
        flush=True,
    )
    with redis.Redis.from_url(stack.redis_url, socket_timeout=30) as client:
        _drop_code_claims(client)
        before_counts, _ = _families(client, sample=0)
        before = _used_memory(client)
        calls_before = _sim_calls(stack.sim_urls["sim0"])
        load.measure_count(
            url,
            "login.lua",
            [f"run={run_id}", f"users={options.users}"],
            pid=pid,
            connections=options.login_connections,
            answers=options.memory_logins,
            max_seconds=options.memory_seconds,
        )
        time.sleep(1.0)  # the requests still in flight when wrk stopped
        logins = _sim_calls(stack.sim_urls["sim0"]) - calls_before
        with_claims = _used_memory(client)
        _drop_code_claims(client)
        after = _used_memory(client)
        after_counts, sizes = _families(client)
    families = {
        family: (count, count - before_counts[family], sizes.get(family, 0.0))
        for family, count in after_counts.items()
    }
    return report.RedisMemory(
        logins=logins,
        per_session=(after - before) / logins,
        per_login=(with_claims - before) / logins,
        families=families,
    )


@dataclasses.dataclass(frozen=True)
class LoginRun:
    """One wrk run of logins against a rate-limited service: when, from which address of the
    pool on, and how many logins (at most)."""

    started: float
    ended: float
    first: int
    logins: int


def busiest_address(runs: list[LoginRun], pool: int, window: float = 60.0) -> int:
    """The most logins one address of the pool can have made in one fixed window of the rate
    limit, every run counted whole in each window it touches (as if all its logins fell there):
    a run goes round the pool in order from ``first``."""
    windows: dict[int, list[int]] = {}
    for run in runs:
        laps, rest = divmod(run.logins, pool)
        for index in range(int(run.started // window), int(run.ended // window) + 1):
            counts = windows.setdefault(index, [0] * pool)
            if laps:
                counts[:] = [count + laps for count in counts]
            for n in range(run.first, run.first + rest):
                counts[n % pool] += 1
    return max((max(counts) for counts in windows.values()), default=0)


class Runner:
    """Warm-up then measure, one process at a time; wrk run ids never repeat a code."""

    def __init__(self, stack: Stack, options: Options, tokens: dict[str, Path]) -> None:
        self.stack = stack
        self.options = options
        self.tokens = tokens
        self.login_runs: list[LoginRun] = []
        self._runs = 0
        self._warm: set[tuple[str, str]] = set()

    def args(self, script: str, target: str, path: str | None = None) -> list[str]:
        spec = SERVICES.get(target)
        behind_proxy = spec is not None and spec.deployed
        if script == "me.lua":
            pool = {"bare": "floor", "floor_me": "floor", "servicejwt": "jwt", "big": "big"}
            args = [str(self.tokens[pool.get(target, "service")]), path or "/api/v1/me"]
            return [*args, self.stack.addresses] if behind_proxy else args
        self._runs += 1
        args = [f"run=r{self._runs}", f"users={self.options.users}"]
        if spec is not None and spec.apps:
            args.append(f"apps={spec.apps}")
        if behind_proxy:
            args += [f"xff={self.stack.addresses}", f"offset={self.first_address()}"]
        return args

    def first_address(self) -> int:
        """Where in the address pool this run starts: spread, so runs share few addresses."""
        return (self._runs * 7919) % load.XFF_POOL_SIZE

    def measure(self, target: str, script: str, connections: int, seconds: float,
                path: str | None = None) -> load.Measurement:
        """One wrk run (no warm-up); rate-limited logins are kept in ``login_runs``."""
        url, pid = self.stack.services.get(target) or self.stack.floors[target]
        args = self.args(script, target, path)
        started = time.time()
        measured = load.measure(url, script, args, pid=pid, connections=connections,
                                seconds=seconds)
        spec = SERVICES.get(target)
        if script == "login.lua" and spec is not None and spec.deployed and spec.rate_limited:
            self.login_runs.append(LoginRun(started, time.time(), self.first_address(),
                                            measured.requests + connections))
        return measured

    def run(
        self, target: str, script: str, connections: int, *, seconds: float | None = None,
        path: str | None = None,
    ) -> load.Measurement:
        options = self.options
        warmup = options.rewarm if (target, script) in self._warm else options.warmup
        self._warm.add((target, script))
        if warmup > 0:
            self.measure(target, script, connections, warmup, path)
        measured = self.measure(target, script, connections, seconds or options.seconds, path)
        print(
            f"  {target:<13} {path or script:<13} c={connections:<3} {measured.rps:>9,.0f}/s  "
            f"p50 {measured.p50_ms:6.1f} ms  p99 {measured.p99_ms:6.1f} ms  "
            f"errors {measured.errors} ({measured.status_errors} status)  "
            f"CPU {measured.cpu_ms_per_request:.3f} ms/req",
            flush=True,
        )
        return measured


def abba(targets: tuple[str, ...], rounds: int) -> list[str]:
    """The order of the runs: the targets, then reversed, and so on (A B C C B A A B C …)."""
    return [target for n in range(rounds)
            for target in (targets if n % 2 == 0 else tuple(reversed(targets)))]


def run_groups(
    runner: Runner, options: Options, groups: list[Group]
) -> tuple[dict[str, report.PathResult], dict[str, report.Comparison]]:
    """Each group's processes in ABBA order over ``options.rounds``; per path the runs of each
    process summed, per comparison the runs kept apart (pair ``i`` is run ``i`` of each)."""
    paths: dict[str, report.PathResult] = {}
    comparisons: dict[str, report.Comparison] = {}
    for group in groups:
        print(group.title.format(sessions=options.sessions, apps=options.apps), flush=True)
        connections = (options.me_connections if group.script == "me.lua" else
                       options.slow_login_connections if group.slow else
                       options.login_connections)
        runs: dict[str, list[load.Measurement]] = {target: [] for target in group.targets}
        for target in abba(group.targets, options.rounds):
            runs[target].append(runner.run(target, group.script, connections, path=group.path))
        if group.kind in ("feature", "scale"):
            on, off = (group.targets[0], group.targets[1]) if group.kind == "feature" else (
                group.targets[1], group.targets[0])
            label = (group.label or "{sessions:,} more sessions in Redis").format(
                sessions=options.sessions, apps=options.apps)
            comparisons[group.name] = report.Comparison(
                label, group.where, tuple(runs[on]), tuple(runs[off]), group.kind)
            continue
        combined = {target: load.combine(runs[target]) for target in group.targets}
        if group.kind == "deployed":
            *floors, plain, service, two = group.targets
            paths[group.name] = report.PathResult(
                group.name, combined[service], combined[floors[-1]],
                combined[floors[0]] if len(floors) == 2 else None, combined[plain],
                combined[two])
        else:
            *floors, service = group.targets
            paths[group.name] = report.PathResult(
                group.name, combined[service], combined[floors[-1]],
                combined[floors[0]] if len(floors) == 2 else None)
    return paths, comparisons


def offline_verification(jwt_url: str, token: str, count: int) -> report.OfflineCost:
    """What a downstream service spends checking one access token offline with PyJWT (as
    ``examples/downstream.py`` does), keys fetched once: CPU microseconds per verification."""
    client = jwt.PyJWKClient(f"{jwt_url}/.well-known/jwks.json", cache_keys=True, lifespan=300)
    key = client.get_signing_key_from_jwt(token)

    def verify() -> None:
        jwt.decode(token, key, algorithms=["EdDSA"], issuer="weapp-login",
                   audience="weapp-login")

    def full() -> None:  # the example's path: the key looked up by kid in the cache, then decode
        jwt.decode(token, client.get_signing_key_from_jwt(token), algorithms=["EdDSA"],
                   issuer="weapp-login", audience="weapp-login")

    results = []
    for call in (verify, full):
        call()
        started = time.process_time()
        for _ in range(count):
            call()
        results.append(1e6 * (time.process_time() - started) / count)
    return report.OfflineCost(count=count, decode_us=results[0], with_jwks_client_us=results[1])


def profile_service(runner: Runner, options: Options, directory: Path) -> str:
    """Sample the CPU of the service as deployed (``bench/cpu_profile.py``) under the login
    (0 ms) and ``/me`` loads; the summaries (``bench/profile.py``)."""
    _url, pid = runner.stack.services["deployed0"]
    summaries = []
    for name, script, connections in (
        ("login", "login.lua", options.login_connections),
        ("me", "me.lua", options.me_connections),
    ):
        print(f"profiling the service as deployed under {name}", flush=True)
        SAMPLES.unlink(missing_ok=True)
        runner.measure("deployed0", script, connections, options.warmup)
        os.kill(pid, signal.SIGUSR1)
        measured = runner.measure("deployed0", script, connections, options.seconds)
        os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while not SAMPLES.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # written in one go; let it finish
        if not SAMPLES.exists():
            raise BenchError(f"the profiler wrote nothing to {SAMPLES}")
        output = SAMPLES.rename(directory / f"profile-{name}.txt")
        summaries.append(
            f"== {name}: {measured.rps:,.0f}/s, {measured.cpu_ms_per_request:.3f} CPU-ms per "
            f"request while sampled ==\n{profile.summarise(output.read_text())}"
        )
    return "\n\n".join(summaries)


def hold(stack: Stack, tokens: dict[str, Path], seconds: float) -> None:
    """Keep the stack up for hand-driven wrk and py-spy runs; it is described in stack.json."""
    description = dataclasses.asdict(stack) | {
        "tokens": {role: str(path) for role, path in tokens.items()},
        "wrk": wrk_example(stack, tokens),
    }
    (OUTPUT / "stack.json").write_text(json.dumps(description, indent=2))
    print(
        json.dumps(description, indent=2),
        f"\nholding for {seconds:.0f} s (Ctrl-C ends)",
        flush=True,
    )
    with suppress(KeyboardInterrupt):
        time.sleep(seconds)


def wrk_example(stack: Stack, tokens: dict[str, Path]) -> list[str]:
    url = stack.services["service0"][0]
    examples = [
        load.wrk_command(url, "login.lua", ["run=by-hand", "users=10000"], connections=32,
                         seconds=10),
        load.wrk_command(url, "me.lua", [str(tokens["service"])], connections=64, seconds=10),
    ]
    if "deployed0" in stack.services:
        examples.append(load.wrk_command(
            stack.services["deployed0"][0], "login.lua",
            ["run=by-hand-deployed", "users=10000", f"xff={stack.addresses}"], connections=32,
            seconds=10))
    return [" ".join(command) for command in examples]


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Stop the bench (cleanly: the caller's ``finally`` runs) after ``seconds`` or on SIGTERM."""

    def expire(signum: int, _frame: FrameType | None) -> None:
        raise BenchError(f"the bench stopped: {signal.Signals(signum).name}")

    previous = {sig: signal.signal(sig, expire) for sig in (signal.SIGALRM, signal.SIGTERM)}
    signal.alarm(round(seconds))
    try:
        yield
    finally:
        signal.alarm(0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def fill_big_redis(stack: Stack, options: Options) -> str:
    """The million sessions, written through the service's session store; the code claims that
    each write also leaves (5 minutes) are then deleted, as they would have expired."""
    assert stack.big_redis_url is not None
    print(f"writing {options.sessions:,} sessions into the second Redis", flush=True)
    filled = fill.fill_redis(stack.big_redis_url, options.sessions)
    started = time.monotonic()
    with redis.Redis.from_url(stack.big_redis_url, socket_timeout=60) as client:
        dropped = _drop_code_claims(client)
        keys, used = client.dbsize(), _used_memory(client)
    line = (f"Redis at scale: {filled.sessions:,} sessions written in {filled.seconds:.0f} s "
            f"({filled.sessions / filled.seconds:,.0f}/s; {filled.method}); {dropped:,} code "
            f"claims deleted in {time.monotonic() - started:.0f} s; {keys:,} keys, "
            f"{used / 2**20:,.0f} MiB")
    print(f"  {line}", flush=True)
    return line


def set_up_logins(stack: Stack, options: Options, processes: Processes) -> dict[str, Path]:
    """Each user logs in once where a later run logs them in again (so every login of the runs
    is a returning user's), on every service at once; the tokens of those whose ``/me`` is
    measured."""
    print(f"logging {options.users:,} users in once where needed", flush=True)
    addresses = Path(stack.addresses).read_text().split()
    jobs: dict[str, tuple[str, load.Logins]] = {}
    for role, target, marker in (("service", "service0", "pre"), ("floor", "floor0", "fpre"),
                                 ("jwt", "servicejwt", "jpre"), ("big", "big", "bpre"),
                                 ("apps", "apps100", "apre")):
        found = stack.services.get(target) or stack.floors.get(target)
        if found is None:
            continue
        spec = SERVICES.get(target)
        jobs[role] = (target, load.Logins(
            found[0], [f"u{n}:{marker}" for n in range(options.users)],
            apps=spec.apps if spec else 0,
            addresses=addresses if spec and spec.deployed else None))
    try:
        issued = load.login_each([job for _target, job in jobs.values()])
    except BenchError as error:
        failed = next((target for target, job in jobs.values() if job.base_url in str(error)),
                      None)
        tail = processes.log_tail(failed) if failed else ""
        raise BenchError(f"{failed}: {error}\n{tail}") from None
    tokens = {}
    for role, tokens_of_role in zip(jobs, issued, strict=True):
        tokens[role] = processes.directory / f"tokens-{role}.txt"
        tokens[role].write_text("\n".join(tokens_of_role) + "\n")
    return tokens


def wait_for_the_outbox(stack: Stack, *, limit: float = 300.0) -> str:
    """Wait until the services' webhook senders have sent the set-up's messages (each new
    user's ``user.created``, tens of thousands): draining them loads MariaDB and every service
    for a minute, and the first runs measured that (their logins cost up to 1.5× the later
    runs', the floor's too). A deployment in service has no such backlog."""
    url = urlsplit(stack.database_url)
    started = time.monotonic()
    first = None
    with closing(pymysql.connect(
        host=url.hostname, port=url.port, user=unquote(url.username or ""),
        password=unquote(url.password or ""), database=url.path.lstrip("/"), autocommit=True,
    )) as conn:
        while True:
            with conn.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM webhook_outbox")
                (left,) = cursor.fetchone()
            first = left if first is None else first
            if left == 0:
                break
            if time.monotonic() - started > limit:
                raise BenchError(f"the webhook outbox still holds {left:,} messages after "
                                 f"{limit:.0f} s")
            time.sleep(0.5)
    line = (f"webhook outbox: {first:,} messages of the set-up's new users sent in "
            f"{time.monotonic() - started:.0f} s, before the runs")
    print(f"  {line}", flush=True)
    return line


def bench(options: Options) -> str:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (make bench installs it: apt-get install wrk)")
    groups = chosen_groups(options.paths)
    roles = roles_for(groups)
    if not options.paths:
        roles.add("servicejwt")  # the downstream's offline check needs its tokens
    if options.profile:
        roles.add("deployed0")
    header = f"weapp-login bench: {machine()}"
    print(header, flush=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="weapp-bench-") as temp, deadline(options.deadline):
        processes = Processes(Path(temp))
        try:
            stack = start_stack(processes, options, roles)
            notes.append(f"started in {time.monotonic() - started:.0f} s")
            if stack.big_redis_url is not None:
                notes.append(fill_big_redis(stack, options))
            tokens = set_up_logins(stack, options, processes)
            notes.append(wait_for_the_outbox(stack))
            if options.hold > 0:
                hold(stack, tokens, options.hold)
                return "held"
            memory = None if options.paths else measure_redis_memory(stack, options, "mem")
            runner = Runner(stack, options, tokens)
            paths, comparisons = run_groups(runner, options, groups)
            offline = None
            if "jwt" in tokens:
                jwt_token = tokens["jwt"].read_text().split("\n", 1)[0]
                offline = offline_verification(stack.services["servicejwt"][0], jwt_token,
                                               options.offline_verifications)
            summary = profile_service(runner, options, OUTPUT) if options.profile else ""
            busiest = (busiest_address(runner.login_runs, load.XFF_POOL_SIZE)
                       if runner.login_runs else None)
            logged = {role: Path(path).stat().st_size for role, path in stack.log_files.items()}
            problems = log_problems(stack.log_files)
        finally:
            processes.stop_all()
    notes += log_notes(logged)
    (OUTPUT / "problems.txt").write_text("\n".join(problems) + "\n")
    if problems:
        notes.append(f"the services logged warnings, errors or 4xx/5xx answers: "
                     f"{OUTPUT / 'problems.txt'} ({len(problems)} lines)")
    method = (
        f"wrk -t1 on the same machine; {options.rounds} round(s) per process in ABBA order, "
        f"each {options.seconds:g} s measured after a warm-up ({options.warmup:g} s the first "
        f"time, {options.rewarm:g} s after); {options.users:,} returning users; "
        f"took {time.monotonic() - started:.0f} s; load average at the end "
        f"{os.getloadavg()[0]:.2f}\n"
        "CPU-ms/req: the service's processes (with WORKERS=2 the main one and both workers); "
        "cores: their CPU seconds per second; wrk cores: wrk's own. The 2-worker ratio is the "
        "throughput as measured, wrk, Redis and MariaDB sharing the same cores."
    )
    tables = report.table(paths, memory, offline, comparisons=comparisons,
                          busiest_address=busiest, notes=notes)
    text = f"{header}\n{method}\n\n{tables}\n"
    (OUTPUT / "last.txt").write_text(text + (f"\n{summary}\n" if summary else ""))
    (OUTPUT / "last.json").write_text(
        json.dumps(
            {
                "machine": header,
                "options": dataclasses.asdict(options),
                "paths": {k: dataclasses.asdict(v) for k, v in paths.items()},
                "comparisons": {k: dataclasses.asdict(v) for k, v in comparisons.items()},
                "redis": None if memory is None else dataclasses.asdict(memory),
                "offline_verification": None if offline is None else dataclasses.asdict(offline),
                "busiest_address": busiest,
                "notes": notes,
            },
            indent=2,
        )
    )
    heading = "Profile of the service as deployed (its CPU time, sampled by bench/cpu_profile.py)"
    return text + (f"\n{heading}\n{summary}\n" if summary else "")


def log_problems(log_files: dict[str, str], examples: int = 5) -> list[str]:
    """Per service: its log lines at WARNING or above (a few of them shown) and its answers of
    status 400 or more, by status (from the access lines of the deployed ones)."""
    found = []
    for role, name in log_files.items():
        statuses: Counter[str] = Counter()
        warnings: list[str] = []
        count = 0
        with open(name, "rb") as lines:
            for line in lines:
                if b'"status":4' in line or b'"status":5' in line:
                    statuses[line.partition(b'"status":')[2][:3].decode()] += 1
                elif b'"level":"WARNING"' in line or b'"level":"ERROR"' in line:
                    count += 1
                    if len(warnings) < examples:
                        warnings.append(_shown(line))
        startup = ("development_session_secret", "wechat_simulator", "development_signing_key")
        shown = [w for w in warnings if not any(event in w for event in startup)]
        if statuses or shown:
            found.append(f"{role}: {count} lines at WARNING or above; answers by status: "
                         f"{dict(statuses)}")
            found += [f"  {line}" for line in shown]
    return found


def _shown(line: bytes) -> str:
    """A log line's start, and its exception's last words (the error, and the statement of
    a database's), which a cut line would lose."""
    text = line.decode(errors="replace").strip()
    try:
        exception = json.loads(text).get("exception") or ""
    except (ValueError, AttributeError):
        exception = ""
    said = [part.strip() for part in exception.splitlines() if part.strip()
            and not part.startswith(("(Background on this error", "[SQL parameters"))]
    return text[:300] + (f" … {' '.join(said[-2:])[:400]}" if said else "")


def log_notes(logged: dict[str, int]) -> list[str]:
    """What the services wrote to their log files (stdout), the deployed ones' access lines."""
    shown = {role: size for role, size in logged.items() if SERVICES[role].deployed}
    if not shown:
        return []
    total = sum(shown.values())
    return [f"logs of the deployed services (stdout to a file each): {total / 2**20:,.1f} MiB "
            f"in all, deployed0 {shown.get('deployed0', 0) / 2**20:,.1f} MiB"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of every step, about three minutes")
    parser.add_argument(
        "--profile", action="store_true", help="also sample where the service spends its CPU"
    )
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run")
    parser.add_argument("--rounds", type=int, help="rounds per process (ABBA order)")
    parser.add_argument("--sessions", type=int,
                        help="sessions written into the second Redis (1,000,000)")
    parser.add_argument(
        "--paths", type=lambda text: tuple(text.split(",")),
        help="only these groups, e.g. audit, login0,me, features or scale (and no Redis memory "
        "phase); " + ", ".join(group.name for group in PLAN),
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="only start the stack (users logged in) and keep it up, for wrk "
        "and py-spy by hand (see var/bench/stack.json)",
    )
    args = parser.parse_args(argv)
    options = Options.quick() if args.quick else Options()
    changes = {
        name: getattr(args, name)
        for name in ("seconds", "warmup", "rounds", "paths", "sessions")
        if getattr(args, name) is not None
    }
    options = dataclasses.replace(options, profile=args.profile, hold=args.hold, **changes)
    if args.hold:
        options = dataclasses.replace(options, deadline=args.hold + 600)
    try:
        print("\n" + bench(options), flush=True)
    except BenchError as error:
        print(f"bench failed: {error}", flush=True)
        return 1
    return 0
