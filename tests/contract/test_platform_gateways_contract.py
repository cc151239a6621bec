"""The gateways of QQ, Douyin, Alipay and WeCom against the simulator over real HTTP: each
platform's success, its errors mapped onto the domain's failures, and the faults every
platform may show (non-JSON body, HTTP 5xx, no answer, a login without user id or session key).
"""

from __future__ import annotations

import asyncio
import base64
import itertools

import pytest

from domain.errors import (
    InvalidCode,
    WeChatBusy,
    WeChatError,
    WeChatFailure,
    WeChatRateLimited,
    WeChatTimeout,
)
from tests.fixtures.platform_simulators import Platforms

pytestmark = pytest.mark.integration

PLATFORMS = ["qq", "douyin", "alipay", "wecom"]
_serial = itertools.count(1)

EXPECTED: dict[str, dict[str, type[WeChatFailure]]] = {
    "qq": {
        "invalid": InvalidCode,
        "blocked": WeChatError,
        "busy": WeChatBusy,
        "quota": WeChatRateLimited,
        "error": WeChatError,
    },
    "douyin": {
        "invalid": InvalidCode,
        "blocked": WeChatError,
        "busy": WeChatBusy,
        "quota": WeChatError,
        "error": WeChatError,
    },
    "alipay": {
        "invalid": InvalidCode,
        "blocked": WeChatError,
        "busy": WeChatBusy,
        "quota": WeChatError,
        "error": WeChatError,
    },
    "wecom": {
        "invalid": InvalidCode,
        "blocked": WeChatError,
        "busy": WeChatBusy,
        "quota": WeChatRateLimited,
        "error": WeChatError,
    },
}


def code(user: str) -> str:
    return f"{user}:{next(_serial)}"


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_valid_code_gives_the_platforms_user_id_for_the_app(
    platforms: Platforms, platform: str
) -> None:
    gateway = platforms.gateway(platform)

    first = await gateway.code_to_session(code("alice"))
    again = await gateway.code_to_session(code("alice"))
    bob = await gateway.code_to_session(code("bob"))

    assert first.openid == again.openid == getattr(platforms.sims, platform).openid_for("alice")
    assert bob.openid != first.openid
    assert first.unionid is None
    if platform == "alipay":
        assert first.session_key == ""
    else:
        assert len(base64.b64decode(first.session_key, validate=True)) == 16


@pytest.mark.parametrize("platform", ["qq", "douyin", "alipay"])
async def test_a_unionid_is_given_when_the_platform_gives_one(
    platforms: Platforms, platform: str
) -> None:
    session = await platforms.gateway(platform).code_to_session(code("u-carol"))

    assert session.unionid == getattr(platforms.sims, platform).unionid_for("u-carol")
    assert session.unionid


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_a_code_used_twice_is_invalid_the_second_time(
    platforms: Platforms, platform: str
) -> None:
    gateway = platforms.gateway(platform)
    used = code("alice")
    await gateway.code_to_session(used)

    with pytest.raises(InvalidCode):
        await gateway.code_to_session(used)


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("prefix", ["invalid", "blocked", "busy", "quota", "error"])
async def test_each_platform_error_maps_onto_its_domain_failure(
    platforms: Platforms, platform: str, prefix: str
) -> None:
    expected = EXPECTED[platform][prefix]

    with pytest.raises(expected) as raised:
        await platforms.gateway(platform).code_to_session(code(prefix))

    if expected is WeChatError:  # not one of its subclasses
        assert type(raised.value) is WeChatError


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("prefix", ["garbage", "http500", "nokey"])
async def test_an_unusable_answer_is_a_platform_error(
    platforms: Platforms, platform: str, prefix: str
) -> None:
    with pytest.raises(WeChatError) as raised:
        await platforms.gateway(platform).code_to_session(code(prefix))

    assert type(raised.value) is WeChatError


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_no_answer_in_time_is_a_timeout(platforms: Platforms, platform: str) -> None:
    with pytest.raises(WeChatTimeout):
        await platforms.gateway(platform).code_to_session(code("hang"))


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_the_platform_is_busy_without_using_the_code_up(
    platforms: Platforms, platform: str
) -> None:
    gateway = platforms.gateway(platform)
    sim = getattr(platforms.sims, platform)
    retried = code("alice")
    busy = {"qq": -1, "douyin": -1, "wecom": -1}.get(platform)
    sim.fail_next(retried, busy if busy is not None else ("20000", "busy", "isp.unknow-error", ""))

    with pytest.raises(WeChatBusy) as raised:
        await gateway.code_to_session(retried)
    session = await gateway.code_to_session(retried)

    assert raised.value.retry_after >= 1
    assert session.openid == sim.openid_for("alice")


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_errors_name_neither_the_secret_nor_the_code(
    platforms: Platforms, platform: str
) -> None:
    sent = code("error-secretive")

    with pytest.raises(WeChatError) as raised:
        await platforms.gateway(platform).code_to_session(sent)

    assert sent not in str(raised.value)
    assert "secret" not in str(raised.value)


async def test_concurrent_platforms_share_one_simulator(platforms: Platforms) -> None:
    sessions = await asyncio.gather(
        *(platforms.gateway(name).code_to_session(code("dave")) for name in PLATFORMS)
    )

    assert len({session.openid for session in sessions}) == len(PLATFORMS)
