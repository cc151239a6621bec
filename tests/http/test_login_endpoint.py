"""POST /api/v1/login: every documented row, over real HTTP, on the in-memory adapters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.memory import InMemoryCodeExchangeRegistry, InMemorySessionStore
from domain.errors import (
    InvalidCode,
    StoreUnavailable,
    UserBlocked,
    WeChatBusy,
    WeChatError,
    WeChatRateLimited,
    WeChatTimeout,
)
from tests.fakes import FakeClock
from tests.http.conftest import Service


async def post_login(service: Service, body: Any = None, *, data: bytes | str | None = None,
                     headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], Any]:
    kwargs: dict[str, Any] = {"headers": headers}
    if data is not None:
        kwargs["data"] = data
    else:
        kwargs["json"] = body
    async with service.http.post(f"{service.url}/api/v1/login", **kwargs) as response:
        return response.status, await response.json(content_type=None), response.headers


def assert_error(status: int, body: dict[str, Any], expected_status: int, code: str) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]


async def test_a_valid_code_logs_in_and_returns_the_token_in_body_and_header(
    service: Service,
) -> None:
    service.wechat.add_code("code-1", "openid-alice")
    status, body, headers = await post_login(service, {"code": "code-1"})

    assert status == 200
    assert set(body) == {"token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1000
    assert body["user"] == {"id": 1, "created": True}
    assert headers["Authorization"] == f"Bearer {body['token']}"
    assert headers["Content-Type"].startswith("application/json")


async def test_the_js_code_field_is_accepted_too(service: Service) -> None:
    service.wechat.add_code("code-1", "openid-alice")
    status, body, _ = await post_login(service, {"js_code": "code-1"})
    assert status == 200
    assert body["user"]["created"] is True


async def test_code_wins_when_both_code_and_js_code_are_given(service: Service) -> None:
    service.wechat.add_code("code-1", "openid-alice")
    status, _, _ = await post_login(service, {"code": "code-1", "js_code": "other-code"})
    assert status == 200
    assert service.wechat.calls == ["code-1"]


async def test_the_same_user_gets_the_same_id_and_created_false(service: Service) -> None:
    first = await service.login("code-1")
    second = await service.login("code-2")
    assert second["user"] == {"id": first["user"]["id"], "created": False}
    assert second["token"] != first["token"]


async def test_a_code_sent_twice_logs_in_twice_with_one_wechat_call(service: Service) -> None:
    service.wechat.add_code("code-1", "openid-alice")
    first = await post_login(service, {"code": "code-1"})
    again = await post_login(service, {"code": "code-1"})

    assert first[0] == again[0] == 200
    assert again[1]["user"]["id"] == first[1]["user"]["id"]
    assert again[1]["token"] != first[1]["token"]
    assert service.wechat.calls == ["code-1"]


async def test_concurrent_requests_with_one_code_all_succeed_with_one_wechat_call(
    service: Service,
) -> None:
    service.wechat.delay = 0.05
    service.wechat.add_code("code-1", "openid-alice")
    results = await asyncio.gather(*(post_login(service, {"code": "code-1"}) for _ in range(10)))

    assert [status for status, _, _ in results] == [200] * 10
    assert sum(body["user"]["created"] for _, body, _ in results) == 1
    assert len({body["token"] for _, body, _ in results}) == 10
    assert service.wechat.calls == ["code-1"]


MALFORMED_BODIES: list[tuple[str, bytes]] = [
    ("empty body", b""),
    ("whitespace only", b"   "),
    ("not json", b"code=abc"),
    ("truncated json", b'{"code": "abc"'),
    ("json null", b"null"),
    ("json array", b'["abc"]'),
    ("json string", b'"abc"'),
    ("json number", b"42"),
    ("json true", b"true"),
    ("empty object", b"{}"),
    ("code missing, other field", b'{"token": "abc"}'),
    ("code null", b'{"code": null}'),
    ("code number", b'{"code": 12345}'),
    ("code boolean", b'{"code": true}'),
    ("code array", b'{"code": ["abc"]}'),
    ("code object", b'{"code": {"v": "abc"}}'),
    ("code empty", b'{"code": ""}'),
    ("code too long", b'{"code": "' + b"a" * 129 + b'"}'),
    ("code with a space", b'{"code": "ab cd"}'),
    ("code with a tab", b'{"code": "ab\\tcd"}'),
    ("code with a newline", b'{"code": "abcd\\n"}'),
    ("code with a NUL", b'{"code": "ab\\u0000cd"}'),
    ("code with non-ascii", '{"code": "abc\u00e9"}'.encode()),
    ("code with emoji", '{"code": "abc\U0001f600"}'.encode()),
    ("code with DEL", b'{"code": "abc\\u007f"}'),
    ("js_code number", b'{"js_code": 5}'),
    ("js_code empty", b'{"js_code": ""}'),
    ("code null beside valid js_code", b'{"code": null, "js_code": "valid-code"}'),
    ("invalid utf-8", b'{"code": "\xff\xfe"}'),
    ("trailing garbage", b'{"code": "abc"} x'),
]


@pytest.mark.parametrize(("case", "data"), MALFORMED_BODIES, ids=[c for c, _ in MALFORMED_BODIES])
async def test_a_malformed_login_body_is_a_400_invalid_request(
    service: Service, case: str, data: bytes
) -> None:
    status, body, _ = await post_login(
        service, data=data, headers={"Content-Type": "application/json"}
    )
    assert_error(status, body, 400, "invalid_request")
    assert service.wechat.calls == []


async def test_a_code_of_128_printable_characters_is_accepted(service: Service) -> None:
    code = "!~" * 64
    service.wechat.add_code(code, "openid-alice")
    status, _, _ = await post_login(service, {"code": code})
    assert status == 200


WECHAT_FAILURES = [
    (InvalidCode(), 401, "invalid_code", None),
    (UserBlocked(), 403, "user_blocked", None),
    (WeChatRateLimited(retry_after=60), 429, "rate_limited", "60"),
    (WeChatBusy(retry_after=1), 503, "platform_busy", "1"),
    (WeChatError(), 502, "platform_error", None),
    (WeChatTimeout(), 504, "platform_timeout", None),
]


@pytest.mark.parametrize(
    ("failure", "status", "code", "retry_after"), WECHAT_FAILURES,
    ids=[code for _, _, code, _ in WECHAT_FAILURES],
)
async def test_a_wechat_failure_maps_to_its_documented_answer(
    service: Service, failure: Exception, status: int, code: str, retry_after: str | None
) -> None:
    service.wechat.failures["code-1"] = failure  # type: ignore[assignment]
    got_status, body, headers = await post_login(service, {"code": "code-1"})
    assert_error(got_status, body, status, code)
    assert headers.get("Retry-After") == retry_after
    assert "Authorization" not in headers


async def test_an_unknown_code_is_401_invalid_code(service: Service) -> None:
    status, body, _ = await post_login(service, {"code": "never-issued"})
    assert_error(status, body, 401, "invalid_code")


class _DownSessions(InMemorySessionStore):
    async def record_login(self, *args: object, **kwargs: object) -> str:
        raise StoreUnavailable()

    async def ping(self) -> None:
        raise StoreUnavailable()


_DOWN = _DownSessions(clock=FakeClock(), session_secret="s" * 32,
                      registry=InMemoryCodeExchangeRegistry(clock=FakeClock()))


@pytest.mark.parametrize("service_overrides", [{"session_store": _DOWN}])
async def test_a_session_store_that_cannot_be_reached_is_503_unavailable(
    service: Service,
) -> None:
    service.wechat.add_code("code-1", "openid-alice")
    status, body, _ = await post_login(service, {"code": "code-1"})
    assert_error(status, body, 503, "unavailable")


class TestOwnRateLimit:
    @pytest.fixture
    def service_env(self) -> dict[str, str]:
        return {"LOGIN_RATE_PER_MINUTE": "3"}

    async def test_logins_past_the_limit_per_address_are_429_with_retry_after(
        self, service: Service
    ) -> None:
        for n in range(3):
            await service.login(f"code-{n}")
        status, body, headers = await post_login(service, {"code": "code-9"})
        assert_error(status, body, 429, "rate_limited")
        assert 1 <= int(headers["Retry-After"]) <= 60
