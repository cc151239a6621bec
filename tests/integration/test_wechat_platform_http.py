"""The aiohttp platform adapter over real HTTP: against the simulator and tiny scripted servers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from adapters.memory.platform import InMemoryAccessTokenCache
from adapters.wechat.gateway import AiohttpWeChatGateway
from adapters.wechat.http import open_client_session
from adapters.wechat.platform import AiohttpWeChatPlatform
from domain.access_token import AccessTokenProvider
from domain.errors import WeChatBusy, WeChatError, WeChatFailure, WeChatRateLimited, WeChatTimeout
from domain.platform import PhoneNumber, SubscribeMessage
from domain.platform_errors import (
    AccessTokenInvalid,
    InvalidPhoneCode,
    InvalidTemplate,
    NotSubscribed,
)
from tests.fakes import FakeClock
from tests.fixtures.redis_server import free_port
from tests.fixtures.wechat_simulator import SIM_APPID, SIM_SECRET, RunningSimulator

pytestmark = pytest.mark.integration

TEMPLATE = "tmpl-shipped"


@asynccontextmanager
async def open_platform(
    base_url: str, *, secret: str = SIM_SECRET, timeout: float = 1.0
) -> AsyncIterator[AiohttpWeChatPlatform]:
    async with asynccontextmanager(open_client_session)(timeout=timeout) as session:
        yield AiohttpWeChatPlatform(
            session, base_url=base_url, appid=SIM_APPID, secret=secret, timeout=timeout
        )


@pytest.fixture
async def platform(wechat_simulator: RunningSimulator) -> AsyncIterator[AiohttpWeChatPlatform]:
    async with open_platform(wechat_simulator.base_url) as platform:
        yield platform


def exposed_text(error: BaseException) -> str:
    """What a log of the error shows."""
    return str(error) + repr(error) + "".join(traceback.format_exception(error))


def signature_of(session_key: str) -> str:
    return hmac.new(session_key.encode(), b"", hashlib.sha256).hexdigest()


def message_to(openid: str, **data: str) -> SubscribeMessage:
    return SubscribeMessage(
        touser=openid,
        template_id=TEMPLATE,
        data={name: {"value": value} for name, value in data.items()},
        page="pages/order/detail?id=7",
        miniprogram_state="developer",
        lang="zh_CN",
    )


# ---- stable_token -----------------------------------------------------------------------------


async def test_stable_token_answers_the_same_token_while_it_lives(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform
) -> None:
    first = await platform.stable_token()
    wechat_simulator.sim.advance(1000)
    second = await platform.stable_token()

    assert first.value == second.value
    assert len(first.value) >= 100
    assert first.expires_in == 7200
    assert 6199 <= second.expires_in <= 6200
    assert wechat_simulator.sim.token_fetches == 2


async def test_stable_token_rotates_in_its_last_five_minutes_and_the_old_token_still_works(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform
) -> None:
    old = await platform.stable_token()
    wechat_simulator.sim.advance(7200 - 250)

    new = await platform.stable_token()

    assert new.value != old.value
    assert new.expires_in == 7200
    assert await platform.check_session(old.value, "o" + "x" * 27, "sig") is False  # not 40001


async def test_a_forced_refresh_revokes_the_current_token(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform
) -> None:
    old = await platform.stable_token()

    new = await platform.stable_token(force_refresh=True)

    assert new.value != old.value
    with pytest.raises(AccessTokenInvalid, match="40001"):
        await platform.phone_number(old.value, "phone-13800138000")
    assert await platform.phone_number(new.value, "phone-13800138000")


async def test_a_wrong_secret_is_a_wechat_error_that_does_not_show_it(
    wechat_simulator: RunningSimulator,
) -> None:
    async with open_platform(wechat_simulator.base_url, secret="S3cr3t-wrong") as platform:
        with pytest.raises(WeChatError, match="40125") as raised:
            await platform.stable_token()

    assert not isinstance(raised.value, AccessTokenInvalid)
    assert "S3cr3t-wrong" not in exposed_text(raised.value)


async def test_the_simulator_serves_stable_token_as_wechat_does(
    wechat_simulator: RunningSimulator,
) -> None:
    url = f"{wechat_simulator.base_url}/cgi-bin/stable_token"
    body = {"grant_type": "client_credential", "appid": SIM_APPID, "secret": SIM_SECRET}
    async with aiohttp.ClientSession() as client:
        async with client.post(url, json=body) as resp:
            assert resp.headers["Content-Type"] == "application/json; encoding=utf-8"
            assert "access_token" in orjson.loads(await resp.read())
        async with client.post(url, data=body) as resp:  # form-encoded
            assert orjson.loads(await resp.read())["errcode"] == 47001
        async with client.get(url, params=body) as resp:
            assert orjson.loads(await resp.read())["errcode"] == 43002
        async with client.post(url, json=body | {"grant_type": "authorization_code"}) as resp:
            assert orjson.loads(await resp.read())["errcode"] == 40002
        async with client.get(f"{wechat_simulator.base_url}/__sim/platform") as resp:
            assert await resp.json() == {"token_fetches": 3, "sent": 0}  # GET is no fetch


# ---- token checks on every call -----------------------------------------------------------------


def each_call(platform: AiohttpWeChatPlatform) -> list[Callable[[str], Awaitable[object]]]:
    return [
        lambda token: platform.phone_number(token, "phone-13800138000"),
        lambda token: platform.check_session(token, "o" + "x" * 27, "00"),
        lambda token: platform.send_subscribe_message(token, message_to("o" + "x" * 27)),
    ]


@pytest.mark.parametrize("call", [0, 1, 2], ids=["phone", "checksession", "subscribe"])
async def test_a_revoked_token_is_refused_with_40001(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform, call: int
) -> None:
    token = (await platform.stable_token()).value
    wechat_simulator.sim.expire_access_token()

    with pytest.raises(AccessTokenInvalid, match="40001"):
        await each_call(platform)[call](token)


@pytest.mark.parametrize("call", [0, 1, 2], ids=["phone", "checksession", "subscribe"])
async def test_an_expired_token_is_refused_with_42001(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform, call: int
) -> None:
    token = (await platform.stable_token()).value
    wechat_simulator.sim.advance(7201)

    with pytest.raises(AccessTokenInvalid, match="42001"):
        await each_call(platform)[call](token)


async def test_a_token_wechat_never_issued_is_refused(platform: AiohttpWeChatPlatform) -> None:
    with pytest.raises(AccessTokenInvalid, match="40001"):
        await platform.phone_number("made-up-token", "phone-13800138000")


async def test_the_provider_recovers_from_a_revoked_token_over_http(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform
) -> None:
    clock = FakeClock()
    provider = AccessTokenProvider(
        platform=platform, cache=InMemoryAccessTokenCache(clock=clock), clock=clock
    )
    await provider.get()
    wechat_simulator.sim.expire_access_token()

    phone = await provider.call_with_token(
        lambda token: platform.phone_number(token, "phone-13800138000")
    )

    assert phone == PhoneNumber("13800138000", "86")
    assert wechat_simulator.sim.token_fetches == 2


# ---- getuserphonenumber ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("phone-13800138000", PhoneNumber("13800138000", "86")),
        ("phone-1-2025550123", PhoneNumber("2025550123", "1")),
        ("phone-852-61234567", PhoneNumber("61234567", "852")),
    ],
)
async def test_a_phone_code_gives_its_number(
    platform: AiohttpWeChatPlatform, code: str, expected: PhoneNumber
) -> None:
    token = (await platform.stable_token()).value

    assert await platform.phone_number(token, code) == expected


@pytest.mark.parametrize("code", ["invalid-1", "nonsense", "phone-12"])
async def test_a_bad_phone_code_is_an_invalid_phone_code(
    platform: AiohttpWeChatPlatform, code: str
) -> None:
    token = (await platform.stable_token()).value

    with pytest.raises(InvalidPhoneCode):
        await platform.phone_number(token, code)


async def test_a_phone_code_works_once(platform: AiohttpWeChatPlatform) -> None:
    token = (await platform.stable_token()).value
    await platform.phone_number(token, "phone-13800138000")

    with pytest.raises(InvalidPhoneCode):
        await platform.phone_number(token, "phone-13800138000")


async def test_a_busy_phone_lookup_is_wechat_busy(platform: AiohttpWeChatPlatform) -> None:
    token = (await platform.stable_token()).value

    with pytest.raises(WeChatBusy):
        await platform.phone_number(token, "busy-1")


async def test_the_simulator_refuses_a_form_encoded_phone_request(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform
) -> None:
    token = (await platform.stable_token()).value
    url = f"{wechat_simulator.base_url}/wxa/business/getuserphonenumber"
    async with aiohttp.ClientSession() as client:
        async with client.post(
            url, params={"access_token": token}, data={"code": "phone-13800138000"}
        ) as resp:
            assert orjson.loads(await resp.read())["errcode"] == 47001
        async with client.post(url, params={"access_token": token}) as resp:
            assert orjson.loads(await resp.read())["errcode"] == 44002


# ---- checksession ------------------------------------------------------------------------------


async def test_only_the_newest_session_key_of_a_user_checks_valid(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform
) -> None:
    async with asynccontextmanager(open_client_session)(timeout=1.0) as session:
        gateway = AiohttpWeChatGateway(
            session, base_url=wechat_simulator.base_url, appid=SIM_APPID, secret=SIM_SECRET,
            timeout=1.0,
        )
        older = await gateway.code_to_session("alice:1")
        token = (await platform.stable_token()).value
        assert await platform.check_session(token, older.openid, signature_of(older.session_key))

        newer = await gateway.code_to_session("alice:2")

    assert await platform.check_session(token, newer.openid, signature_of(newer.session_key))
    assert not await platform.check_session(token, older.openid, signature_of(older.session_key))
    assert not await platform.check_session(token, newer.openid, signature_of("other"))
    assert not await platform.check_session(token, "o" + "y" * 27, signature_of("other"))


# ---- subscribe/send -----------------------------------------------------------------------------


@pytest.fixture
def subscriber(wechat_simulator: RunningSimulator) -> str:
    """The openid of a user the simulator knows, and the template it knows."""
    wechat_simulator.sim.templates[TEMPLATE] = {"thing1", "number2", "time3"}
    return wechat_simulator.sim.openid_for("alice")


FIELDS = {"thing1": "商品已发货", "number2": "42", "time3": "2024-01-01 10:00"}


async def test_a_subscribed_user_gets_one_message_per_subscription(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform, subscriber: str
) -> None:
    token = (await platform.stable_token()).value
    wechat_simulator.sim.subscriptions.add((subscriber, TEMPLATE))

    await platform.send_subscribe_message(token, message_to(subscriber, **FIELDS))

    [sent] = wechat_simulator.sim.sent
    assert sent == {
        "touser": subscriber,
        "template_id": TEMPLATE,
        "data": {name: {"value": value} for name, value in FIELDS.items()},
        "page": "pages/order/detail?id=7",
        "miniprogram_state": "developer",
        "lang": "zh_CN",
    }
    with pytest.raises(NotSubscribed):
        await platform.send_subscribe_message(token, message_to(subscriber, **FIELDS))


async def test_a_user_who_did_not_subscribe_is_not_subscribed(
    platform: AiohttpWeChatPlatform, subscriber: str
) -> None:
    token = (await platform.stable_token()).value

    with pytest.raises(NotSubscribed) as raised:
        await platform.send_subscribe_message(token, message_to(subscriber, **FIELDS))

    assert raised.value.code == "not_subscribed"


@pytest.mark.parametrize(
    ("changes", "errcode", "errmsg"),
    [
        ({"template_id": "tmpl-unknown"}, 40037, "invalid template_id"),
        ({"data": FIELDS | {"thing1": "x" * 21}}, 47003, "data.thing1.value invalid"),
        ({"data": FIELDS | {"number2": "forty-two"}}, 47003, "data.number2.value invalid"),
        ({"data": {"thing1": "a", "number2": "1"}}, 47003, "data.time3.value invalid"),
        ({"lang": "fr_FR"}, 47003, "lang invalid"),
        ({"page": "pages/unknown"}, 41030, "invalid page"),
    ],
)
async def test_template_errors_carry_wechats_message_without_its_request_id(
    wechat_simulator: RunningSimulator, platform: AiohttpWeChatPlatform, subscriber: str,
    changes: dict[str, Any], errcode: int, errmsg: str,
) -> None:
    token = (await platform.stable_token()).value
    wechat_simulator.sim.subscriptions.add((subscriber, TEMPLATE))
    wechat_simulator.sim.pages = {"pages/order/detail"}
    fields = {"template_id": TEMPLATE, "page": "pages/order/detail?id=7", "data": FIELDS} | changes
    message = SubscribeMessage(
        touser=subscriber,
        template_id=fields["template_id"],
        data={name: {"value": value} for name, value in fields["data"].items()},
        page=fields["page"],
        lang=fields.get("lang"),
    )

    with pytest.raises(InvalidTemplate) as raised:
        await platform.send_subscribe_message(token, message)

    prefix = "argument invalid! " if errcode == 47003 else ""
    assert str(raised.value) == f"WeChat refused the message (errcode {errcode}): {prefix}{errmsg}"
    assert raised.value.code == "invalid_template"
    assert wechat_simulator.sim.sent == []


async def test_an_openid_wechat_does_not_know_is_a_wechat_error_that_hides_it(
    platform: AiohttpWeChatPlatform, subscriber: str
) -> None:
    token = (await platform.stable_token()).value
    bad_openid = "not-an-openid-7f3a"

    with pytest.raises(WeChatError, match="40003") as raised:
        await platform.send_subscribe_message(token, message_to(bad_openid, **FIELDS))

    assert bad_openid not in exposed_text(raised.value)


# ---- lenient reading and transport failures, on a scripted server --------------------------------


@dataclass
class ScriptedWeChat:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "text/plain"
    delay: float = 0.0
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, dict(request.query), await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        response = web.Response(status=self.status, body=self.body)
        response.headers["Content-Type"] = self.content_type
        return response


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedWeChat, AiohttpWeChatPlatform]]:
    wechat = ScriptedWeChat()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", wechat.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with open_platform(base_url, timeout=0.3) as platform:
            yield wechat, platform
    finally:
        await runner.cleanup()


def body(**fields: object) -> bytes:
    return orjson.dumps(fields)


@pytest.mark.parametrize("country", ["86", 86])
async def test_the_country_code_is_read_as_a_string_or_a_number(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatPlatform], country: object
) -> None:
    wechat, platform = scripted
    wechat.body = body(errcode="0", errmsg="ok", phone_info={
        "phoneNumber": "13800138000", "purePhoneNumber": "13800138000", "countryCode": country,
        "watermark": {"appid": SIM_APPID, "timestamp": 1},
    })

    assert await platform.phone_number("T", "c") == PhoneNumber("13800138000", "86")
    path, query, sent = wechat.requests[0]
    assert (path, query, orjson.loads(sent)) == (
        "/wxa/business/getuserphonenumber", {"access_token": "T"}, {"code": "c"}
    )


@pytest.mark.parametrize(
    "answer",
    [
        body(errcode=0, phone_info={"purePhoneNumber": "138-0013", "countryCode": "86"}),
        body(errcode=0, phone_info={"countryCode": "86"}),
        body(errcode=0),
    ],
    ids=["not-digits", "no-number", "no-info"],
)
async def test_an_unusable_phone_answer_is_a_wechat_error(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatPlatform], answer: bytes
) -> None:
    wechat, platform = scripted
    wechat.body = answer

    with pytest.raises(WeChatError):
        await platform.phone_number("T", "c")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (body(errcode="40029", errmsg="invalid code rid: 1-2-3"), InvalidPhoneCode),
        (body(errcode=-1, errmsg="system error"), WeChatBusy),
        (body(errcode=45011, errmsg="minute quota"), WeChatRateLimited),
        (body(errcode=40014, errmsg="invalid access_token"), AccessTokenInvalid),
        (body(errcode=48001, errmsg="api unauthorized"), WeChatError),
        (b"<html>busy</html>", WeChatError),
        (b"[1, 2]", WeChatError),
    ],
)
async def test_each_answer_of_getuserphonenumber_maps_to_its_failure(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatPlatform], answer: bytes,
    expected: type[WeChatFailure],
) -> None:
    wechat, platform = scripted
    wechat.body = answer

    with pytest.raises(expected):
        await platform.phone_number("T", "c")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (body(errcode=40001, errmsg="AppSecret wrong"), WeChatError),
        (body(errcode=-1), WeChatBusy),
        (body(access_token="T"), WeChatError),
        (body(access_token="", expires_in=7200), WeChatError),
        (body(access_token="T", expires_in="soon"), WeChatError),
    ],
    ids=["40001-is-no-token-refusal", "busy", "no-expiry", "empty-token", "bad-expiry"],
)
async def test_each_bad_answer_of_stable_token_maps_to_its_failure(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatPlatform], answer: bytes,
    expected: type[WeChatFailure],
) -> None:
    wechat, platform = scripted
    wechat.body = answer

    with pytest.raises(expected) as raised:
        await platform.stable_token()

    assert not isinstance(raised.value, AccessTokenInvalid)


async def test_stable_token_sends_a_json_body_and_reads_a_string_expiry(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatPlatform],
) -> None:
    wechat, platform = scripted
    wechat.body = b"\xef\xbb\xbf" + body(access_token="T", expires_in="7200")

    issued = await platform.stable_token(force_refresh=True)

    assert (issued.value, issued.expires_in) == ("T", 7200)
    path, query, sent = wechat.requests[0]
    assert (path, query) == ("/cgi-bin/stable_token", {})
    assert orjson.loads(sent) == {
        "grant_type": "client_credential", "appid": SIM_APPID, "secret": SIM_SECRET,
        "force_refresh": True,
    }


@pytest.mark.parametrize(
    "errmsg",
    [
        "invalid template_id rid: 66bdb248-1fa23ff9-58483015",
        "invalid template_id hint: [Xyz0] rid: 66bdb248-1fa23ff9-58483015",
        "invalid template_id hints: [ req_id: AijFoqaLRa-pTFm4 ]",
        "invalid template_id",
    ],
)
async def test_a_template_error_message_loses_wechats_request_ids(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatPlatform], errmsg: str
) -> None:
    wechat, platform = scripted
    wechat.body = body(errcode=40037, errmsg=errmsg)

    with pytest.raises(InvalidTemplate) as raised:
        await platform.send_subscribe_message("T", message_to("oOpen", thing1="x"))

    assert str(raised.value) == "WeChat refused the message (errcode 40037): invalid template_id"


async def test_checksession_sends_its_query_and_reads_87009_as_invalid(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatPlatform],
) -> None:
    wechat, platform = scripted
    wechat.body = body(errcode="87009", errmsg="invalid signature")

    assert await platform.check_session("T", "oOpen", "abc") is False
    assert wechat.requests[0][:2] == (
        "/wxa/checksession",
        {"access_token": "T", "openid": "oOpen", "signature": "abc", "sig_method": "hmac_sha256"},
    )


async def test_an_http_error_status_is_a_wechat_error(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatPlatform],
) -> None:
    wechat, platform = scripted
    wechat.status = 502

    with pytest.raises(WeChatError, match="HTTP 502"):
        await platform.send_subscribe_message("T", message_to("oOpen", thing1="x"))


async def test_a_silent_wechat_times_out(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatPlatform],
) -> None:
    wechat, platform = scripted
    wechat.delay = 2

    with pytest.raises(WeChatTimeout):
        await platform.check_session("T", "oOpen", "abc")


async def test_a_closed_port_is_a_wechat_error() -> None:
    async with open_platform(f"http://127.0.0.1:{free_port()}") as platform:
        with pytest.raises(WeChatError, match="could not be reached"):
            await platform.stable_token()


# ---- nothing secret in errors or logs ----------------------------------------------------------


async def test_no_failure_shows_the_secret_the_token_the_openid_or_the_signature(
    wechat_simulator: RunningSimulator, caplog: pytest.LogCaptureFixture, subscriber: str
) -> None:
    caplog.set_level(logging.DEBUG)
    signature = signature_of("SeSsIoNkEy0123456789ab==")
    errors: list[BaseException] = []
    async with open_platform(wechat_simulator.base_url) as platform:
        token = (await platform.stable_token()).value
        calls: list[Callable[[str], Awaitable[object]]] = [
            lambda t: platform.phone_number(t, "invalid-9"),
            lambda t: platform.phone_number(t, "busy-9"),
            lambda t: platform.send_subscribe_message(t, message_to(subscriber, **FIELDS)),
            lambda t: platform.send_subscribe_message(t, message_to(subscriber, thing1="x" * 30)),
            lambda t: platform.check_session(t, subscriber, signature),
        ]
        wechat_simulator.sim.expire_access_token()
        for call in calls:
            for attempt in (token, (await platform.stable_token()).value):
                try:
                    await call(attempt)
                except WeChatFailure as error:
                    errors.append(error)
    async with open_platform(f"http://127.0.0.1:{free_port()}") as platform:
        for call in (
            lambda: platform.check_session(token, subscriber, signature),
            platform.stable_token,
        ):
            with pytest.raises(WeChatError) as raised:
                await call()
            errors.append(raised.value)

    assert len(errors) >= 10
    text = "".join(exposed_text(error) for error in errors) + caplog.text
    for secret in (SIM_SECRET, token, subscriber, signature):
        assert secret not in text
    assert all(error.__cause__ is None for error in errors)
