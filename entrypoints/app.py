"""The Sanic application factory: routes, limits, request ids, error shape, resource lifecycle."""

from __future__ import annotations

import inspect
import logging
from dataclasses import fields
from time import perf_counter
from typing import Any

import orjson
from sanic import HTTPResponse, Request, Sanic

from entrypoints import openapi
from entrypoints.errors import JsonErrorHandler
from entrypoints.handlers import UseCases
from entrypoints.http import request_id_of
from entrypoints.logs import access_line, request_id
from entrypoints.metrics import HttpMetrics, UnmeasuredHttp, mark_worker_dead
from entrypoints.routes import ROUTES
from entrypoints.version import VERSION

logger = logging.getLogger("weapp_login")
access_logger = logging.getLogger("weapp_login.access")

REQUEST_MAX_SIZE = 64 * 1024
REQUEST_MAX_HEADER_SIZE = 8 * 1024

def create_app(container: Any, *, name: str = "weapp_login") -> Sanic[Any, Any]:
    """Build the app around a wired-or-not container (see ``container.Container``).

    The container is duck-typed here so that ``entrypoints`` never imports the adapters.
    """
    app = Sanic(
        name, dumps=orjson.dumps, loads=orjson.loads, error_handler=JsonErrorHandler(),
        configure_logging=False,  # Sanic's loggers propagate to the one JSON handler on stdout
    )
    app.config.update(
        REQUEST_MAX_SIZE=REQUEST_MAX_SIZE,
        REQUEST_MAX_HEADER_SIZE=REQUEST_MAX_HEADER_SIZE,
        REQUEST_TIMEOUT=container.config.request_timeout_seconds(),  # see protocol.py
        RESPONSE_TIMEOUT=container.config.response_timeout_seconds(),  # bounds every wait
        KEEP_ALIVE_TIMEOUT=15,
        GRACEFUL_SHUTDOWN_TIMEOUT=10,
        ACCESS_LOG=False,
        MOTD=False,
        FALLBACK_ERROR_FORMAT="json",
        TOUCHUP=False,
        AUTO_EXTEND=False,  # sanic-ext stays unloaded even where it is installed
    )
    app.ctx.container = container
    _per_request_features(app, container, container.config.bench_disable())
    routes = [route for route in ROUTES
              if route.path != "/metrics" or _metrics_on_main_port(container.config)]
    openapi.install(
        app, routes, title="weapp-login", version=VERSION,
        description="Logs WeChat mini-program users in and keeps them logged in. "
        "Every error has the body `{\"error\": {\"code\", \"message\"}}`; every response "
        "carries `X-Request-ID`.",
    )

    app.register_middleware(_tag_request, "request")
    app.register_middleware(_tag_response, "response")  # type: ignore[arg-type]  # Sanic types response middleware loosely
    app.register_listener(_open_resources, "before_server_start")
    app.register_listener(_close_resources, "after_server_stop")
    return app


def _per_request_features(app: Sanic[Any, Any], container: Any, disabled: list[str]) -> None:
    """The access line, request ids and metrics; each is on unless ``BENCH_DISABLE`` names it
    (development only: the benchmark's A/B of its cost). The one place each is turned off."""
    # Off: no per-request line (every other line is still written).
    app.ctx.access_log = "access_log" not in disabled
    # Off: no id read or made, no X-Request-ID, no request_id in log lines.
    app.ctx.request_ids = "request_id" not in disabled
    # Off: requests neither counted nor timed, the stores' calls untimed (logins still counted).
    measured = "metrics" not in disabled
    app.ctx.metrics = (HttpMetrics if measured else UnmeasuredHttp)(container.metrics_registry())
    if not measured:
        container.timed_sessions.override(container.session_store)
        container.timed_users.override(container.user_repository)


def _metrics_on_main_port(config: Any) -> bool:
    """Not with ``METRICS_PORT`` (its own listener serves them), nor in production (public)."""
    return config.metrics_port() is None and config.app_env() != "production"


async def _tag_request(request: Request) -> None:
    request.ctx.started = perf_counter()
    request.ctx.request_id = request_id_of(request) if request.app.ctx.request_ids else None
    request_id.set(request.ctx.request_id)


async def _tag_response(request: Request, response: HTTPResponse) -> None:
    """Tag the response, count it, and log the request's one line."""
    rid = None
    if request.app.ctx.request_ids:
        rid = getattr(request.ctx, "request_id", None) or request_id_of(request)
        response.headers["X-Request-ID"] = rid
    started = getattr(request.ctx, "started", None)
    seconds = perf_counter() - started if started is not None else 0.0
    route = f"/{request.route.path}" if request.route is not None else None
    status = response.status
    request.app.ctx.metrics.observe_request(request.method, route, status, seconds)
    if request.app.ctx.access_log and access_logger.isEnabledFor(logging.INFO):
        access_line(request.method, route, status, seconds, rid)
    request_id.set(None)


async def _open_resources(app: Sanic[Any, Any]) -> None:
    """Open the worker's resources by resolving each use case once (``<name>_use_case``).

    Resolving them here, not per request, spares every request dependency-injector's
    resolution (a ``gather`` over the async resources); tests override providers before this.
    """
    container = app.ctx.container
    resolved: dict[str, Any] = {}
    for field in fields(UseCases):
        provided = getattr(container, f"{field.name}_use_case")()
        resolved[field.name] = await provided if inspect.isawaitable(provided) else provided
    app.ctx.use_cases = UseCases(**resolved)
    webhooks = container.webhooks()  # the delivery loop of the webhook outbox
    if inspect.isawaitable(webhooks):
        await webhooks
    app.ctx.trusted_proxy_count = container.config.trusted_proxy_count()
    app.ctx.admin_token = container.config.admin_token()
    app.ctx.service_token = container.config.service_token()
    app.ctx.token_issuer = container.config.token_issuer()
    signer = container.access_token_signer()
    app.ctx.jwks = None if signer is None else orjson.dumps(signer.jwks())
    logger.info("worker ready", extra={"event": "worker_started"})


async def _close_resources(app: Sanic[Any, Any]) -> None:
    container = app.ctx.container
    for background in (container.webhooks, container.audit_trail):  # before the pools they use
        active = background.last_overriding or background  # a test's replacement, if any
        stopped = active.shutdown() if hasattr(active, "shutdown") else None
        if inspect.isawaitable(stopped):
            await stopped
    shutdown = container.shutdown_resources()
    if inspect.isawaitable(shutdown):
        await shutdown
    mark_worker_dead()
