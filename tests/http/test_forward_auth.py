"""GET /api/v1/auth: forward auth for a reverse proxy, in the opaque token format."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http.conftest import Service


async def get_auth(service: Service, headers: dict[str, str]) -> tuple[int, bytes, Any]:
    async with service.http.get(f"{service.url}/api/v1/auth", headers=headers) as response:
        return response.status, await response.read(), response.headers


async def test_a_valid_token_is_204_with_the_user_session_app_and_platform(
    service: Service,
) -> None:
    login = await service.login("code-1")
    status, body, headers = await get_auth(service, {"Authorization": f"Bearer {login['token']}"})

    assert status == 204
    assert body == b""
    assert headers["X-User-Id"] == str(login["user"]["id"])
    assert headers["X-App"] == "default"
    assert headers["X-Platform"] == "wechat"
    session_id = headers["X-Session-Id"]
    assert session_id
    assert login["token"] not in session_id


async def test_the_session_id_is_stable_and_differs_between_logins(service: Service) -> None:
    first = await service.login("code-1")
    second = await service.login("code-2")
    ids = []
    for token in (first["token"], first["token"], second["token"]):
        _, _, headers = await get_auth(service, {"Authorization": f"Bearer {token}"})
        ids.append(headers["X-Session-Id"])
    assert ids[0] == ids[1] != ids[2]


async def test_a_session_id_never_works_as_a_token(service: Service) -> None:
    login = await service.login("code-1")
    _, _, headers = await get_auth(service, {"Authorization": f"Bearer {login['token']}"})
    status, _, _ = await get_auth(service, {"Authorization": f"Bearer {headers['X-Session-Id']}"})
    assert status == 401


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
     {"Authorization": "Basic dXNlcjpwYXNz"}],
    ids=["missing", "unknown", "another scheme"],
)
async def test_no_valid_token_is_401_unauthorized_with_www_authenticate(
    service: Service, headers: dict[str, str]
) -> None:
    status, body, answer = await get_auth(service, headers)
    assert status == 401
    assert b'"unauthorized"' in body
    assert answer["WWW-Authenticate"].startswith("Bearer")
    assert "X-User-Id" not in answer


async def test_a_logged_out_token_is_401_at_once(service: Service) -> None:
    login = await service.login("code-1")
    bearer = {"Authorization": f"Bearer {login['token']}"}
    async with service.http.post(f"{service.url}/api/v1/logout", headers=bearer) as response:
        assert response.status == 204
    status, _, _ = await get_auth(service, bearer)
    assert status == 401


async def test_forward_auth_slides_the_token_as_a_use(service: Service) -> None:
    login = await service.login("code-1")
    bearer = {"Authorization": f"Bearer {login['token']}"}
    service.clock.advance(600)
    await get_auth(service, bearer)
    service.clock.advance(600)  # past the first expiry (1000 s): alive only if it slid
    status, _, _ = await get_auth(service, bearer)
    assert status == 204


@pytest.mark.parametrize("service_env", [{"LOGIN_RATE_PER_MINUTE": "1"}])
async def test_forward_auth_is_never_rate_limited(service: Service) -> None:
    login = await service.login("code-1")
    bearer = {"Authorization": f"Bearer {login['token']}"}
    statuses = {(await get_auth(service, bearer))[0] for _ in range(5)}
    assert statuses == {204}
