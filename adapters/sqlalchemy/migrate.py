"""Schema migrations (Alembic), run from code: at start in development and by ``make migrate``.

``python -m adapters.sqlalchemy.migrate`` upgrades the database of ``DATABASE_URL`` (default:
the SQLite file of development) to the newest revision.
"""

from __future__ import annotations

import asyncio
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, make_url

from adapters.sqlalchemy.engine import open_engine

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/weapp.db"
ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


async def upgrade_to_head(
    url: str, *, wechat_appid: str | None = None, revision: str = "head"
) -> None:
    """Apply the migrations that the database at ``url`` lacks; a no-op when it is up to date.

    ``wechat_appid``: the deployment's WeChat app, whose identities a v1 database's users
    become (0003; unset: ``WECHAT_APPID``, else the simulator's appid). ``revision``: an older
    one than the newest (for tests that build an older release's database)."""
    engine_of = asynccontextmanager(open_engine)
    # In a transaction where the database has transactional DDL (PostgreSQL, SQLite), and with
    # no limit on a statement's time: a migration of a large table may take long.
    async with (
        engine_of(url, pool_size=1, autocommit=False, statement_timeout=None) as engine,
        engine.begin() as connection,
    ):
        await connection.run_sync(_upgrade, wechat_appid, revision)


def _upgrade(connection: Connection, wechat_appid: str | None, revision: str) -> None:
    config = Config(str(ALEMBIC_INI))
    config.attributes["connection"] = connection
    config.attributes["wechat_appid"] = wechat_appid
    command.upgrade(config, revision)


def deployed_wechat_appid() -> str | None:
    """The deployment's WeChat app (0003 makes the users of before its identities): the first
    WeChat app of ``APPS_FILE``, else ``WECHAT_APPID``; ``None``: the simulator's (development
    only: in production one of them must be set, else the command stops)."""
    from settings.apps import first_wechat_app, load_apps  # noqa: PLC0415 - the command's only

    apps_file = os.environ.get("APPS_FILE", "").strip()
    if apps_file:
        wechat = first_wechat_app(load_apps(apps_file, production=False))
        return None if wechat is None else wechat.appid
    appid = os.environ.get("WECHAT_APPID", "").strip() or None
    if appid is None and os.environ.get("APP_ENV", "").strip() == "production":
        raise SystemExit("migrate: set APPS_FILE or WECHAT_APPID: the deployment's WeChat app")
    return appid


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s [%(name)s] %(message)s")
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    asyncio.run(upgrade_to_head(url, wechat_appid=deployed_wechat_appid()))
    shown = make_url(url).render_as_string(hide_password=True)
    logging.getLogger(__name__).info("%s is at the newest revision", shown)


if __name__ == "__main__":
    main()
