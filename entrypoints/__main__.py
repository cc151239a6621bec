"""``python -m entrypoints``: check the settings, migrate in development, serve.

This module is the process's composition step, so it alone (with ``container``) may see both the
settings and the app factory.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from functools import partial
from typing import TYPE_CHECKING

from settings import ConfigError, Settings

if TYPE_CHECKING:
    from sanic import Sanic

logger = logging.getLogger("weapp_login")


def build_app() -> Sanic:
    """The app of one worker: settings from the environment, a fresh container."""
    from container import Container
    from entrypoints.app import create_app
    from entrypoints.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    container = Container()
    container.config.from_dict(settings.as_config())
    return create_app(container)


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    # Imported only once the settings hold, so a bad setting fails fast.
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from container import Container
    from entrypoints.logs import configure_logging

    configure_logging(settings.log_level)
    if settings.uses_simulator:
        logger.warning(
            "WECHAT_APPID is not set: logging in against the built-in WeChat simulator",
            extra={"event": "wechat_simulator"},
        )
    if not settings.production:
        container = Container()
        container.config.from_dict(settings.as_config())
        asyncio.run(container.migrate())

    loader = AppLoader(factory=partial(build_app))
    app = loader.load()
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        single_process=settings.workers == 1,
        access_log=False,
        motd=False,
        backlog=1024,
    )
    if settings.workers == 1:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
