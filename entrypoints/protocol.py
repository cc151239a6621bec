"""Sanic's HTTP protocol with two fixes for hostile clients and for shutting down.

1. ``REQUEST_TIMEOUT`` becomes a deadline. Sanic restarts its request timer on every packet, so a
   client that sends its headers a byte at a time ("slowloris") holds a connection and a task for
   as long as it likes: 8 KiB of headers at one byte every 9 seconds is 20 hours. Here the timer
   runs from the first byte of a request: the request line and headers must all arrive within
   ``REQUEST_TIMEOUT`` (else 408 and the connection is closed), and the body and the handler
   within ``RESPONSE_TIMEOUT`` of that first byte. Idle keep-alive connections still close after
   ``KEEP_ALIVE_TIMEOUT``.
2. A connection busy when the server stops is closed once its response is sent (``Connection:
   close``). Sanic closes only the idle ones, so a keep-alive client held the process for the
   whole ``GRACEFUL_SHUTDOWN_TIMEOUT`` after its last answer.
"""

from __future__ import annotations

from sanic.http.constants import Stage
from sanic.server.protocols.http_protocol import HttpProtocol


class ServiceHttpProtocol(HttpProtocol):
    """Pass as ``protocol=`` to ``app.prepare`` / ``app.create_server``."""

    def data_received(self, data: bytes) -> None:
        http = getattr(self, "_http", None)
        if http is None or http.stage is Stage.IDLE:
            super().data_received(data)  # the first bytes of a request start its clock
            return
        started = self._time
        super().data_received(data)
        self._time = started

    def close_if_idle(self) -> bool:
        """Called on every connection when the server stops: the busy ones finish, then close."""
        closed: bool = super().close_if_idle()
        http = getattr(self, "_http", None)
        if not closed and http is not None:
            http.keep_alive = False
        return closed
