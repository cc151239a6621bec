"""A bounded soak: concurrent logins and ``/me`` against ``python -m entrypoints`` (two workers,
real MariaDB, a Redis that persists every write) while Redis is killed and started again once.

What must hold: no 500 and no answer outside 200/503 (a 401 would be a lost session), every request
answered within its bound, and afterwards every login that got a 200 has its user row and a token
that still works: with ``appendfsync always`` a restart loses nothing Redis acknowledged.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.e2e.conftest import run_service
from tests.fixtures.redis_server import RedisServer
from tests.reliability.conftest import Answer, Simulated, call, login, service_env
from tests.reliability.test_store_faults import user_rows

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SOAK_SECONDS = 10.0
CLIENTS = 12
USERS = 40
REQUEST_BOUND = 5.0
"""No request may take longer: the slowest legitimate answer is a 503 after a 1 s store timeout."""


@dataclass
class Tally:
    logins: Counter[int] = field(default_factory=Counter)
    me: Counter[int] = field(default_factory=Counter)
    hung: int = 0
    slowest: float = 0.0
    refused_at: list[float] = field(default_factory=list)
    """When (seconds into the soak) each 503 was answered."""
    served_at: list[float] = field(default_factory=list)
    """When each 200 was answered."""
    issued: list[tuple[str, int, str]] = field(default_factory=list)
    """(token, user id, user name) of every login answered 200."""
    issued_at: list[float] = field(default_factory=list)


    def note(self, began: float, answer: Answer) -> None:
        self.slowest = max(self.slowest, answer.seconds)
        at = time.monotonic() - began
        (self.served_at if answer.status == 200 else self.refused_at).append(at)


async def client(http: aiohttp.ClientSession, url: str, began: float, codes: itertools.count,
                 tally: Tally, rng: random.Random) -> None:
    while time.monotonic() < began + SOAK_SECONDS:
        name = f"soak{rng.randrange(USERS)}"
        try:
            answer = await login(http, url, f"{name}:{next(codes)}")
            tally.logins[answer.status] += 1
            tally.note(began, answer)
            if answer.status == 200:
                tally.issued.append((answer.body["token"], answer.body["user"]["id"], name))
                tally.issued_at.append(time.monotonic() - began)
            if tally.issued:
                token = rng.choice(tally.issued)[0]
                me = await call(http, "GET", f"{url}/api/v1/me", token=token)
                tally.me[me.status] += 1
                tally.note(began, me)
        except TimeoutError:
            tally.hung += 1


async def check_tokens(http: aiohttp.ClientSession, url: str, tokens: list[str]) -> list[Answer]:
    """``/me`` with each token, 20 at a time; a 503 (a store slow to answer on a busy machine,
    not a lost session, which is a 401) is asked again, up to three times."""
    gate = asyncio.Semaphore(20)

    async def check(token: str) -> Answer:
        async with gate:
            for _ in range(3):
                answer = await call(http, "GET", f"{url}/api/v1/me", token=token)
                if answer.status != 503:
                    break
                await asyncio.sleep(0.5)
            return answer

    return await asyncio.gather(*(check(token) for token in tokens))


async def restart_redis_midway(server: RedisServer, down_for: float) -> tuple[float, float]:
    """Kill Redis (SIGKILL, as a crash) a third of the way in; start it again ``down_for`` s
    later. Returns when it went down and came back, in seconds since the soak began."""
    began = time.monotonic()
    await asyncio.sleep(SOAK_SECONDS / 3)
    await asyncio.to_thread(server.kill)
    down = time.monotonic() - began
    await asyncio.sleep(down_for)
    await asyncio.to_thread(server.start)
    return down, time.monotonic() - began


async def test_a_soak_with_a_redis_restart_gives_no_500_no_hang_and_loses_no_login(
    tmp_path: Path, simulator: Simulated, persistent_redis: RedisServer, mariadb_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = service_env(wechat=simulator.base_url, redis_url=persistent_redis.url,
                      database_url=mariadb_url, WORKERS="2", LOG_LEVEL="WARNING")
    tally = Tally()
    rng = random.Random(5)
    timeout = aiohttp.ClientTimeout(total=REQUEST_BOUND)
    async with run_service(env, tmp_path / "service.log") as service, \
            aiohttp.ClientSession(timeout=timeout) as http:
        began = time.monotonic()
        codes = itertools.count()
        restart = asyncio.create_task(restart_redis_midway(persistent_redis, down_for=1.0))
        await asyncio.gather(*(client(http, service.url, began, codes, tally, rng)
                               for _ in range(CLIENTS)))
        down, back = await restart

        # Afterwards: every token issued works, on whichever worker answers.
        checks = await check_tokens(http, service.url, [token for token, _, _ in tally.issued])
    rows = await user_rows(mariadb_url)
    outside = sum(not down <= at <= back + REQUEST_BOUND for at in tally.refused_at)

    with capsys.disabled():
        healed = min((at for at in tally.served_at if at > back), default=float("nan"))
        print(f"\nsoak: {SOAK_SECONDS:.0f} s, {CLIENTS} clients, Redis killed at {down:.1f} s "
              f"and back at {back:.1f} s, first 200 after it at {healed:.1f} s; "
              f"logins {dict(tally.logins)}, /me {dict(tally.me)}, hung {tally.hung}, "
              f"slowest {tally.slowest:.2f} s, {outside} 503s outside the outage; afterwards "
              f"{sum(c.status == 200 for c in checks)}/{len(checks)} tokens work")
    assert tally.hung == 0
    assert tally.slowest < REQUEST_BOUND
    assert set(tally.logins) <= {200, 503}
    assert set(tally.me) <= {200, 503}
    # Redis was down for a while (the 503s), then logins again: it healed with no restart.
    assert len(tally.refused_at) > outside
    assert any(at > back for at in tally.served_at)
    lost = [(user_id, round(at, 2), check.status, check.body) for (token, user_id, _), at, check
            in zip(tally.issued, tally.issued_at, checks, strict=True)
            if check.status != 200 or check.body["user"]["id"] != user_id]
    assert lost == []
    sim = simulator.sim
    assert all(rows.get(sim.openid_for(name)) == user_id for _, user_id, name in tally.issued)
