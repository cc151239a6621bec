"""The platform use cases on the in-memory adapters: phone, decrypt, session-key check, messages."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from adapters.crypto import CryptographyCipher
from adapters.memory import (
    InMemoryCodeExchangeRegistry,
    InMemorySessionStore,
    InMemoryUserRepository,
    InMemoryWeChatGateway,
)
from adapters.memory.platform import (
    InMemoryAccessTokenCache,
    InMemoryUserPhones,
    InMemoryWeChatPlatform,
)
from domain.access_token import AccessTokenProvider, TokenTimings
from domain.apps import AppDirectory, AppServices
from domain.code_exchange import CodeExchange
from domain.entities import App, Identity, LoginSession, User, WeChatSession
from domain.errors import InvalidRequest, Unauthorized, UnsupportedByPlatform, WeChatBusy
from domain.platform import PhoneNumber
from domain.platform_errors import (
    DecryptFailed,
    InvalidPhoneCode,
    NotSubscribed,
    SignatureMismatch,
    UnknownUser,
    WatermarkMismatch,
)
from domain.ports import NewLogin
from domain.use_cases.check_session_key import CheckSessionKeyRequest, CheckSessionKeyUseCase
from domain.use_cases.decrypt import DecryptRequest, DecryptUseCase
from domain.use_cases.phone import GetPhoneNumberRequest, GetPhoneNumberUseCase
from domain.use_cases.send_message import SendMessageRequest, SendMessageUseCase
from tests.fakes import FakeClock

APPID = "wx-test-app"
OPENID = "oAlice00000000000000000000000"
KEY_1 = base64.b64encode(b"1" * 16).decode()
KEY_2 = base64.b64encode(b"2" * 16).decode()
TEMPLATE = "tmpl-order-shipped"


@dataclass
class Platform:
    clock: FakeClock
    wechat: InMemoryWeChatPlatform
    users: InMemoryUserRepository
    sessions: InMemorySessionStore
    phones: InMemoryUserPhones
    tokens: AccessTokenProvider
    user: User

    async def log_in(self, session_key: str) -> None:
        """A login of the user: the store and WeChat both know its newest session_key."""
        now = self.clock.now()
        session = LoginSession(self.user.id, self.user.created_at, now, now + 100, now + 1000)
        wechat = WeChatSession(OPENID, session_key)
        await self.sessions.record_login(
            NewLogin(session, session_key, session_key.encode(), wechat)
        )
        self.wechat.session_keys[OPENID] = session_key

    @property
    def apps(self) -> AppDirectory:
        """The WeChat app ``default`` and an Alipay app ``pay`` (no such features)."""
        unused = CodeExchange(
            gateway=InMemoryWeChatGateway(), registry=InMemoryCodeExchangeRegistry(clock=self.clock)
        )
        return AppDirectory(
            [
                AppServices(App("default", "wechat", APPID), unused, self.wechat, self.tokens),
                AppServices(App("pay", "alipay", "2021000000000000"), unused),
            ]
        )

    def phone(self) -> GetPhoneNumberUseCase:
        return GetPhoneNumberUseCase(apps=self.apps, phones=self.phones)

    def decrypt(self) -> DecryptUseCase:
        return DecryptUseCase(sessions=self.sessions, cipher=CryptographyCipher(), apps=self.apps)

    def check(self) -> CheckSessionKeyUseCase:
        return CheckSessionKeyUseCase(apps=self.apps, users=self.users, sessions=self.sessions)

    def send(self) -> SendMessageUseCase:
        return SendMessageUseCase(apps=self.apps, users=self.users)


@pytest.fixture
async def world(clock: FakeClock) -> Platform:
    wechat = InMemoryWeChatPlatform()
    users = InMemoryUserRepository()
    user, _ = await users.get_or_create(Identity("wechat", APPID, OPENID), now=clock.now())
    return Platform(
        clock=clock,
        wechat=wechat,
        users=users,
        sessions=InMemorySessionStore(
            clock=clock,
            session_secret="s" * 32,
            registry=InMemoryCodeExchangeRegistry(clock=clock),
        ),
        phones=InMemoryUserPhones(),
        tokens=AccessTokenProvider(
            platform=wechat,
            cache=InMemoryAccessTokenCache(clock=clock),
            clock=clock,
            timings=TokenTimings(poll_interval=0.001),
        ),
        user=user,
    )


# ---- phone number ----------------------------------------------------------------------------


async def test_the_phone_number_is_returned_and_stored_on_the_user_in_e164(
    world: Platform,
) -> None:
    world.wechat.phones["phone-code-1"] = PhoneNumber("13800138000", "86")

    phone = await world.phone().execute(
        GetPhoneNumberRequest(world.user.id, "default", "phone-code-1")
    )

    assert (phone.e164, phone.pure_phone_number, phone.country_code) == (
        "+8613800138000",
        "13800138000",
        "86",
    )
    assert world.phones.phones == {world.user.id: "+8613800138000"}


async def test_a_used_or_unknown_phone_code_is_an_invalid_phone_code(world: Platform) -> None:
    world.wechat.phones["phone-code-1"] = PhoneNumber("13800138000", "86")
    await world.phone().execute(GetPhoneNumberRequest(world.user.id, "default", "phone-code-1"))

    for code in ("phone-code-1", "never-issued"):
        with pytest.raises(InvalidPhoneCode) as raised:
            await world.phone().execute(GetPhoneNumberRequest(world.user.id, "default", code))
        assert raised.value.code == "invalid_phone_code"


@pytest.mark.parametrize("code", ["", "has space", "x" * 129, "中文"])
async def test_a_malformed_phone_code_is_refused_before_wechat_is_asked(
    world: Platform, code: str
) -> None:
    with pytest.raises(InvalidRequest):
        await world.phone().execute(GetPhoneNumberRequest(world.user.id, "default", code))

    assert world.wechat.calls == []
    assert world.wechat.token_fetches == 0


async def test_a_busy_wechat_leaves_the_phone_unsaved_and_is_not_retried(world: Platform) -> None:
    world.wechat.phones["phone-code-1"] = PhoneNumber("13800138000", "86")
    world.wechat.fail_next("phone_number", WeChatBusy())

    with pytest.raises(WeChatBusy):
        await world.phone().execute(GetPhoneNumberRequest(world.user.id, "default", "phone-code-1"))

    assert world.phones.phones == {}
    assert len(world.wechat.calls) == 1


async def test_a_phone_lookup_with_a_revoked_token_is_retried_with_a_new_one(
    world: Platform,
) -> None:
    world.wechat.phones["phone-code-1"] = PhoneNumber("2025550123", "1")
    await world.tokens.get()
    world.wechat.revoke_tokens()

    phone = await world.phone().execute(
        GetPhoneNumberRequest(world.user.id, "default", "phone-code-1")
    )

    assert phone.e164 == "+12025550123"
    assert world.wechat.token_fetches == 2


# ---- decrypt ---------------------------------------------------------------------------------


def encrypt(data: dict[str, Any], session_key: str) -> tuple[str, str]:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(json.dumps(data).encode()) + padder.finalize()
    iv = b"\x42" * 16
    encryptor = Cipher(algorithms.AES(base64.b64decode(session_key)), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode(), base64.b64encode(iv).decode()


PROFILE = {"nickName": "Alice", "watermark": {"appid": APPID, "timestamp": 1700000000}}


async def test_data_is_decrypted_with_the_users_newest_session_key(world: Platform) -> None:
    await world.log_in(KEY_1)
    older = encrypt(PROFILE, KEY_1)
    await world.log_in(KEY_2)
    newer = encrypt(PROFILE, KEY_2)

    decrypted = await world.decrypt().execute(DecryptRequest(world.user.id, "default", *newer))

    assert decrypted.data == PROFILE
    with pytest.raises(DecryptFailed):
        await world.decrypt().execute(DecryptRequest(world.user.id, "default", *older))


async def test_without_a_kept_session_key_decryption_fails_asking_for_a_new_login(
    world: Platform,
) -> None:
    with pytest.raises(DecryptFailed, match="log in again"):
        await world.decrypt().execute(
            DecryptRequest(world.user.id, "default", *encrypt(PROFILE, KEY_1))
        )


async def test_a_raw_data_signature_is_checked_against_the_session_key(world: Platform) -> None:
    await world.log_in(KEY_1)
    raw_data = '{"nickName":"Alice"}'
    signature = hashlib.sha1((raw_data + KEY_1).encode()).hexdigest()
    encrypted_data, iv = encrypt(PROFILE, KEY_1)

    decrypted = await world.decrypt().execute(
        DecryptRequest(world.user.id, "default", encrypted_data, iv, raw_data, signature)
    )

    assert decrypted.data == PROFILE
    with pytest.raises(SignatureMismatch):
        await world.decrypt().execute(
            DecryptRequest(world.user.id, "default", encrypted_data, iv, raw_data + " ", signature)
        )


@pytest.mark.parametrize(("raw_data", "signature"), [("{}", None), (None, "ab" * 20)])
async def test_raw_data_and_signature_come_both_or_neither(
    world: Platform, raw_data: str | None, signature: str | None
) -> None:
    await world.log_in(KEY_1)

    with pytest.raises(InvalidRequest, match="both or neither"):
        await world.decrypt().execute(
            DecryptRequest(world.user.id, "default", *encrypt(PROFILE, KEY_1), raw_data, signature)
        )


async def test_data_of_another_app_is_a_watermark_mismatch(world: Platform) -> None:
    await world.log_in(KEY_1)
    other = {"watermark": {"appid": "wx-other", "timestamp": 1}}

    with pytest.raises(WatermarkMismatch):
        await world.decrypt().execute(
            DecryptRequest(world.user.id, "default", *encrypt(other, KEY_1))
        )


# ---- session-key check -------------------------------------------------------------------------


async def test_the_newest_session_key_is_valid(world: Platform) -> None:
    await world.log_in(KEY_1)

    state = await world.check().execute(CheckSessionKeyRequest(world.user.id, "default"))

    assert state.valid is True
    assert [api for api, _ in world.wechat.calls] == ["check_session"]


async def test_a_session_key_that_wechat_rotated_is_invalid(world: Platform) -> None:
    await world.log_in(KEY_1)
    world.wechat.session_keys[OPENID] = KEY_2  # wx.login again, but no login at the service

    state = await world.check().execute(CheckSessionKeyRequest(world.user.id, "default"))

    assert state.valid is False


async def test_without_a_kept_session_key_it_is_invalid_and_wechat_is_not_asked(
    world: Platform,
) -> None:
    state = await world.check().execute(CheckSessionKeyRequest(world.user.id, "default"))

    assert state.valid is False
    assert world.wechat.calls == []


async def test_checking_the_session_key_of_a_vanished_user_is_unauthorized(
    world: Platform,
) -> None:
    with pytest.raises(Unauthorized):
        await world.check().execute(CheckSessionKeyRequest(world.user.id + 1, "default"))


# ---- subscribe messages ----------------------------------------------------------------------


def message(user_id: int, **changes: Any) -> SendMessageRequest:
    fields: dict[str, Any] = {
        "user_id": user_id,
        "template_id": TEMPLATE,
        "data": {"thing1": {"value": "Your order"}, "time2": {"value": "2024-01-01 10:00"}},
        "page": "pages/order/detail?id=7",
        "miniprogram_state": "formal",
        "lang": "zh_CN",
    }
    return SendMessageRequest(**(fields | changes))


async def test_a_message_goes_to_the_users_openid_and_uses_up_the_subscription(
    world: Platform,
) -> None:
    world.wechat.subscriptions.add((OPENID, TEMPLATE))

    await world.send().execute(message(world.user.id))

    [sent] = world.wechat.sent
    assert (sent.touser, sent.template_id) == (OPENID, TEMPLATE)
    assert sent.page == "pages/order/detail?id=7"
    assert sent.data["thing1"] == {"value": "Your order"}
    with pytest.raises(NotSubscribed) as raised:
        await world.send().execute(message(world.user.id))
    assert raised.value.code == "not_subscribed"


async def test_a_message_to_an_unknown_user_is_refused_before_wechat_is_asked(
    world: Platform,
) -> None:
    with pytest.raises(UnknownUser) as raised:
        await world.send().execute(message(world.user.id + 1))

    assert raised.value.code == "unknown_user"
    assert world.wechat.calls == []


@pytest.mark.parametrize(
    "changes",
    [
        {"data": {}},
        {"data": {"thing1": "not an object"}},
        {"data": {"thing1": {"value": 7}}},
        {"data": {"thing1": {}}},
        {"data": ["thing1"]},
        {"template_id": ""},
        {"page": ""},
        {"miniprogram_state": "production"},
        {"lang": "fr_FR"},
    ],
)
async def test_a_malformed_message_is_an_invalid_request(
    world: Platform, changes: dict[str, Any]
) -> None:
    world.wechat.subscriptions.add((OPENID, TEMPLATE))

    with pytest.raises(InvalidRequest):
        await world.send().execute(message(world.user.id, **changes))

    assert world.wechat.calls == []


async def test_optional_message_fields_may_be_left_out(world: Platform) -> None:
    world.wechat.subscriptions.add((OPENID, TEMPLATE))

    await world.send().execute(message(world.user.id, page=None, miniprogram_state=None, lang=None))

    assert world.wechat.sent[0].lang is None


async def test_a_busy_wechat_is_not_asked_again_so_no_message_goes_twice(
    world: Platform,
) -> None:
    world.wechat.subscriptions.add((OPENID, TEMPLATE))
    world.wechat.fail_next("send_subscribe_message", WeChatBusy())

    with pytest.raises(WeChatBusy):
        await world.send().execute(message(world.user.id))

    assert len(world.wechat.calls) == 1
    assert world.wechat.sent == []


async def test_a_message_refused_for_its_token_is_sent_once_with_a_new_token(
    world: Platform,
) -> None:
    world.wechat.subscriptions.add((OPENID, TEMPLATE))
    await world.tokens.get()
    world.wechat.revoke_tokens()

    await world.send().execute(message(world.user.id))

    assert len(world.wechat.sent) == 1
    assert len(world.wechat.calls) == 2


# ---- platforms without the feature -----------------------------------------------------------


async def test_features_an_apps_platform_lacks_are_unsupported(world: Platform) -> None:
    calls = [
        world.phone().execute(GetPhoneNumberRequest(world.user.id, "pay", "phone-code-1")),
        world.decrypt().execute(DecryptRequest(world.user.id, "pay", *encrypt(PROFILE, KEY_1))),
        world.check().execute(CheckSessionKeyRequest(world.user.id, "pay")),
        world.send().execute(message(world.user.id, app="pay")),
    ]
    for call in calls:
        with pytest.raises(UnsupportedByPlatform) as raised:
            await call
        assert raised.value.code == "unsupported_by_platform"
    assert world.wechat.token_fetches == 0
