"""Tokens for other services with several apps, through ``python -m entrypoints`` in the JWT
mode: the access token's claims, forward auth's headers and introspection name the app and the
platform of the login that made the session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest

from tests.e2e.test_apps import APPS, apps_file

pytestmark = pytest.mark.e2e

SERVICE_TOKEN = "service-token-0123456789abcdef-0123456789"


async def test_every_way_names_the_login_s_app_and_platform(
    service_runner: Callable[[dict[str, str]], Any], tmp_path: Path, wechat_simulator: Any
) -> None:
    env = {
        "APPS_FILE": str(apps_file(tmp_path, wechat_simulator.base_url)),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'weapp.db'}",
        "LOGIN_RATE_PER_MINUTE": "0",
        "TOKEN_FORMAT": "jwt",
        "SERVICE_TOKEN": SERVICE_TOKEN,
    }
    seen = {}
    async with service_runner(env) as service, aiohttp.ClientSession() as http:
        for app in APPS:
            async with http.post(f"{service.url}/api/v1/login",
                                 json={"code": "alice:1", "app": app}) as reply:
                assert reply.status == 200, await reply.text()
                token = (await reply.json())["token"]
            claims = jwt.decode(token, options={"verify_signature": False})
            async with http.get(f"{service.url}/api/v1/auth",
                                headers={"Authorization": f"Bearer {token}"}) as reply:
                assert reply.status == 204
                headers = (reply.headers["X-App"], reply.headers["X-Platform"])
            async with http.post(f"{service.url}/api/v1/introspect", json={"token": token},
                                 headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}) as reply:
                introspected = await reply.json()
            seen[app] = {(claims["app"], claims["platform"]), headers,
                         (introspected["app"], introspected["platform"])}

    assert seen == {app: {(app, platform)} for app, platform in APPS.items()}
