"""The app on in-memory fakes, served on loopback; the service as a process."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from dependency_injector import providers

from adapters.apps import PlatformClients
from adapters.memory import InMemoryUserRepository, InMemoryWeChatGateway
from entrypoints.logs import STDOUT, configure_logging
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


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], io.StringIO]]:
    """``json_logs(level)``: the service's logging set up at ``level`` (call it in the test,
    where pytest's own capture no longer replaces ``sys.stdout``), writing to the text returned;
    the test run's logging set-up is restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, STDOUT.stream

    def configure(level: str) -> io.StringIO:
        output = io.StringIO()
        monkeypatch.setattr(sys, "stdout", output)
        configure_logging(level)
        return output

    try:
        yield configure
    finally:
        root.handlers[:], level, STDOUT.stream = saved
        root.setLevel(level)
