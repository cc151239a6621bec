"""The CodeExchangeRegistry contract, for every implementation: memory, and Redis as one server,
as a 3-master Redis Cluster and through a Sentinel."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from adapters.memory import InMemoryCodeExchangeRegistry
from adapters.redis import RedisCodeExchangeRegistry
from domain.entities import WeChatSession
from domain.ports import ClaimDone, ClaimFailed, ClaimPending, CodeExchangeRegistry
from domain.tokens import hash_code
from tests.fakes import FakeClock
from tests.fixtures.redis_server import REDIS_KINDS, redis_backend

IMPLEMENTATIONS = ["memory", *(pytest.param(k, marks=pytest.mark.integration) for k in REDIS_KINDS)]


@dataclass
class Harness:
    registry: CodeExchangeRegistry
    clock: FakeClock
    real_time: bool

    async def wait(self, seconds: float) -> None:
        """Let time pass: really for Redis (its own clock expires keys), on the fake clock else."""
        if self.real_time:
            await asyncio.sleep(seconds)
        self.clock.advance(seconds)


@pytest.fixture(params=IMPLEMENTATIONS)
def harness(request: pytest.FixtureRequest) -> Harness:
    clock = FakeClock()
    if request.param == "memory":
        return Harness(InMemoryCodeExchangeRegistry(clock=clock), clock, False)
    client = redis_backend(request, request.param).client
    return Harness(RedisCodeExchangeRegistry(client), clock, True)


CODE = hash_code("code-1")


async def test_the_first_claim_owns_the_code_and_later_ones_see_it_pending(
    harness: Harness,
) -> None:
    assert await harness.registry.claim(CODE, owner="a", pending_ttl=5) is None

    assert await harness.registry.claim(CODE, owner="b", pending_ttl=5) == ClaimPending()
    assert await harness.registry.peek(CODE) == ClaimPending()
    assert await harness.registry.claim(hash_code("code-2"), owner="a", pending_ttl=5) is None


async def test_a_claim_repeated_by_its_owner_is_still_its_own(harness: Harness) -> None:
    """The client repeats a command once after a lost reply: the repeat must not see the
    owner's own claim as someone else's (it would wait on itself and time out)."""
    assert await harness.registry.claim(CODE, owner="a", pending_ttl=5) is None

    assert await harness.registry.claim(CODE, owner="a", pending_ttl=5) is None
    assert await harness.registry.claim(CODE, owner="b", pending_ttl=5) == ClaimPending()


async def test_peek_at_an_unknown_code_finds_nothing(harness: Harness) -> None:
    assert await harness.registry.peek(CODE) is None


@pytest.mark.parametrize("unionid", [None, "oUnion-Id_42"])
async def test_a_completed_exchange_is_shared_with_the_exact_session(
    harness: Harness, unionid: str | None
) -> None:
    session = WeChatSession(openid="oOpen-Id_1", session_key="c2Vzc2lvbg+/==", unionid=unionid)
    await harness.registry.claim(CODE, owner="b", pending_ttl=5)

    await harness.registry.complete(CODE, session, ttl=300)

    assert await harness.registry.claim(CODE, owner="b", pending_ttl=5) == ClaimDone(session)
    assert await harness.registry.peek(CODE) == ClaimDone(session)


async def test_a_failed_exchange_is_shared_with_its_error_code(harness: Harness) -> None:
    await harness.registry.claim(CODE, owner="b", pending_ttl=5)

    await harness.registry.fail(CODE, "platform_busy", ttl=1)

    assert await harness.registry.peek(CODE) == ClaimFailed("platform_busy")
    failed = ClaimFailed("platform_busy")
    assert await harness.registry.claim(CODE, owner="b", pending_ttl=5) == failed


async def test_a_failure_does_not_overwrite_a_recorded_result_and_returns_it(
    harness: Harness,
) -> None:
    """An earlier owner's result recorded after its claim expired (and another owner claimed
    the code, and WeChat told it "code been used"): the result stays and the failing owner
    gets it."""
    session = WeChatSession(openid="o-late", session_key="c2Vzc2lvbg+/==")
    assert await harness.registry.claim(CODE, owner="b", pending_ttl=5) is None
    await harness.registry.complete(CODE, session, ttl=300)

    kept = await harness.registry.fail(CODE, "invalid_code", ttl=1)

    assert kept == ClaimDone(session)
    assert await harness.registry.peek(CODE) == ClaimDone(session)
    assert await harness.registry.fail(hash_code("other"), "invalid_code", ttl=1) is None


async def test_a_pending_claim_and_recorded_outcomes_expire(harness: Harness) -> None:
    done, failed = hash_code("done"), hash_code("failed")
    await harness.registry.claim(CODE, owner="b", pending_ttl=0.2)
    await harness.registry.complete(done, WeChatSession("o", "k"), ttl=0.2)
    await harness.registry.fail(failed, "invalid_code", ttl=0.2)

    await harness.wait(0.35)

    for code in (CODE, done, failed):
        assert await harness.registry.peek(code) is None
    assert await harness.registry.claim(CODE, owner="b", pending_ttl=5) is None
