"""The ``WeChatGateway`` contract, for the in-memory fake and the aiohttp gateway (simulator).

Each implementation gets a *scenario*: the same requests ("a fresh code of alice", "a code WeChat
calls blocked") turned into what that implementation needs (scripted codes for the fake, the
simulator's code grammar for the real gateway).
"""

from __future__ import annotations

import base64
import itertools
import secrets
from collections.abc import Callable
from typing import Literal, Protocol

import pytest

from adapters.memory.wechat import InMemoryWeChatGateway
from domain.errors import (
    InvalidCode,
    UserBlocked,
    WeChatBusy,
    WeChatError,
    WeChatFailure,
    WeChatRateLimited,
)
from domain.ports import WeChatGateway
from tests.fixtures.wechat_simulator import RunningSimulator

Failure = Literal["invalid", "blocked", "busy", "quota", "unknown_errcode"]


class Scenario(Protocol):
    @property
    def gateway(self) -> WeChatGateway: ...

    def code(self, user: str) -> str:
        """A fresh, never used code of ``user``."""
        ...

    def give_unionid(self, user: str, unionid: str) -> None:
        """From now on WeChat reports ``unionid`` for ``user``."""
        ...

    def failing_code(self, failure: Failure) -> str:
        """A code that WeChat answers with ``failure``."""
        ...


class MemoryScenario:
    _errors: dict[Failure, Callable[[], WeChatFailure]] = {
        "invalid": InvalidCode,
        "blocked": UserBlocked,
        "busy": lambda: WeChatBusy(retry_after=1),
        "quota": WeChatRateLimited,
        "unknown_errcode": lambda: WeChatError("WeChat answered errcode 40097."),
    }

    def __init__(self) -> None:
        self.gateway = InMemoryWeChatGateway()
        self._unionids: dict[str, str] = {}
        self._serial = itertools.count(1)

    def code(self, user: str) -> str:
        code = f"{user}:{next(self._serial)}"
        session_key = base64.b64encode(secrets.token_bytes(16)).decode()
        self.gateway.add_code(
            code, f"o-{user}", session_key=session_key, unionid=self._unionids.get(user)
        )
        return code

    def give_unionid(self, user: str, unionid: str) -> None:
        self._unionids[user] = unionid

    def failing_code(self, failure: Failure) -> str:
        code = f"{failure}:{next(self._serial)}"
        self.gateway.failures[code] = self._errors[failure]()
        return code


class SimulatorScenario:
    _prefixes: dict[Failure, str] = {
        "invalid": "invalid",
        "blocked": "blocked",
        "busy": "busy",
        "quota": "quota",
        "unknown_errcode": "error",
    }

    def __init__(self, gateway: WeChatGateway, simulator: RunningSimulator) -> None:
        self.gateway = gateway
        self._sim = simulator.sim
        self._serial = itertools.count(1)

    def code(self, user: str) -> str:
        return f"{user}:{next(self._serial)}"

    def give_unionid(self, user: str, unionid: str) -> None:
        self._sim.unionids[user] = unionid

    def failing_code(self, failure: Failure) -> str:
        return f"{self._prefixes[failure]}:{next(self._serial)}"


@pytest.fixture(params=["memory", pytest.param("aiohttp+simulator", marks=pytest.mark.integration)])
def scenario(request: pytest.FixtureRequest) -> Scenario:
    if request.param == "memory":
        return MemoryScenario()
    return SimulatorScenario(
        request.getfixturevalue("wechat_gateway"), request.getfixturevalue("wechat_simulator")
    )


async def test_a_valid_code_gives_an_openid_and_a_session_key(scenario: Scenario) -> None:
    session = await scenario.gateway.code_to_session(scenario.code("alice"))

    assert session.openid
    assert len(base64.b64decode(session.session_key, validate=True)) == 16
    assert session.unionid is None


async def test_two_codes_of_one_user_give_the_same_openid(scenario: Scenario) -> None:
    first = await scenario.gateway.code_to_session(scenario.code("alice"))
    second = await scenario.gateway.code_to_session(scenario.code("alice"))

    assert first.openid == second.openid


async def test_codes_of_two_users_give_two_openids(scenario: Scenario) -> None:
    alice = await scenario.gateway.code_to_session(scenario.code("alice"))
    bob = await scenario.gateway.code_to_session(scenario.code("bob"))

    assert alice.openid != bob.openid


async def test_a_code_used_twice_is_invalid_the_second_time(scenario: Scenario) -> None:
    code = scenario.code("alice")
    await scenario.gateway.code_to_session(code)

    with pytest.raises(InvalidCode):
        await scenario.gateway.code_to_session(code)


async def test_an_invalid_code_is_rejected(scenario: Scenario) -> None:
    with pytest.raises(InvalidCode):
        await scenario.gateway.code_to_session(scenario.failing_code("invalid"))


async def test_a_blocked_user_is_refused(scenario: Scenario) -> None:
    with pytest.raises(UserBlocked):
        await scenario.gateway.code_to_session(scenario.failing_code("blocked"))


async def test_a_busy_wechat_asks_to_retry_after_a_second_or_more(scenario: Scenario) -> None:
    with pytest.raises(WeChatBusy) as raised:
        await scenario.gateway.code_to_session(scenario.failing_code("busy"))

    assert raised.value.retry_after >= 1


async def test_wechat_quota_is_a_rate_limit(scenario: Scenario) -> None:
    with pytest.raises(WeChatRateLimited) as raised:
        await scenario.gateway.code_to_session(scenario.failing_code("quota"))

    assert raised.value.retry_after >= 1


async def test_an_unknown_errcode_is_a_wechat_error(scenario: Scenario) -> None:
    with pytest.raises(WeChatError):
        await scenario.gateway.code_to_session(scenario.failing_code("unknown_errcode"))


async def test_the_unionid_is_given_when_wechat_has_one(scenario: Scenario) -> None:
    before = await scenario.gateway.code_to_session(scenario.code("carol"))
    scenario.give_unionid("carol", "oU-carol-unionid")

    after = await scenario.gateway.code_to_session(scenario.code("carol"))

    assert before.unionid is None
    assert after.unionid == "oU-carol-unionid"
    assert after.openid == before.openid
