"""The second listener (``METRICS_PORT`` on ``METRICS_HOST``): ``GET /metrics`` and nothing else.

It runs in threads of the main process, started before Sanic serves and stopped after. With
several workers the main process serves no request, and its scrape sums every worker's files
(``metrics.exposition``) as a worker's would: one place answers, whichever worker is busy. With
one worker the main process is that worker, and the thread reads its registry (prometheus_client
values are thread-safe). Either way a scrape never runs on an event loop.
"""

from __future__ import annotations

import logging
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST

logger = logging.getLogger("weapp_login")

PATH = "/metrics"


class MetricsListener:
    """Serve ``render()`` at ``/metrics`` on ``host:port``; 404/405 in the error shape else."""

    def __init__(self, host: str, port: int, render: Callable[[], bytes]) -> None:
        handler = type("Handler", (_Handler,), {"render": staticmethod(render)})
        self._server = _Server((host, port), handler, bind_and_activate=False)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind (an ``OSError`` if the address is taken) and serve in a thread."""
        try:
            self._server.server_bind()
            self._server.server_activate()
        except OSError:
            self._server.server_close()
            raise
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics-listener", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        """Bind, without ``HTTPServer``'s reverse DNS lookup of the host (a stall at start)."""
        socketserver.TCPServer.server_bind(self)


class _Handler(BaseHTTPRequestHandler):
    render: Callable[[], bytes]
    timeout = 10  # a client that sends nothing is dropped
    server_version = "weapp-login"
    sys_version = ""

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._error(404, "not_found", "Nothing here.")
            return
        body = self.render()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _not_allowed(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._error(404, "not_found", "Nothing here.")
        else:
            self._error(405, "method_not_allowed", "Only GET is served here.", allow="GET")

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _not_allowed

    def _error(self, status: int, code: str, message: str, *, allow: str | None = None) -> None:
        body = orjson.dumps({"error": {"code": code, "message": message}})
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if allow is not None:
            self.send_header("Allow", allow)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("metrics listener: " + format, *args, extra={"event": "metrics_request"})
