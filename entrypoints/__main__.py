"""``python -m entrypoints``: check the settings, migrate in development, serve.

This module is the process's composition step, so it alone (with ``container``) may see both the
settings and the app factory.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from settings import ConfigError, Settings

if TYPE_CHECKING:
    from sanic import Sanic

    from entrypoints.metrics_listener import MetricsListener

logger = logging.getLogger("weapp_login")


def build_app() -> Sanic[Any, Any]:
    """The app of one worker: settings from the environment, a fresh container."""
    from container import Container
    from entrypoints.app import create_app
    from entrypoints.logs import configure_logging

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.secret_values())
    container = Container()
    container.config.from_dict(settings.as_config())
    app = create_app(container)
    # Sanic's "touch-up" recompiles its request path without the dispatch of every lifecycle
    # signal nobody listens to (each one a failed route lookup, i.e. an exception): a third of
    # /me's CPU (README, "Performance"). It rewrites classes shared by every app in the process,
    # so it is on only here, where one app serves; create_app leaves it off for the tests' apps.
    app.config.TOUCHUP = True
    app.register_listener(_freeze_startup_objects, "after_server_start")
    return app


GC_YOUNG_THRESHOLD = 10_000
"""Net allocations between two young-generation collections (CPython's default is 700)."""


async def _freeze_startup_objects(app: Sanic[Any, Any]) -> None:
    """Hide what start-up made (modules, the app, the pools) from the garbage collector.

    Otherwise every full collection walks those ~130,000 objects again: a pause of about 100 ms
    on a small VM, several a minute under load, which sets ``/me``'s p99 (README, "Performance").
    The request path makes few cycles, so the young generation is also collected less often.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 20)


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    metrics_directory = _prepare_metrics_directory(settings.workers, settings.metrics_dir)
    try:
        return _serve(settings)
    finally:
        if metrics_directory is not None:
            shutil.rmtree(metrics_directory, ignore_errors=True)


def _prepare_metrics_directory(workers: int, given: str | None) -> str | None:
    """With several workers each writes its metrics to files in one directory, which a scrape
    of any worker sums. Set up before prometheus_client is imported (it picks its storage then)
    and before the workers start (they inherit the variable). An operator's own
    ``PROMETHEUS_MULTIPROC_DIR`` is used as it is, minus the stale files of an earlier run;
    otherwise a fresh temporary directory, whose path is returned to be deleted at exit."""
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    if workers == 1:
        return None
    directory = tempfile.mkdtemp(prefix="weapp-login-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory


def _serve(settings: Settings) -> int:
    # Imported only once the settings hold, so a bad setting fails fast.
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from container import Container
    from entrypoints.logs import configure_logging
    from entrypoints.protocol import ServiceHttpProtocol

    configure_logging(settings.log_level, settings.secret_values())
    simulated = [app.id for app in settings.apps if app.simulator]
    if settings.apps_file is None and simulated:
        logger.warning(
            "WECHAT_APPID is not set: logging in against the built-in WeChat simulator",
            extra={"event": "wechat_simulator"},
        )
    elif simulated:
        logger.warning(
            "apps logging in against the built-in simulator (development only): %s",
            ", ".join(simulated), extra={"event": "wechat_simulator"},
        )
    if settings.uses_development_session_secret:
        logger.warning(
            "SESSION_SECRET is not set: login tokens are keyed by a fixed development value",
            extra={"event": "development_session_secret"},
        )
    if settings.jwt_mode and settings.jwt_signing_key_file is None:
        logger.warning(
            "JWT_SIGNING_KEY_FILE is not set: access tokens are signed with the development "
            "key under ./var/",
            extra={"event": "development_signing_key"},
        )
    if not settings.production:
        container = Container()
        container.config.from_dict(settings.as_config())
        asyncio.run(container.migrate())
        logger.info("migrated the user store", extra={"event": "migrations_applied"})

    # Workers are spawned processes, where this module is not ``__main__``: they find the factory
    # by its importable name.
    from entrypoints.__main__ import build_app as factory

    loader = AppLoader(factory=partial(factory))
    app = loader.load()
    try:
        listener = _metrics_listener(settings, app)
    except OSError as error:
        print(f"configuration error: METRICS_PORT: cannot listen on "
              f"{settings.metrics_host}:{settings.metrics_port}: {error}", file=sys.stderr)
        return 2
    app.prepare(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        single_process=settings.workers == 1,
        access_log=False,
        motd=False,
        backlog=1024,
        protocol=ServiceHttpProtocol,
    )
    logger.info(
        "serving on %s:%d with %d worker(s)", settings.host, settings.port, settings.workers,
        extra={"event": "service_start", "workers": settings.workers},
    )
    try:
        if settings.workers == 1:
            Sanic.serve_single(primary=app)
        else:
            Sanic.serve(primary=app, app_loader=loader)
    finally:
        if listener is not None:
            listener.stop()
    return 0


def _metrics_listener(settings: Settings, app: Sanic[Any, Any]) -> MetricsListener | None:
    """With ``METRICS_PORT``, ``/metrics`` served from this process (``metrics_listener.py``):
    with one worker this process is the worker, whose registry it reads; with several, the
    registry is ignored and every worker's files are summed. ``OSError``: it cannot listen."""
    from entrypoints.metrics import exposition
    from entrypoints.metrics_listener import MetricsListener

    if settings.metrics_port is None:
        return None
    listener = MetricsListener(
        settings.metrics_host, settings.metrics_port,
        partial(exposition, app.ctx.metrics.registry),
    )
    listener.start()
    logger.info(
        "serving /metrics on %s:%d", settings.metrics_host, settings.metrics_port,
        extra={"event": "metrics_listener_start"},
    )
    return listener


if __name__ == "__main__":
    sys.exit(main())
