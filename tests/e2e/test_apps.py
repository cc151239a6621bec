"""Five apps, one per platform, each against its own simulator (``simulator = true``), served by
``python -m entrypoints`` over real HTTP: every platform logs in, and every bad input or fault of
another app or platform gets its documented error, never a 500 and never a session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import RunningService
from tests.fixtures.wechat_simulator import SIM_SECRET

pytestmark = pytest.mark.e2e

SHOP_APPID = "wx-e2e-shop"
APPS = {"shop": "wechat", "qq-shop": "qq", "tt-shop": "douyin", "pay": "alipay", "staff": "wecom"}


def apps_file(directory: Path, other_wechat_base: str) -> Path:
    """The five simulated apps, and ``elsewhere``: a WeChat app whose API root answers for
    another appid."""
    path = directory / "apps.toml"
    tables = [f'[apps.shop]\nplatform = "wechat"\nappid = "{SHOP_APPID}"\nsimulator = true\n']
    tables += [
        f'[apps.{app}]\nplatform = "{platform}"\nsimulator = true\n'
        for app, platform in APPS.items()
        if app != "shop"
    ]
    tables.append(
        f'[apps.elsewhere]\nplatform = "wechat"\nappid = "wx-not-the-simulators"\n'
        f'secret = "{SIM_SECRET}"\napi_base = "{other_wechat_base}"\n'
    )
    path.write_text("\n".join(tables))
    return path


@pytest.fixture
async def apps_service(
    service_runner: Callable[[dict[str, str]], Any], tmp_path: Path, wechat_simulator: Any
) -> AsyncIterator[RunningService]:
    env = {
        "APPS_FILE": str(apps_file(tmp_path, wechat_simulator.base_url)),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'weapp.db'}",
        "LOGIN_RATE_PER_MINUTE": "0",
        "WECHAT_TIMEOUT_SECONDS": "2",
        "WECHAT_MAX_IN_FLIGHT": "1",
        "WECHAT_BACKLOG": "0",
    }
    async with service_runner(env) as service:
        yield service


async def login(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{url}/api/v1/login", json=body) as response:
        return response.status, await response.json(content_type=None)


async def test_every_platform_logs_in_and_me_names_the_app_and_platform(
    apps_service: RunningService,
) -> None:
    async with aiohttp.ClientSession() as http:
        ids = set()
        for app, platform in APPS.items():
            status, body = await login(http, apps_service.url, {"code": "alice:1", "app": app})
            assert status == 200, (app, body)
            assert body["user"]["created"] is True
            ids.add(body["user"]["id"])
            headers = {"Authorization": f"Bearer {body['token']}"}
            async with http.get(f"{apps_service.url}/api/v1/me", headers=headers) as response:
                me = await response.json()
            assert (response.status, me["app"], me["platform"]) == (200, app, platform)
            assert me["user"]["id"] == body["user"]["id"]

            status, again = await login(http, apps_service.url, {"code": "alice:2", "app": app})
            assert (status, again["user"]) == (200, {"id": body["user"]["id"], "created": False})
        assert len(ids) == len(APPS)  # identities are never linked across platforms


@pytest.mark.parametrize(
    ("body", "status", "code", "platform"),
    [
        ({"code": "alice:1", "app": "nowhere"}, 400, "unknown_app", None),
        ({"code": "alice:1"}, 400, "unknown_app", None),  # several apps: it must be named
        ({"code": "alice:1", "app": 7}, 400, "invalid_request", None),
        # A code the platform issued to another app.
        ({"code": f"bob@{SHOP_APPID}:1", "app": "qq-shop"}, 401, "invalid_code", "qq"),
        ({"code": "bob@tt-other:1", "app": "tt-shop"}, 401, "invalid_code", "douyin"),
        # A platform that answers for another appid than the app's.
        ({"code": "alice:1", "app": "elsewhere"}, 502, "platform_error", "wechat"),
        ({"code": "forged:1", "app": "pay"}, 502, "platform_error", "alipay"),
        ({"code": "unsigned:1", "app": "pay"}, 502, "platform_error", "alipay"),
        ({"code": "othercorp:1", "app": "staff"}, 502, "platform_error", "wecom"),
        ({"code": "busy:1", "app": "tt-shop"}, 503, "platform_busy", "douyin"),
        ({"code": "invalid:1", "app": "pay"}, 401, "invalid_code", "alipay"),
    ],
)
async def test_bad_input_and_faults_get_their_documented_error_and_no_session(
    apps_service: RunningService,
    body: dict[str, Any],
    status: int,
    code: str,
    platform: str | None,
) -> None:
    async with aiohttp.ClientSession() as http:
        got, answer = await login(http, apps_service.url, body)
    assert (got, answer["error"]["code"]) == (status, code), answer
    assert answer["error"].get("platform") == platform
    assert "token" not in answer


async def test_a_code_of_one_app_does_not_log_in_at_another_after_its_own_login(
    apps_service: RunningService,
) -> None:
    code = f"carol@{SHOP_APPID}:1"
    async with aiohttp.ClientSession() as http:
        status, own = await login(http, apps_service.url, {"code": code, "app": "shop"})
        assert status == 200, own
        # The same code sent to another WeChat-shaped app is exchanged there, and refused.
        status, other = await login(http, apps_service.url, {"code": code, "app": "qq-shop"})
    assert (status, other["error"]["code"]) == (401, "invalid_code")


async def test_one_platform_hanging_does_not_hold_up_another(
    apps_service: RunningService,
) -> None:
    """Each app has its own calls in flight (here 1, no backlog): a hanging QQ call fills QQ's
    slot, QQ's next login is refused at once, and WeChat's logins go on."""
    async with aiohttp.ClientSession() as http:
        hanging: asyncio.Task[tuple[int, dict[str, Any]]] | None = None
        for n in range(200):  # until a hanging call holds QQ's one slot and another is refused
            if hanging is None or hanging.done():  # refused itself: it lost the race for it
                hanging = asyncio.create_task(
                    login(http, apps_service.url, {"code": "hang:1", "app": "qq-shop"})
                )
                await asyncio.sleep(0.05)
            code = f"erin:{n}"
            status, busy = await login(http, apps_service.url, {"code": code, "app": "qq-shop"})
            if status == 503 and not hanging.done():
                break
        assert hanging is not None
        assert (status, busy["error"]["code"], busy["error"]["platform"]) == (
            503,
            "platform_busy",
            "qq",
        )
        assert not hanging.done()
        status, body = await login(http, apps_service.url, {"code": "dave:1", "app": "shop"})
        assert status == 200, body
        status, hung = await hanging
    assert (status, hung["error"]["code"]) == (504, "platform_timeout")
