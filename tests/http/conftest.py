"""The HTTP app on the in-memory adapters, served on loopback and driven with aiohttp."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from dependency_injector import providers

from adapters.apps import PlatformClients
from adapters.memory import InMemoryUserRepository, InMemoryWeChatGateway
from tests.fakes import FakeClock
from tests.serving import make_container, serve


@dataclass
class Service:
    url: str
    http: aiohttp.ClientSession
    wechat: InMemoryWeChatGateway
    users: InMemoryUserRepository
    clock: FakeClock
    container: Any

    async def login(self, code: str, openid: str = "openid-alice", **kwargs: Any) -> dict[str, Any]:
        """Log in with a fresh code for ``openid``; return the 200 body."""
        self.wechat.add_code(code, openid, **kwargs)
        async with self.http.post(f"{self.url}/api/v1/login", json={"code": code}) as response:
            assert response.status == 200, await response.text()
            body: dict[str, Any] = await response.json()
            return body


SERVICE_ENV = {"LOGIN_RATE_PER_MINUTE": "0", "SESSION_TTL_SECONDS": "1000",
               "SESSION_MAX_AGE_SECONDS": "3000"}


@pytest.fixture
def service_env() -> dict[str, str]:
    return dict(SERVICE_ENV)


@pytest.fixture
def service_overrides() -> dict[str, object]:
    """Providers to replace (name → object) before the service starts, which resolves the use
    cases once: parametrise this (``@pytest.mark.parametrize("service_overrides", [...])``)."""
    return {}


@pytest.fixture
async def service(
    clock: FakeClock, service_env: dict[str, str], service_overrides: dict[str, object]
) -> AsyncIterator[Service]:
    container = make_container(service_env)
    wechat = InMemoryWeChatGateway()
    users = InMemoryUserRepository()
    container.platforms.override(providers.Object({"default": PlatformClients(wechat)}))
    container.user_repository.override(providers.Object(users))
    container.clock.override(providers.Object(clock))
    for name, replacement in service_overrides.items():
        getattr(container, name).override(providers.Object(replacement))
    async with serve(container) as url, aiohttp.ClientSession() as http:
        yield Service(url=url, http=http, wechat=wechat, users=users, clock=clock,
                      container=container)
