"""Fixtures shared by every test. Real servers live in ``tests/fixtures``, one module each."""

from __future__ import annotations

import pytest

from tests.fakes import FakeClock

pytest_plugins = [
    "tests.fixtures.redis_server",
    "tests.fixtures.redis_cluster",
    "tests.fixtures.redis_sentinel",
    "tests.fixtures.mariadb_server",
    "tests.fixtures.postgres_server",
    "tests.fixtures.wechat_simulator",
    "tests.fixtures.platform_simulators",
    "tests.fixtures.webhook_receiver",
]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
