"""The service on real MariaDB and Redis, WeChat faked in memory, driven over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from dependency_injector import providers

from adapters.apps import PlatformClients
from adapters.memory import InMemoryWeChatGateway
from tests.e2e.conftest import service_runner  # noqa: F401 - the fixture, for the restart test
from tests.serving import make_container, serve

ADMIN_TOKEN = "admin-token-0123456789abcdef-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@dataclass
class Accounts:
    url: str
    http: aiohttp.ClientSession
    wechat: InMemoryWeChatGateway
    container: Any
    env: dict[str, str]

    async def login(
        self, code: str, openid: str = "openid-alice", *, expect: int = 200,
        headers: dict[str, str] | None = None, **kwargs: Any,
    ) -> dict[str, Any]:
        """Log in with a fresh code for ``openid``; return the body (``expect``ed status)."""
        self.wechat.add_code(code, openid, **kwargs)
        async with self.http.post(
            f"{self.url}/api/v1/login", json={"code": code}, headers=headers
        ) as response:
            body: dict[str, Any] = await response.json()
            assert response.status == expect, body
            return body

    async def call(
        self, method: str, path: str, *, token: str | None = None, expect: int = 200,
        **kwargs: Any,
    ) -> Any:
        """``method path`` as the user of ``token``, or as the back office without one."""
        headers = ADMIN if token is None else {"Authorization": f"Bearer {token}"}
        async with self.http.request(
            method, f"{self.url}{path}", headers=headers, **kwargs
        ) as response:
            body = await response.json() if response.status != 204 else None
            assert response.status == expect, body
            return body

    async def flush_audit(self) -> None:
        """Write the login path's pending events now (the trail writes them in batches)."""
        await (await self.container.audit_trail()).flush()


def accounts_env(redis_url: str, mariadb_url: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "DATABASE_URL": mariadb_url, "ADMIN_TOKEN": ADMIN_TOKEN,
            "LOGIN_RATE_PER_MINUTE": "0"}


Override = Callable[[Any], providers.Provider[Any]]


@pytest.fixture
def accounts_overrides() -> dict[str, Override]:
    """Providers to replace before the service starts: name → a function of the container that
    makes the replacement (parametrise this fixture)."""
    return {}


@pytest.fixture
def accounts_env_extra() -> dict[str, str]:
    """More settings of the service (override this fixture)."""
    return {}


@pytest.fixture
async def accounts(
    redis_url: str, mariadb_url: str, accounts_overrides: dict[str, Override],
    accounts_env_extra: dict[str, str],
) -> AsyncIterator[Accounts]:
    env = {**accounts_env(redis_url, mariadb_url), **accounts_env_extra}
    container = make_container(env)
    wechat = InMemoryWeChatGateway()
    container.platforms.override(providers.Object({"default": PlatformClients(wechat)}))
    for name, replacement in accounts_overrides.items():
        getattr(container, name).override(replacement(container))
    async with serve(container) as url, aiohttp.ClientSession() as http:
        yield Accounts(url=url, http=http, wechat=wechat, container=container, env=env)
