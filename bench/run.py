"""``python -m bench``: issue 4's benchmark, from nothing to the table, in a few minutes.

1. Start on loopback: Redis and MariaDB (throw-away), two WeChat simulators (0 and 50 ms added
   latency), two services (``python -m entrypoints``, one per simulator; WORKERS=1, no access log,
   no login rate limit, LOG_LEVEL=WARNING, development mode, so migrated at start) and the floors
   (``bench/floors.py``: bare, ``/me``, login at 0 and 50 ms).
   Two more services on the 0 ms simulator, ``audited0`` and ``quiet0``, differ only in the
   audit trail (``quiet0`` has ``AUDIT_RETENTION_DAYS=0``): the login's CPU with and without its
   events.
2. Log 10,000 users in once through the service (they return in every later login) and once
   through the login floor; keep the tokens for the ``/me`` runs.
3. Redis bytes per session: ``INFO memory`` before and after 50,000 more logins (or 90 s).
4. Per path, interleaved: the floor(s), then the service, each warmed up then measured with wrk;
   the server process's CPU time is read from ``/proc`` around each measured run.
5. Print the table (``bench/report.py``) and write it, with the raw figures, under ``var/bench/``.

With ``--profile``, the first service runs under ``bench/cpu_profile.py`` (a CPU-time sampler,
idle until asked) and is then sampled under the login (0 ms) and ``/me`` loads; the summaries
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
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import jwt
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from bench import load, profile, report
from bench.infra import ROOT, BenchError, Processes, free_port, wait_until_serving

APPID = "wx-bench-app"
SECRET = "bench-secret-0123456789"  # noqa: S105 - the local simulator's credential
CODE_CLAIM_MAX_TTL_MS = 6 * 60 * 1000
"""Keys expiring within this are the code-exchange claims (5 minutes), not sessions (days)."""
OUTPUT = ROOT / "var" / "bench"
SAMPLES = OUTPUT / "samples.txt"


@dataclasses.dataclass(frozen=True)
class Options:
    warmup: float = 10.0
    """Before a process's first run; ``rewarm`` before its later ones."""
    rewarm: float = 2.0
    seconds: float = 8.0
    """Measured per run; each path runs ``rounds`` times per process."""
    rounds: int = 2
    """In ABBA order (floor, service, service, floor): a drift of the machine in between (this
    VM has slow phases of minutes) weighs on both sides alike."""
    users: int = 10_000
    memory_logins: int = 50_000
    memory_seconds: float = 90.0
    """The Redis memory phase stops at ``memory_logins`` or after this, whichever comes first."""
    login_connections: int = 32
    slow_login_connections: int = 64
    me_connections: int = 64
    offline_verifications: int = 20_000
    """Access tokens checked in-process with PyJWT, for the downstream cost."""
    profile: bool = False
    hold: float = 0.0
    """With ``--hold``: start and fill the stack, describe it, keep it up this long, stop."""
    paths: tuple[str, ...] = ()
    """Only these paths (``login0``, ``login50``, ``me``, ``audit``) and no Redis memory phase;
    empty: everything."""
    deadline: float = 560.0
    """Everything stops (cleanly) after this: ``make bench`` stays under 10 minutes."""

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
            deadline=300.0,
        )


@dataclasses.dataclass
class Stack:
    """What the bench started, by role; ports and PIDs."""

    redis_url: str
    sim_urls: dict[str, str]
    services: dict[str, tuple[str, int]]  # role -> (base URL, pid)
    floors: dict[str, tuple[str, int]]


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


def start_stack(processes: Processes, options: Options) -> Stack:
    print("starting Redis, MariaDB, the simulators, the services and the floors", flush=True)
    redis_server = processes.redis()
    mariadb = processes.mariadb()
    waits = []
    sim_urls = {}
    for role, latency in (("sim0", "0"), ("sim50", "0.05")):
        port = free_port()
        process = processes.python(
            role,
            "-m",
            "adapters.wechat.simulator",
            "--port",
            str(port),
            "--appid",
            APPID,
            "--secret",
            SECRET,
            "--latency",
            latency,
        )
        sim_urls[role] = f"http://127.0.0.1:{port}"
        waits.append((role, process, port, "/__sim/stats"))

    services = {}
    signing_key = processes.directory / "jwt-signing.pem"
    signing_key.write_bytes(ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    jwt_mode = {"TOKEN_FORMAT": "jwt", "JWT_SIGNING_KEY_FILE": str(signing_key),
                "REDIS_KEY_PREFIX": "wj:"}
    for role, sim, more in (("service0", "sim0", {}), ("service50", "sim50", {}),
                            ("servicejwt", "sim0", jwt_mode),
                            # The audit trail's cost: two fresh services alike but for it (no
                            # events kept in quiet0); service0 served the 10,000 first logins.
                            ("audited0", "sim0", {}),
                            ("quiet0", "sim0", {"AUDIT_RETENTION_DAYS": "0"})):
        port = free_port()
        env = {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "WORKERS": "1",
            "APP_ENV": "development",
            "WECHAT_APPID": APPID,
            "WECHAT_SECRET": SECRET,
            "WECHAT_API_BASE": sim_urls[sim],
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": mariadb.url,
            "LOGIN_RATE_PER_MINUTE": "0",
            "LOG_LEVEL": "WARNING",
            **more,
        }
        # Profiled, the first service runs under the CPU sampler (idle until SIGUSR1).
        sampled = options.profile and role == "service0"
        wrapper = ["-m", "bench.cpu_profile", str(SAMPLES)] if sampled else []
        process = processes.python(role, *wrapper, "-m", "entrypoints", env=env)
        services[role] = (f"http://127.0.0.1:{port}", process.pid)
        waits.append((role, process, port, "/healthz"))

    floors = {}
    mysql_url = mariadb.url.replace("mysql+aiomysql://", "mysql://")
    for role, kind, sim in (
        ("bare", "bare", None),
        ("floor_me", "me", None),
        ("floor0", "login", "sim0"),
        ("floor50", "login", "sim50"),
    ):
        port = free_port()
        args = ["-m", "bench.floors", kind, "--port", str(port), "--redis-url", redis_server.url]
        if sim is not None:
            args += [
                "--mysql-url",
                mysql_url,
                "--wechat-url",
                sim_urls[sim],
                "--appid",
                APPID,
                "--secret",
                SECRET,
            ]
        process = processes.python(role, *args)
        floors[role] = (f"http://127.0.0.1:{port}", process.pid)
        waits.append((role, process, port, None))

    for role, process, port, health in waits:
        wait_until_serving(role, process, processes, port, health_path=health)
    return Stack(redis_server.url, sim_urls, services, floors)


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


def _drop_code_claims(client: redis.Redis) -> None:
    """Delete the keys that expire within minutes: the code-exchange claims."""
    for keys in _scan(client):
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.pttl(key)
        short = [
            k
            for k, ttl in zip(keys, pipe.execute(), strict=True)
            if 0 < ttl <= CODE_CLAIM_MAX_TTL_MS
        ]
        if short:
            client.delete(*short)


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
            [run_id, str(options.users)],
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


class Runner:
    """Warm-up then measure, one process at a time; wrk run ids never repeat a code."""

    def __init__(self, stack: Stack, options: Options, tokens: dict[str, Path]) -> None:
        self.stack = stack
        self.options = options
        self.tokens = tokens
        self._runs = 0
        self._warm: set[tuple[str, str]] = set()

    def args(self, script: str, target: str, path: str | None = None) -> list[str]:
        if script == "me.lua":
            pool = {"bare": "floor", "floor_me": "floor", "servicejwt": "jwt"}
            tokens = str(self.tokens[pool.get(target, "service")])
            return [tokens] if path is None else [tokens, path]
        self._runs += 1
        return [f"r{self._runs}", str(self.options.users)]

    def run(
        self, target: str, script: str, connections: int, *, seconds: float | None = None,
        path: str | None = None,
    ) -> load.Measurement:
        url, pid = self.stack.services.get(target) or self.stack.floors[target]
        options = self.options
        warmup = options.rewarm if (target, script) in self._warm else options.warmup
        self._warm.add((target, script))
        if warmup > 0:
            load.measure(
                url,
                script,
                self.args(script, target, path),
                pid=pid,
                connections=connections,
                seconds=warmup,
            )
        measured = load.measure(
            url,
            script,
            self.args(script, target, path),
            pid=pid,
            connections=connections,
            seconds=seconds or options.seconds,
        )
        print(
            f"  {target:<10} {path or script:<13} c={connections:<3} {measured.rps:>9,.0f}/s  "
            f"p50 {measured.p50_ms:6.1f} ms  p99 {measured.p99_ms:6.1f} ms  "
            f"errors {measured.errors}  CPU {measured.cpu_ms_per_request:.3f} ms/req",
            flush=True,
        )
        return measured


def run_paths(runner: Runner, options: Options) -> dict[str, report.PathResult]:
    """Each path's processes in ABBA order over ``options.rounds`` (floors first, then the
    service, then the reverse), their runs summed per process."""
    plan = (
        ("login0", "login, WeChat 0 ms", "login.lua", options.login_connections,
         ("floor0", "service0"), None),
        ("login50", "login, WeChat 50 ms", "login.lua", options.slow_login_connections,
         ("floor50", "service50"), None),
        ("me", "GET /api/v1/me", "me.lua", options.me_connections,
         ("bare", "floor_me", "service0"), None),
        ("auth", "GET /api/v1/auth (forward auth)", "me.lua", options.me_connections,
         ("floor_me", "service0"), "/api/v1/auth"),
        ("login_jwt", "login, JWT mode, WeChat 0 ms", "login.lua", options.login_connections,
         ("floor0", "servicejwt"), None),
        ("me_jwt", "GET /api/v1/me, JWT mode", "me.lua", options.me_connections,
         ("floor_me", "servicejwt"), None),
        ("audit", "login, WeChat 0 ms, audit trail off and on", "login.lua",
         options.login_connections, ("quiet0", "audited0"), None),
    )
    paths = {}
    for name, title, script, connections, targets, path in plan:
        if options.paths and name not in options.paths:
            continue
        print(title, flush=True)
        runs: dict[str, list[load.Measurement]] = {target: [] for target in targets}
        for round_ in range(options.rounds):
            for target in targets if round_ % 2 == 0 else reversed(targets):
                runs[target].append(runner.run(target, script, connections, path=path))
        *floors, service = (load.combine(runs[target]) for target in targets)
        floor = floors[-1]
        bare = floors[0] if len(floors) == 2 else None
        paths[name] = report.PathResult(name, service, floor, bare)
    return paths


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
    """Sample the service's CPU (``bench/cpu_profile.py``) under the login (0 ms) and ``/me``
    loads; the summaries (``bench/profile.py``)."""
    url, pid = runner.stack.services["service0"]
    summaries = []
    for name, script, connections in (
        ("login", "login.lua", options.login_connections),
        ("me", "me.lua", options.me_connections),
    ):
        print(f"profiling the service under {name}", flush=True)
        SAMPLES.unlink(missing_ok=True)
        args = runner.args(script, "service0")
        load.measure(url, script, args, pid=pid, connections=connections, seconds=options.warmup)
        os.kill(pid, signal.SIGUSR1)
        measured = load.measure(
            url, script, args, pid=pid, connections=connections, seconds=options.seconds
        )
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
    return [
        " ".join(
            load.wrk_command(url, "login.lua", ["by-hand", "10000"], connections=32, seconds=10)
        ),
        " ".join(
            load.wrk_command(url, "me.lua", [str(tokens["service"])], connections=64, seconds=10)
        ),
    ]


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


def bench(options: Options) -> str:
    if shutil.which("wrk") is None:
        raise BenchError("wrk is not installed (make bench installs it: apt-get install wrk)")
    header = f"weapp-login bench: {machine()}"
    print(header, flush=True)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="weapp-bench-") as temp, deadline(options.deadline):
        processes = Processes(Path(temp))
        try:
            stack = start_stack(processes, options)
            print(f"logging {options.users:,} users in once (service and login floor)", flush=True)
            tokens = {}
            for role, url, marker in (
                ("service", stack.services["service0"][0], "pre"),
                ("floor", stack.floors["floor0"][0], "fpre"),
                ("jwt", stack.services["servicejwt"][0], "jpre"),
            ):
                codes = [f"u{n}:{marker}" for n in range(options.users)]
                tokens[role] = Path(temp) / f"tokens-{role}.txt"
                tokens[role].write_text("\n".join(load.login_all(url, codes)) + "\n")
            if options.hold > 0:
                hold(stack, tokens, options.hold)
                return "held"
            memory = None if options.paths else measure_redis_memory(stack, options, "mem")
            runner = Runner(stack, options, tokens)
            paths = run_paths(runner, options)
            jwt_token = tokens["jwt"].read_text().split("\n", 1)[0]
            offline = offline_verification(stack.services["servicejwt"][0], jwt_token,
                                           options.offline_verifications)
            summary = profile_service(runner, options, OUTPUT) if options.profile else ""
        finally:
            processes.stop_all()
    method = (
        f"1 worker; wrk -t1; {options.rounds} round(s) per process in ABBA order, each "
        f"{options.seconds:g} s measured after a warm-up ({options.warmup:g} s the first time, "
        f"{options.rewarm:g} s after); {options.users:,} returning users; "
        f"took {time.monotonic() - started:.0f} s; load average at the end "
        f"{os.getloadavg()[0]:.2f}"
    )
    text = f"{header}\n{method}\n\n{report.table(paths, memory, offline)}\n"
    (OUTPUT / "last.txt").write_text(text + (f"\n{summary}\n" if summary else ""))
    (OUTPUT / "last.json").write_text(
        json.dumps(
            {
                "machine": header,
                "options": dataclasses.asdict(options),
                "paths": {k: dataclasses.asdict(v) for k, v in paths.items()},
                "redis": None if memory is None else dataclasses.asdict(memory),
                "offline_verification": dataclasses.asdict(offline),
            },
            indent=2,
        )
    )
    heading = "Profile of the service (its CPU time, sampled by bench/cpu_profile.py)"
    return text + (f"\n{heading}\n{summary}\n" if summary else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of about a minute")
    parser.add_argument(
        "--profile", action="store_true", help="also sample where the service spends its CPU"
    )
    parser.add_argument("--seconds", type=float, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per run")
    parser.add_argument("--rounds", type=int, help="rounds per process (ABBA order)")
    parser.add_argument(
        "--paths", type=lambda text: tuple(text.split(",")),
        help="only these paths, e.g. audit or login0,me (and no Redis memory phase)",
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
        for name in ("seconds", "warmup", "rounds", "paths")
        if getattr(args, name) is not None
    }
    options = dataclasses.replace(options, profile=args.profile, hold=args.hold, **changes)
    if args.hold:
        options = dataclasses.replace(options, deadline=args.hold + 300)
    try:
        print("\n" + bench(options), flush=True)
    except BenchError as error:
        print(f"bench failed: {error}", flush=True)
        return 1
    return 0
