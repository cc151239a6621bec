"""POST /api/v1/introspect (RFC 7662) in the opaque token format: who may ask, how the token
is sent, and what a valid and an invalid token answer."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http.conftest import SERVICE_ENV, Service

SERVICE_TOKEN = "service-token-0123456789abcdef-0123456789"
CALLER = {"Authorization": f"Bearer {SERVICE_TOKEN}"}


@pytest.fixture
def service_env() -> dict[str, str]:
    return {**SERVICE_ENV, "SERVICE_TOKEN": SERVICE_TOKEN}


async def introspect(
    service: Service, headers: dict[str, str] | None = None, **body: Any
) -> tuple[int, dict[str, Any]]:
    async with service.http.post(
        f"{service.url}/api/v1/introspect", headers=CALLER if headers is None else headers, **body
    ) as response:
        return response.status, await response.json(content_type=None)


async def test_a_valid_token_is_active_with_its_claims(service: Service) -> None:
    login = await service.login("code-1")
    async with service.http.get(
        f"{service.url}/api/v1/auth", headers={"Authorization": f"Bearer {login['token']}"}
    ) as response:
        session_id = response.headers["X-Session-Id"]

    status, body = await introspect(service, json={"token": login["token"]})

    assert status == 200
    now = service.clock.now()
    assert body == {
        "active": True, "sub": str(login["user"]["id"]), "sid": session_id, "app": "default",
        "platform": "wechat", "iat": int(now), "exp": int(now) + 1000,
        "token_type": "access_token", "iss": "weapp-login",
    }


async def test_the_token_may_come_as_a_form_field(service: Service) -> None:
    login = await service.login("code-1")
    status, body = await introspect(service, data={"token": login["token"],
                                                   "token_type_hint": "access_token"})
    assert (status, body["active"]) == (200, True)


@pytest.mark.parametrize("token", ["A" * 43, "not a token at all", "x" * 2000, "é" * 20])
async def test_an_unknown_or_malformed_token_is_just_inactive(
    service: Service, token: str
) -> None:
    assert await introspect(service, json={"token": token}) == (200, {"active": False})


async def test_a_logged_out_token_is_inactive(service: Service) -> None:
    login = await service.login("code-1")
    bearer = {"Authorization": f"Bearer {login['token']}"}
    async with service.http.post(f"{service.url}/api/v1/logout", headers=bearer) as response:
        assert response.status == 204
    assert await introspect(service, json={"token": login["token"]}) == (200, {"active": False})


async def test_introspection_slides_the_token_as_a_use(service: Service) -> None:
    login = await service.login("code-1")
    service.clock.advance(600)
    _, body = await introspect(service, json={"token": login["token"]})
    assert body["exp"] == int(service.clock.now()) + 1000


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": f"Bearer {SERVICE_TOKEN[:-1]}x"}, {"Authorization": "Bearer"}],
    ids=["missing", "wrong", "malformed"],
)
async def test_a_caller_without_the_service_token_is_401(
    service: Service, headers: dict[str, str]
) -> None:
    login = await service.login("code-1")
    status, body = await introspect(service, headers, json={"token": login["token"]})
    assert (status, body["error"]["code"]) == (401, "unauthorized")


async def test_a_user_s_own_token_does_not_open_introspection(service: Service) -> None:
    login = await service.login("code-1")
    status, _ = await introspect(service, {"Authorization": f"Bearer {login['token']}"},
                                 json={"token": login["token"]})
    assert status == 401


@pytest.mark.parametrize(
    "body",
    [{"data": b"{not json", "headers": {**CALLER, "Content-Type": "application/json"}},
     {"json": {}}, {"json": {"token": ""}}, {"json": {"token": 42}}, {"json": ["token"]},
     {"data": {"other": "x"}}, {"data": {"token": ""}},
     {"data": b"token=a&token=b",
      "headers": {**CALLER, "Content-Type": "application/x-www-form-urlencoded"}},
     {"data": b"\xff\xfe=token",
      "headers": {**CALLER, "Content-Type": "application/x-www-form-urlencoded"}},
     {"data": b""}],
    ids=["not json", "no token", "empty token", "token not a string", "not an object",
         "form without token", "form with an empty token", "form with two tokens",
         "form not utf-8", "empty body"],
)
async def test_a_malformed_body_is_400_invalid_request(
    service: Service, body: dict[str, Any]
) -> None:
    headers = body.pop("headers", CALLER)
    status, answer = await introspect(service, headers, **body)
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


@pytest.mark.parametrize("service_env", [dict(SERVICE_ENV)])
async def test_without_a_service_token_configured_introspection_is_404(
    service: Service,
) -> None:
    status, body = await introspect(service, json={"token": "A" * 43})
    assert (status, body["error"]["code"]) == (404, "not_found")
