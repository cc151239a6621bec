"""Serving the real Sanic app in the test's event loop, on a free loopback port."""

from __future__ import annotations

import itertools
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dependency_injector import providers
from sanic import Sanic

from adapters.memory.audit import InMemoryAuditTrail
from container import Container
from entrypoints.app import create_app
from entrypoints.protocol import ServiceHttpProtocol
from settings import Settings

Sanic.test_mode = True
_names = itertools.count()


def make_container(environ: dict[str, str] | None = None) -> Container:
    """A fresh container configured as ``python -m entrypoints`` would be from ``environ``.

    Without a ``DATABASE_URL`` (tests on fake stores), the audit trail is kept in memory and
    no webhook loop runs, rather than both using the development SQLite file."""
    container = Container()
    container.config.from_dict(Settings.from_env(environ or {}).as_config())
    if "DATABASE_URL" not in (environ or {}):
        container.audit_trail.override(providers.Object(InMemoryAuditTrail()))
        container.webhooks.override(providers.Object(None))
    return container


@asynccontextmanager
async def serve(container: Container) -> AsyncIterator[str]:
    """Run the app with its listeners (resources opened and closed) and yield its base URL."""
    app = create_app(container, name=f"weapp_login_test_{next(_names)}")
    listener = socket.socket()  # Sanic reads port 0 as "the default, 8000": bind it ourselves
    listener.bind(("127.0.0.1", 0))
    server = await app.create_server(
        sock=listener, return_asyncio_server=True, access_log=False,
        protocol=ServiceHttpProtocol,
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    port = server.server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.wait_closed()
        await server.after_stop()
