"""``deploy/nginx.conf`` as shipped, in real nginx, in front of ``python -m entrypoints`` run
with ``TRUSTED_PROXY_COUNT=1``: the login limit sees each client's own address, whatever
``X-Forwarded-For`` it sends, and the metrics and the back office are not reachable through it."""

from __future__ import annotations

import asyncio
import itertools
import signal
from typing import Any

import aiohttp
import pytest

from tests.deploy.conftest import (
    ADMIN_TOKEN,
    LOGINS_PER_MINUTE,
    Proxied,
    wait_for_a_fresh_minute,
)

pytestmark = pytest.mark.e2e
_codes = itertools.count()


async def login_from(source: str, url: str, *, forwarded_for: str | None = None) -> int:
    """One login, from the loopback address ``source``; its status."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as http, http.post(
        f"{url}/api/v1/login", json={"code": f"user{next(_codes)}:1"}, headers=headers,
    ) as reply:
        return reply.status


async def test_the_limit_counts_each_real_client_and_ignores_a_spoofed_forwarded_for(
    proxied: Proxied,
) -> None:
    await asyncio.to_thread(wait_for_a_fresh_minute)
    first = [await login_from("127.0.0.2", proxied.nginx) for _ in range(LOGINS_PER_MINUTE + 1)]
    assert first == [200] * LOGINS_PER_MINUTE + [429]

    # Another client is not limited, though it claims to be the limited one ...
    assert await login_from("127.0.0.3", proxied.nginx, forwarded_for="127.0.0.2") == 200
    # ... and the limited one stays limited, whoever it claims to be.
    for spoof in ("127.0.0.9", "127.0.0.9, 127.0.0.3", "127.0.0.3"):
        assert await login_from("127.0.0.2", proxied.nginx, forwarded_for=spoof) == 429


async def get(url: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url, **kwargs) as reply:
        body = await reply.json(content_type=None) if reply.status != 200 else None
        return reply.status, body


async def post(url: str, **kwargs: Any) -> int:
    async with aiohttp.ClientSession() as http, http.post(url, **kwargs) as reply:
        return reply.status


METRICS_SPELLINGS = ["/metrics", "/metrics/", "//metrics", "/%6detrics", "/./metrics"]
ADMIN_SPELLINGS = ["/api/v1/admin/messages", "/api/v1//admin/messages",
                   "/api/v1/%61dmin/messages", "/api/v1/x/../admin/messages"]


async def test_the_metrics_are_not_served_through_nginx(proxied: Proxied) -> None:
    assert (await get(f"{proxied.service.url}/metrics"))[0] == 200  # the service has them

    for path in METRICS_SPELLINGS:
        status, body = await get(f"{proxied.nginx}{path}")
        assert (path, status, body["error"]["code"]) == (path, 404, "not_found")


async def test_the_back_office_is_not_reachable_through_nginx(proxied: Proxied) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    # The service itself answers the back office (a bad body, not "no such endpoint") ...
    assert await post(f"{proxied.service.url}/api/v1/admin/messages", headers=admin,
                      json={}) not in (403, 404)

    # ... nginx does not pass it on, however the path is spelled.
    for path in ADMIN_SPELLINGS:
        status = await post(f"{proxied.nginx}{path}", headers=admin, json={})
        assert (path, status) in ((path, 403), (path, 404))


async def test_everything_else_is_passed_through(proxied: Proxied) -> None:
    status, _ = await get(f"{proxied.nginx}/healthz")
    assert status == 200
    status, body = await get(f"{proxied.nginx}/api/v1/me")
    assert (status, body["error"]["code"]) == (401, "unauthorized")


FORWARDED = ("X-User-Id", "X-Session-Id", "X-App", "X-Platform")


async def login_directly(proxied: Proxied) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(
        f"{proxied.service.url}/api/v1/login", json={"code": f"user{next(_codes)}:1"}
    ) as reply:
        assert reply.status == 200
        body: dict[str, Any] = await reply.json()
        return body


async def call_your_api(proxied: Proxied, headers: dict[str, str]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(
        f"{proxied.nginx}/your-api/orders", headers=headers
    ) as reply:
        return reply.status, await reply.json(content_type=None)


async def test_a_valid_token_reaches_the_protected_api_with_the_user_s_headers(
    proxied: Proxied,
) -> None:
    login = await login_directly(proxied)
    bearer = {"Authorization": f"Bearer {login['token']}"}
    async with aiohttp.ClientSession() as http, http.get(
        f"{proxied.service.url}/api/v1/auth", headers=bearer
    ) as reply:
        expected = {name: reply.headers[name] for name in FORWARDED}

    status, body = await call_your_api(proxied, bearer)

    assert (status, body) == (200, {"path": "/your-api/orders"})
    [seen] = proxied.your_api
    assert {name: seen[name] for name in FORWARDED} == expected
    assert expected["X-User-Id"] == str(login["user"]["id"])
    assert expected["X-App"] == "default"


@pytest.mark.parametrize(
    "authorization",
    [None, f"Bearer {'A' * 16}.{'A' * 43}", "Basic Zm9vOmJhcg=="],
    ids=["missing", "forged", "another scheme"],
)
async def test_no_valid_token_never_reaches_the_protected_api(
    proxied: Proxied, authorization: str | None
) -> None:
    headers = {"X-User-Id": "1"}
    if authorization is not None:
        headers["Authorization"] = authorization

    status, body = await call_your_api(proxied, headers)

    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert proxied.your_api == []


async def test_a_logged_out_token_never_reaches_the_protected_api(proxied: Proxied) -> None:
    login = await login_directly(proxied)
    bearer = {"Authorization": f"Bearer {login['token']}"}
    assert (await call_your_api(proxied, bearer))[0] == 200
    assert await post(f"{proxied.nginx}/api/v1/logout", headers=bearer) == 204

    status, _ = await call_your_api(proxied, bearer)

    assert status == 401
    assert len(proxied.your_api) == 1


async def test_a_client_cannot_smuggle_its_own_user_headers_through(proxied: Proxied) -> None:
    login = await login_directly(proxied)
    smuggled = dict.fromkeys(FORWARDED, "999999")

    status, _ = await call_your_api(
        proxied, {**smuggled, "Authorization": f"Bearer {login['token']}"}
    )

    assert status == 200
    [seen] = proxied.your_api
    assert seen["X-User-Id"] == str(login["user"]["id"])
    assert all(seen[name] != "999999" for name in FORWARDED)


async def test_the_auth_sub_request_is_not_reachable_from_outside(proxied: Proxied) -> None:
    login = await login_directly(proxied)
    status, _ = await get(f"{proxied.nginx}/_weapp_login_auth",
                          headers={"Authorization": f"Bearer {login['token']}"})
    assert status == 404


async def test_with_the_service_down_the_protected_api_is_503_and_never_reached(
    proxied: Proxied,
) -> None:
    login = await login_directly(proxied)
    proxied.service.process.send_signal(signal.SIGTERM)
    await proxied.service.process.wait()

    status, body = await call_your_api(proxied, {"Authorization": f"Bearer {login['token']}"})

    assert (status, body["error"]["code"]) == (503, "unavailable")
    assert proxied.your_api == []
