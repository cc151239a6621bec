"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.migrate import upgrade_to_head

SERVERS = [
    pytest.param("mariadb", marks=pytest.mark.integration),
    pytest.param("postgres", marks=pytest.mark.integration),
]


@pytest.fixture(params=["sqlite", *SERVERS])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on a migrated, empty user store: SQLite, MariaDB, PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'users.db'}"
        await upgrade_to_head(url)
    else:
        url = str(request.getfixturevalue(f"{request.param}_url"))
    async with asynccontextmanager(open_engine)(url) as opened:
        yield opened
