"""What only Alipay's and WeCom's gateways do, against the simulator over real HTTP: Alipay's
signatures both ways and its identity modes; WeCom's corp check and its shared corp token."""

from __future__ import annotations

import asyncio
import itertools

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.platforms.alipay import AiohttpAlipayGateway
from adapters.platforms.wecom import WeComTokenIssuer
from adapters.simulator.server import QQ_PREFIX
from domain.errors import InvalidCode, WeChatError
from tests.fixtures.platform_simulators import ALIPAY_APPID, Platforms, wecom_tokens

pytestmark = pytest.mark.integration

_serial = itertools.count(1)


def code(user: str) -> str:
    return f"{user}:{next(_serial)}"


def other_key_pem() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


# ---- Alipay --------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["forged", "unsigned"])
async def test_an_alipay_answer_with_a_forged_or_missing_signature_is_refused(
    platforms: Platforms, prefix: str
) -> None:
    with pytest.raises(WeChatError) as raised:
        await platforms.gateway("alipay").code_to_session(code(prefix))

    assert type(raised.value) is WeChatError


async def test_an_alipay_answer_checked_with_another_key_is_refused(
    platforms: Platforms,
) -> None:
    _, public = other_key_pem()
    gateway = platforms.gateway("alipay", alipay_public_key=public)

    with pytest.raises(WeChatError):
        await gateway.code_to_session(code("alice"))


async def test_an_unsigned_alipay_error_is_not_trusted_as_an_invalid_code(
    platforms: Platforms,
) -> None:
    async def unsigned_error(_request: aiohttp.web.Request) -> aiohttp.web.Response:
        body = b'{"error_response":{"code":"40002","sub_code":"isv.code-invalid"}}'
        return aiohttp.web.Response(body=body, content_type="text/html")

    app = aiohttp.web.Application()
    app.router.add_post("/gateway.do", unsigned_error)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        gateway = AiohttpAlipayGateway(
            platforms.session,
            base_url=f"http://127.0.0.1:{port}",
            appid=ALIPAY_APPID,
            private_key=other_key_pem()[0],
            alipay_public_key=platforms.sims.alipay.public_key_pem,
            timeout=1.0,
        )
        with pytest.raises(WeChatError) as raised:
            await gateway.code_to_session("alice:1")
    finally:
        await runner.cleanup()

    assert not isinstance(raised.value, InvalidCode)


async def test_alipay_refuses_a_request_signed_with_another_app_key(
    platforms: Platforms,
) -> None:
    private, _ = other_key_pem()
    gateway = AiohttpAlipayGateway(
        platforms.session,
        base_url=platforms.base_url,
        appid=ALIPAY_APPID,
        private_key=private,
        alipay_public_key=platforms.sims.alipay.public_key_pem,
        timeout=1.0,
    )

    with pytest.raises(WeChatError):
        await gateway.code_to_session(code("alice"))


async def test_an_alipay_app_in_user_id_mode_logs_in_by_user_id(platforms: Platforms) -> None:
    platforms.sims.alipay.identity = "user_id"

    session = await platforms.gateway("alipay").code_to_session(code("alice"))

    assert session.openid == platforms.sims.alipay.user_id_for("alice")
    assert session.openid.startswith("2088")


async def test_an_alipay_answer_with_both_ids_prefers_the_open_id(platforms: Platforms) -> None:
    platforms.sims.alipay.identity = "both"

    session = await platforms.gateway("alipay").code_to_session(code("alice"))

    assert session.openid == platforms.sims.alipay.openid_for("alice")


async def test_the_simulator_serves_alipays_public_key(platforms: Platforms) -> None:
    async with platforms.session.get(platforms.base_url + "/alipay/public-key") as resp:
        pem = await resp.read()

    assert pem == platforms.sims.alipay.public_key_pem
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")


# ---- WeCom ---------------------------------------------------------------------------------


async def test_a_wecom_answer_for_another_corp_is_refused(platforms: Platforms) -> None:
    with pytest.raises(WeChatError) as raised:
        await platforms.gateway("wecom").code_to_session(code("othercorp"))

    assert type(raised.value) is WeChatError


@pytest.mark.parametrize("refusal", ["expired", "revoked"])
async def test_a_refused_wecom_token_is_fetched_again_once(
    platforms: Platforms, refusal: str
) -> None:
    sim = platforms.sims.wecom
    gateway = platforms.gateway("wecom")
    await gateway.code_to_session(code("alice"))
    if refusal == "expired":
        sim.advance(sim.token_lifetime + 1)  # 42001 on its next use
    else:
        sim.expire_access_token()  # 40014 on its next use

    session = await gateway.code_to_session(code("alice"))

    assert session.openid == sim.openid_for("alice")
    assert sim.token_fetches == 2


async def test_a_wecom_token_refused_twice_is_a_platform_error(platforms: Platforms) -> None:
    sim = platforms.sims.wecom
    refused = code("alice")
    sim.fail_next(refused, 42001, times=2)

    with pytest.raises(WeChatError):
        await platforms.gateway("wecom").code_to_session(refused)

    assert sim.token_fetches == 2


async def test_twenty_concurrent_wecom_logins_fetch_the_token_once(platforms: Platforms) -> None:
    tokens = wecom_tokens(platforms)
    gateway = platforms.gateway("wecom", tokens=tokens)

    sessions = await asyncio.gather(*(gateway.code_to_session(code(f"user{i}")) for i in range(20)))

    assert len({session.openid for session in sessions}) == 20
    assert platforms.sims.wecom.token_fetches == 1


async def test_a_wrong_wecom_secret_is_a_platform_error(platforms: Platforms) -> None:
    issuer = WeComTokenIssuer(
        platforms.session,
        base_url=platforms.base_url,
        corpid="ww-test-corp",
        secret="nope",
        timeout=1.0,
    )

    with pytest.raises(WeChatError):
        await issuer.stable_token()


# ---- QQ ------------------------------------------------------------------------------------


async def test_qq_is_served_under_its_own_prefix_apart_from_wechat(
    platforms: Platforms,
) -> None:
    await platforms.gateway("qq").code_to_session(code("alice"))

    assert platforms.sims.qq.calls == 1
    assert platforms.sims.wechat.calls == 0
    assert QQ_PREFIX == "/qq"
