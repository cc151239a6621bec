"""The WeChat platform features: every documented row over real HTTP, on real Redis and
MariaDB, with the WeChat simulator served on loopback."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.wechat_simulator import SIM_APPID, SIM_SECRET
from tests.serving import make_container, serve

pytestmark = pytest.mark.integration

ADMIN_TOKEN = "admin-token-0123456789abcdef-01234567"
TEMPLATE = "tmpl-order-shipped"


@dataclass
class Platform:
    url: str
    http: aiohttp.ClientSession
    sim: Any
    mariadb_url: str

    async def login(self, user: str, n: int = 1) -> dict[str, Any]:
        async with self.http.post(
            f"{self.url}/api/v1/login", json={"code": f"{user}:{n}"}
        ) as response:
            assert response.status == 200
            body: dict[str, Any] = await response.json()
            return body

    async def call(self, method: str, path: str, *, token: str | None = None,
                   body: Any = None, data: bytes | None = None) -> tuple[int, Any, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        kwargs: dict[str, Any] = {"headers": headers}
        if data is not None:
            kwargs["data"] = data
        elif body is not None:
            kwargs["json"] = body
        async with self.http.request(method, f"{self.url}{path}", **kwargs) as response:
            return response.status, await response.json(content_type=None), response.headers


def platform_env(redis_url: str, mariadb_url: str, sim_url: str, **extra: str) -> dict[str, str]:
    return {
        "WECHAT_APPID": SIM_APPID, "WECHAT_SECRET": SIM_SECRET, "WECHAT_API_BASE": sim_url,
        "WECHAT_TIMEOUT_SECONDS": "1", "REDIS_URL": redis_url, "DATABASE_URL": mariadb_url,
        "LOGIN_RATE_PER_MINUTE": "0", "ADMIN_TOKEN": ADMIN_TOKEN, **extra,
    }


@pytest.fixture
async def platform(redis_url: str, mariadb_url: str, wechat_simulator: Any
                   ) -> AsyncIterator[Platform]:
    container = make_container(platform_env(redis_url, mariadb_url, wechat_simulator.base_url))
    async with serve(container) as url, aiohttp.ClientSession() as http:
        yield Platform(url=url, http=http, sim=wechat_simulator.sim, mariadb_url=mariadb_url)


def assert_error(answer: tuple[int, Any, Any], status: int, code: str) -> None:
    got_status, body, _ = answer
    assert (got_status, body["error"]["code"]) == (status, code), body


def always_refuse_tokens(sim: Any) -> None:
    sim._token_error = lambda request: 40001


# ---- the shared access_token ---------------------------------------------------------------

async def test_a_stale_access_token_is_dropped_refreshed_once_and_the_call_retried(
    platform: Platform,
) -> None:
    login = await platform.login("alice")
    assert (await platform.call("POST", "/api/v1/me/phone", token=login["token"],
                                body={"code": "phone-13800138000"}))[0] == 200
    platform.sim.expire_access_token()
    status, _, _ = await platform.call("POST", "/api/v1/me/phone", token=login["token"],
                                       body={"code": "phone-13900139000"})
    assert status == 200
    assert platform.sim.token_fetches == 2


async def test_a_token_refused_twice_is_502_wechat_error(platform: Platform) -> None:
    login = await platform.login("alice")
    always_refuse_tokens(platform.sim)
    answer = await platform.call("POST", "/api/v1/me/phone", token=login["token"],
                                 body={"code": "phone-13800138000"})
    assert_error(answer, 502, "platform_error")


async def test_login_never_fetches_an_access_token(platform: Platform) -> None:
    await platform.login("alice")
    await platform.login("bob")
    assert platform.sim.token_fetches == 0


# ---- POST /api/v1/me/phone -----------------------------------------------------------------

async def test_phone_returns_the_number_in_e164_and_stores_it_on_the_user(
    platform: Platform,
) -> None:
    login = await platform.login("alice")
    status, body, _ = await platform.call("POST", "/api/v1/me/phone", token=login["token"],
                                          body={"code": "phone-13800138000"})
    assert status == 200
    assert body == {"phone": {"phone_number": "+8613800138000",
                              "pure_phone_number": "13800138000", "country_code": "86"}}
    engine = create_async_engine(platform.mariadb_url)
    try:
        async with engine.connect() as connection:
            stored = await connection.scalar(
                text("SELECT phone FROM users WHERE id = :id"), {"id": login["user"]["id"]}
            )
    finally:
        await engine.dispose()
    assert stored == "+8613800138000"


@pytest.mark.parametrize("body", [{}, {"code": 5}, {"code": ""}, {"code": "a b"}, [1]])
async def test_phone_with_a_malformed_body_is_400(platform: Platform, body: Any) -> None:
    login = await platform.login("alice")
    answer = await platform.call("POST", "/api/v1/me/phone", token=login["token"], body=body)
    assert_error(answer, 400, "invalid_request")


async def test_phone_without_a_token_is_401(platform: Platform) -> None:
    answer = await platform.call("POST", "/api/v1/me/phone", body={"code": "phone-1380013800"})
    assert_error(answer, 401, "unauthorized")


@pytest.mark.parametrize("code", ["invalid-1", "not-a-phone-code"])
async def test_phone_with_a_code_wechat_rejects_is_422_invalid_phone_code(
    platform: Platform, code: str
) -> None:
    login = await platform.login("alice")
    answer = await platform.call("POST", "/api/v1/me/phone", token=login["token"],
                                 body={"code": code})
    assert_error(answer, 422, "invalid_phone_code")


async def test_phone_with_a_busy_wechat_is_503_and_not_retried(platform: Platform) -> None:
    login = await platform.login("alice")
    status, body, headers = await platform.call("POST", "/api/v1/me/phone",
                                                token=login["token"], body={"code": "busy-1"})
    assert (status, body["error"]["code"]) == (503, "platform_busy")
    assert headers["Retry-After"] == "1"


async def test_phone_with_a_slow_wechat_is_504(platform: Platform) -> None:
    login = await platform.login("alice")
    platform.sim.latency = 1.5
    answer = await platform.call("POST", "/api/v1/me/phone", token=login["token"],
                                 body={"code": "phone-13800138000"})
    assert_error(answer, 504, "platform_timeout")


# ---- POST /api/v1/me/decrypt ---------------------------------------------------------------

def encrypt(session_key: str, payload: dict[str, Any], iv: bytes | None = None) -> dict[str, str]:
    iv = iv or os.urandom(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(orjson.dumps(payload)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(base64.b64decode(session_key)), modes.CBC(iv)).encryptor()
    data = encryptor.update(plain) + encryptor.finalize()
    return {"encrypted_data": base64.b64encode(data).decode(), "iv": base64.b64encode(iv).decode()}


def profile(appid: str = SIM_APPID) -> dict[str, Any]:
    return {"nickName": "Band", "watermark": {"appid": appid, "timestamp": 1477314187}}


async def alice_and_key(platform: Platform) -> tuple[dict[str, Any], str]:
    login = await platform.login("alice")
    return login, platform.sim.session_keys[platform.sim.openid_for("alice")]


async def test_decrypt_returns_the_decrypted_object(platform: Platform) -> None:
    login, key = await alice_and_key(platform)
    status, body, _ = await platform.call("POST", "/api/v1/me/decrypt", token=login["token"],
                                          body=encrypt(key, profile()))
    assert (status, body) == (200, {"data": profile()})


async def test_decrypt_repairs_base64_whose_plus_became_spaces(platform: Platform) -> None:
    login, key = await alice_and_key(platform)
    for attempt in range(64):
        body = encrypt(key, {**profile(), "n": attempt})
        if "+" in body["encrypted_data"]:
            break
    mangled = {name: value.replace("+", " ") for name, value in body.items()}
    status, _, _ = await platform.call("POST", "/api/v1/me/decrypt", token=login["token"],
                                       body=mangled)
    assert status == 200


async def test_decrypt_checks_the_raw_data_signature(platform: Platform) -> None:
    login, key = await alice_and_key(platform)
    raw = '{"nickName":"Band"}'
    good = hashlib.sha1((raw + key).encode()).hexdigest()
    body = {**encrypt(key, profile()), "raw_data": raw, "signature": good}
    assert (await platform.call("POST", "/api/v1/me/decrypt", token=login["token"],
                                body=body))[0] == 200
    body["signature"] = "0" * 40
    assert_error(await platform.call("POST", "/api/v1/me/decrypt", token=login["token"],
                                     body=body), 422, "signature_mismatch")


@pytest.mark.parametrize(
    "change",
    [{"encrypted_data": "***not base64***"}, {"iv": base64.b64encode(b"short").decode()},
     {"raw_data": "{}"}, {"signature": "abc"}, {"encrypted_data": None}, {"iv": 16}],
)
async def test_decrypt_with_a_malformed_body_is_400(platform: Platform, change: dict[str, Any]
                                                    ) -> None:
    login, key = await alice_and_key(platform)
    body = {**encrypt(key, profile()), **change}
    body = {name: value for name, value in body.items() if value is not None}
    assert_error(await platform.call("POST", "/api/v1/me/decrypt", token=login["token"],
                                     body=body), 400, "invalid_request")


async def test_decrypt_without_a_token_is_401(platform: Platform) -> None:
    assert_error(await platform.call("POST", "/api/v1/me/decrypt", body={"iv": "x"}),
                 401, "unauthorized")


async def test_decrypt_with_a_stale_session_key_is_422_decrypt_failed(platform: Platform) -> None:
    login, old_key = await alice_and_key(platform)
    await platform.login("alice", 2)  # WeChat rotates the session_key
    assert_error(await platform.call("POST", "/api/v1/me/decrypt", token=login["token"],
                                     body=encrypt(old_key, profile())), 422, "decrypt_failed")


async def test_decrypt_of_another_apps_data_is_422_watermark_mismatch(platform: Platform) -> None:
    login, key = await alice_and_key(platform)
    assert_error(await platform.call("POST", "/api/v1/me/decrypt", token=login["token"],
                                     body=encrypt(key, profile("wx-other-app"))),
                 422, "watermark_mismatch")


# ---- GET /api/v1/me/session-key ------------------------------------------------------------

async def test_session_key_is_valid_after_login(platform: Platform) -> None:
    login = await platform.login("alice")
    status, body, _ = await platform.call("GET", "/api/v1/me/session-key", token=login["token"])
    assert (status, body) == (200, {"valid": True})


async def test_session_key_is_invalid_once_wechat_rotated_it(platform: Platform) -> None:
    login = await platform.login("alice")
    platform.sim.session_keys[platform.sim.openid_for("alice")] = "cm90YXRlZC1lbHNld2hlcmU="
    status, body, _ = await platform.call("GET", "/api/v1/me/session-key", token=login["token"])
    assert (status, body) == (200, {"valid": False})


async def test_session_key_without_a_token_is_401(platform: Platform) -> None:
    assert_error(await platform.call("GET", "/api/v1/me/session-key"), 401, "unauthorized")


# ---- POST /api/v1/admin/messages -----------------------------------------------------------

def message(user_id: int, **extra: Any) -> dict[str, Any]:
    return {"user_id": user_id, "template_id": TEMPLATE,
            "data": {"thing1": {"value": "Your order shipped"}}, **extra}


async def send(platform: Platform, body: Any, token: str | None = ADMIN_TOKEN
               ) -> tuple[int, Any, Any]:
    return await platform.call("POST", "/api/v1/admin/messages", token=token, body=body)


async def subscribed_alice(platform: Platform) -> int:
    login = await platform.login("alice")
    platform.sim.templates[TEMPLATE] = {"thing1"}
    platform.sim.subscriptions.add((platform.sim.openid_for("alice"), TEMPLATE))
    user_id: int = login["user"]["id"]
    return user_id


async def test_a_subscribe_message_is_sent_to_the_users_openid(platform: Platform) -> None:
    user_id = await subscribed_alice(platform)
    status, body, _ = await send(platform, message(user_id, page="pages/order?id=1",
                                                   miniprogram_state="trial", lang="en_US"))
    assert (status, body) == (200, {"sent": True})
    assert len(platform.sim.sent) == 1
    assert platform.sim.sent[0]["touser"] == platform.sim.openid_for("alice")
    assert platform.sim.sent[0]["miniprogram_state"] == "trial"


async def test_a_second_message_on_a_one_time_subscription_is_422_not_subscribed(
    platform: Platform,
) -> None:
    user_id = await subscribed_alice(platform)
    assert (await send(platform, message(user_id)))[0] == 200
    assert_error(await send(platform, message(user_id)), 422, "not_subscribed")


async def test_an_unknown_template_is_422_invalid_template(platform: Platform) -> None:
    user_id = await subscribed_alice(platform)
    assert_error(await send(platform, {**message(user_id), "template_id": "nope"}),
                 422, "invalid_template")


async def test_an_invalid_template_value_is_422_with_wechats_message(platform: Platform) -> None:
    user_id = await subscribed_alice(platform)
    status, body, _ = await send(
        platform, {**message(user_id), "data": {"thing1": {"value": "x" * 21}}}
    )
    assert (status, body["error"]["code"]) == (422, "invalid_template")
    assert "thing1" in body["error"]["message"]
    assert "rid" not in body["error"]["message"]


async def test_an_unknown_user_is_404_unknown_user(platform: Platform) -> None:
    assert_error(await send(platform, message(424242)), 404, "unknown_user")


@pytest.mark.parametrize(
    "body",
    [{}, {"user_id": "1", "template_id": TEMPLATE, "data": {}}, message(True),
     {**message(1), "data": "x"}, {**message(1), "template_id": ""},
     {**message(1), "miniprogram_state": "beta"}, {**message(1), "lang": "fr"},
     {**message(1), "page": 5}, message(2**63)],
)
async def test_a_malformed_message_is_400(platform: Platform, body: Any) -> None:
    await subscribed_alice(platform)
    assert_error(await send(platform, body), 400, "invalid_request")


@pytest.mark.parametrize("token", [None, "wrong-admin-token-0000", ADMIN_TOKEN + "x"])
async def test_a_wrong_admin_token_is_401(platform: Platform, token: str | None) -> None:
    user_id = await subscribed_alice(platform)
    assert_error(await send(platform, message(user_id), token=token), 401, "unauthorized")


async def test_a_users_token_is_not_an_admin_token(platform: Platform) -> None:
    user_id = await subscribed_alice(platform)
    login = await platform.login("alice", 2)
    assert_error(await send(platform, message(user_id), token=login["token"]),
                 401, "unauthorized")


async def test_messages_with_a_slow_wechat_are_504(platform: Platform) -> None:
    user_id = await subscribed_alice(platform)
    platform.sim.latency = 1.5
    assert_error(await send(platform, message(user_id)), 504, "platform_timeout")


async def test_messages_with_a_refused_token_are_502(platform: Platform) -> None:
    user_id = await subscribed_alice(platform)
    always_refuse_tokens(platform.sim)
    assert_error(await send(platform, message(user_id)), 502, "platform_error")
    assert platform.sim.sent == []


async def test_without_admin_token_the_back_office_is_404(
    redis_url: str, mariadb_url: str, wechat_simulator: Any
) -> None:
    env = platform_env(redis_url, mariadb_url, wechat_simulator.base_url)
    del env["ADMIN_TOKEN"]
    async with (
        serve(make_container(env)) as url,
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/admin/messages", json=message(1),
                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as response,
    ):
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
