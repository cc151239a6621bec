"""The app on in-memory fakes, served on loopback; the service as a process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from dependency_injector import providers

from adapters.apps import PlatformClients
from adapters.memory import InMemoryUserRepository, InMemoryWeChatGateway
from tests.e2e.conftest import service_runner  # noqa: F401 - the fixture, for tests/ops
from tests.fakes import FakeClock
from tests.serving import make_container, serve

ENV = {"LOGIN_RATE_PER_MINUTE": "0",
       "ADMIN_TOKEN": "admin-token-0123456789abcdef-01234567"}


@dataclass
class FakedService:
    url: str
    container: Any
    wechat: InMemoryWeChatGateway
    users: InMemoryUserRepository


@pytest.fixture
async def faked_service(clock: FakeClock) -> AsyncIterator[FakedService]:
    """The app with WeChat, users and the clock faked (sessions in memory), as tests/http does."""
    container = make_container(ENV)
    wechat = InMemoryWeChatGateway()
    users = InMemoryUserRepository()
    container.platforms.override(providers.Object({"default": PlatformClients(wechat)}))
    container.user_repository.override(providers.Object(users))
    container.clock.override(providers.Object(clock))
    async with serve(container) as url:
        yield FakedService(url=url, container=container, wechat=wechat, users=users)
