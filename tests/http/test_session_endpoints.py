"""GET /api/v1/me and POST /api/v1/logout over real HTTP, and the Authorization header forms."""

from __future__ import annotations

from typing import Any

import pytest

from tests.http.conftest import Service


async def get_me(service: Service, authorization: str | None) -> tuple[int, dict[str, Any], Any]:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with service.http.get(f"{service.url}/api/v1/me", headers=headers) as response:
        return response.status, await response.json(content_type=None), response.headers


async def post_logout(service: Service, token: str, body: Any = None) -> tuple[int, bytes]:
    kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {token}"}}
    if isinstance(body, bytes):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    async with service.http.post(f"{service.url}/api/v1/logout", **kwargs) as response:
        return response.status, await response.read()


def assert_unauthorized(status: int, body: dict[str, Any], headers: Any) -> None:
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert headers["WWW-Authenticate"].startswith("Bearer")


async def test_me_returns_the_user_and_the_seconds_left(service: Service) -> None:
    login = await service.login("code-1")
    service.clock.advance(100)
    status, body, _ = await get_me(service, f"Bearer {login['token']}")

    assert status == 200
    assert body["user"]["id"] == login["user"]["id"]
    assert body["user"]["created_at"].endswith("Z")
    assert body["expires_in"] == 900
    assert set(body) == {"user", "app", "platform", "expires_in"}
    assert (body["app"], body["platform"]) == ("default", "wechat")


async def test_me_past_half_the_ttl_slides_the_token_to_a_full_ttl(service: Service) -> None:
    login = await service.login("code-1")
    service.clock.advance(600)
    _, body, _ = await get_me(service, f"Bearer {login['token']}")
    assert body["expires_in"] == 1000


@pytest.mark.parametrize(
    "form",
    ["Bearer {t}", "bearer {t}", "BEARER {t}", "BeArEr {t}", "Bearer   {t}  ", "  Bearer {t}",
     "{t}", "  {t}  ", "Bearer\t{t}"],
)
async def test_accepted_authorization_forms(service: Service, form: str) -> None:
    login = await service.login("code-1")
    status, _, _ = await get_me(service, form.format(t=login["token"]))
    assert status == 200


MALFORMED_AUTHORIZATION = [
    ("empty", ""),
    ("scheme only", "Bearer"),
    ("scheme and spaces", "Bearer    "),
    ("basic scheme", "Basic dXNlcjpwYXNz"),
    ("token scheme", "Token {t}"),
    ("two tokens", "Bearer {t} {t}"),
    ("comma list", "Bearer {t}, Bearer {t}"),
    ("truncated token", "Bearer {short}"),
    ("token with quote", 'Bearer "{t}"'),
    ("token with angle brackets", "Bearer <{t}>"),
    ("unknown token", "Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    ("overlong token", "Bearer " + "a" * 600),
    ("scheme without space", "Bearer{t}"),
]


@pytest.mark.parametrize(
    ("case", "form"), MALFORMED_AUTHORIZATION, ids=[c for c, _ in MALFORMED_AUTHORIZATION]
)
async def test_a_malformed_authorization_is_401_unauthorized(
    service: Service, case: str, form: str
) -> None:
    login = await service.login("code-1")
    token = login["token"]
    status, body, headers = await get_me(service, form.format(t=token, short=token[:8]))
    assert_unauthorized(status, body, headers)


async def test_a_missing_authorization_is_401_unauthorized(service: Service) -> None:
    assert_unauthorized(*await get_me(service, None))


async def test_an_expired_token_is_401_unauthorized(service: Service) -> None:
    login = await service.login("code-1")
    service.clock.advance(1000)
    assert_unauthorized(*await get_me(service, f"Bearer {login['token']}"))


async def test_logout_answers_204_and_the_token_stops_working(service: Service) -> None:
    login = await service.login("code-1")
    status, body = await post_logout(service, login["token"])
    assert (status, body) == (204, b"")
    assert_unauthorized(*await get_me(service, f"Bearer {login['token']}"))


async def test_logout_leaves_the_other_devices_logged_in(service: Service) -> None:
    phone = await service.login("code-1")
    tablet = await service.login("code-2")
    await post_logout(service, phone["token"], {"all": False})
    status, _, _ = await get_me(service, f"Bearer {tablet['token']}")
    assert status == 200


async def test_logout_all_ends_every_token_of_the_user(service: Service) -> None:
    phone = await service.login("code-1")
    tablet = await service.login("code-2")
    bob = await service.login("code-3", openid="openid-bob")
    status, _ = await post_logout(service, phone["token"], {"all": True})
    assert status == 204

    for login in (phone, tablet):
        assert_unauthorized(*await get_me(service, f"Bearer {login['token']}"))
    assert (await get_me(service, f"Bearer {bob['token']}"))[0] == 200


async def test_logout_with_a_dead_token_is_401(service: Service) -> None:
    login = await service.login("code-1")
    await post_logout(service, login["token"])
    status, _body = await post_logout(service, login["token"])
    assert status == 401


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b'{"all": "yes"}', b'{"all": 1}'])
async def test_logout_with_a_malformed_body_is_400_and_logs_nothing_out(
    service: Service, body: bytes
) -> None:
    login = await service.login("code-1")
    status, _ = await post_logout(service, login["token"], body)
    assert status == 400
    assert (await get_me(service, f"Bearer {login['token']}"))[0] == 200


async def test_logout_without_a_token_is_401(service: Service) -> None:
    async with service.http.post(f"{service.url}/api/v1/logout") as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
