"""Use cases wired to the in-memory adapters, as the container would wire them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.memory import (
    InMemoryCodeExchangeRegistry,
    InMemoryRateLimiter,
    InMemorySessionStore,
    InMemoryUserRepository,
    InMemoryWeChatGateway,
)
from adapters.memory.audit import InMemoryAuditTrail
from domain.apps import AppDirectory, AppServices
from domain.code_exchange import CodeExchange, ExchangeTimings
from domain.credentials import OpaqueCredentials
from domain.entities import App
from domain.use_cases.authenticate import AuthenticateUseCase
from domain.use_cases.login import LoginUseCase
from domain.use_cases.logout import LogoutUseCase
from domain.use_cases.policy import SessionPolicy
from tests.fakes import FakeClock

TTL = 1000
SECRET = "unit-test session secret, 32 characters or more"
MAX_AGE = 3000
APP = App(id="default", platform="wechat", appid="wx-unit-test")


@dataclass
class World:
    clock: FakeClock
    wechat: InMemoryWeChatGateway
    users: InMemoryUserRepository
    sessions: InMemorySessionStore
    registry: InMemoryCodeExchangeRegistry
    exchange: CodeExchange
    policy: SessionPolicy
    audit: InMemoryAuditTrail

    def login_use_case(
        self, *, rate_per_minute: int = 0, apps: AppDirectory | None = None
    ) -> LoginUseCase:
        return LoginUseCase(
            apps=apps or AppDirectory([AppServices(APP, self.exchange)]),
            users=self.users,
            sessions=self.sessions,
            credentials=OpaqueCredentials(sessions=self.sessions),
            rate_limiter=InMemoryRateLimiter(clock=self.clock),
            clock=self.clock,
            policy=self.policy,
            rate_per_minute=rate_per_minute,
            audit=self.audit,
        )

    def authenticate_use_case(self) -> AuthenticateUseCase:
        return AuthenticateUseCase(
            sessions=self.sessions,
            credentials=OpaqueCredentials(sessions=self.sessions),
            clock=self.clock,
            policy=self.policy,
        )

    def logout_use_case(self) -> LogoutUseCase:
        return LogoutUseCase(
            sessions=self.sessions, credentials=OpaqueCredentials(sessions=self.sessions),
            audit=self.audit, clock=self.clock,
        )


@pytest.fixture
def world(clock: FakeClock) -> World:
    wechat = InMemoryWeChatGateway()
    registry = InMemoryCodeExchangeRegistry(clock=clock)
    return World(
        clock=clock,
        wechat=wechat,
        users=InMemoryUserRepository(),
        sessions=InMemorySessionStore(clock=clock, session_secret=SECRET, registry=registry),
        registry=registry,
        exchange=CodeExchange(
            gateway=wechat, registry=registry, timings=ExchangeTimings(poll_interval=0.001)
        ),
        policy=SessionPolicy(ttl=TTL, max_age=MAX_AGE),
        audit=InMemoryAuditTrail(),
    )
