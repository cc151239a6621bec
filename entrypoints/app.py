"""The Sanic application factory: routes, limits, request ids, error shape, resource lifecycle."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import orjson
from sanic import HTTPResponse, Request, Sanic

from entrypoints import handlers
from entrypoints.errors import JsonErrorHandler
from entrypoints.http import request_id_of

logger = logging.getLogger("weapp_login")

REQUEST_MAX_SIZE = 64 * 1024
REQUEST_MAX_HEADER_SIZE = 8 * 1024

PORTS_OPENED_AT_START = (
    "session_store",
    "user_repository",
    "code_exchange",
    "rate_limiter",
    "access_tokens",
)
"""Providers resolved before serving, so their pools open once per worker, not on a request."""


def create_app(container: Any, *, name: str = "weapp_login") -> Sanic:
    """Build the app around a wired-or-not container (see ``container.Container``).

    The container is duck-typed here so that ``entrypoints`` never imports the adapters.
    """
    app = Sanic(name, dumps=orjson.dumps, loads=orjson.loads, error_handler=JsonErrorHandler())
    app.config.update(
        REQUEST_MAX_SIZE=REQUEST_MAX_SIZE,
        REQUEST_MAX_HEADER_SIZE=REQUEST_MAX_HEADER_SIZE,
        REQUEST_TIMEOUT=10,
        RESPONSE_TIMEOUT=30,
        KEEP_ALIVE_TIMEOUT=15,
        GRACEFUL_SHUTDOWN_TIMEOUT=10,
        ACCESS_LOG=False,
        MOTD=False,
        FALLBACK_ERROR_FORMAT="json",
        TOUCHUP=False,
    )
    app.ctx.container = container

    app.add_route(handlers.login, "/api/v1/login", methods=["POST"])
    app.add_route(handlers.me, "/api/v1/me", methods=["GET"])
    app.add_route(handlers.logout, "/api/v1/logout", methods=["POST"])
    app.add_route(handlers.phone, "/api/v1/me/phone", methods=["POST"])
    app.add_route(handlers.decrypt, "/api/v1/me/decrypt", methods=["POST"])
    app.add_route(handlers.session_key, "/api/v1/me/session-key", methods=["GET"])
    app.add_route(handlers.send_message, "/api/v1/admin/messages", methods=["POST"])
    app.add_route(handlers.healthz, "/healthz", methods=["GET"])
    app.add_route(handlers.readyz, "/readyz", methods=["GET"])

    app.register_middleware(_tag_request, "request")
    app.register_middleware(_tag_response, "response")
    app.register_listener(_open_resources, "before_server_start")
    app.register_listener(_close_resources, "after_server_stop")
    return app


async def _tag_request(request: Request) -> None:
    request.ctx.request_id = request_id_of(request)


async def _tag_response(request: Request, response: HTTPResponse) -> None:
    request_id = getattr(request.ctx, "request_id", None) or request_id_of(request)
    response.headers["X-Request-ID"] = request_id


async def _open_resources(app: Sanic) -> None:
    container = app.ctx.container
    container.wire(modules=[handlers])
    for name in PORTS_OPENED_AT_START:
        provided = getattr(container, name)()
        if inspect.isawaitable(provided):
            await provided


async def _close_resources(app: Sanic) -> None:
    container = app.ctx.container
    shutdown = container.shutdown_resources()
    if inspect.isawaitable(shutdown):
        await shutdown
    container.unwire()
