"""Logs as one JSON object per line on stdout.

Every line has ``time``, ``level``, ``logger``, ``message``, ``pid`` and whatever the call passed
in ``extra`` (``event`` for notable events); inside a request also ``request_id``, which the
request middleware puts in :data:`request_id` and :class:`RequestIdFilter` copies onto records.

Every request's line (``event: request``) is the one line written per request, so it skips
``logging``: :class:`AccessLine` renders it with orjson in one call, masked like the others, and
:data:`STDOUT` writes it at once. Every other line goes through ``logging`` (its filters mask
secrets and add ``request_id``) to the same :data:`STDOUT`. Each line is one ``write()``: a line
of at most 4,096 bytes (PIPE_BUF) is never interleaved with another process's on a pipe, so
workers sharing stdout never mix lines, and a process killed outright loses none that it wrote.
(Keeping request lines for 100 ms and writing them together saved no CPU that an interleaved A/B
could see: docs/PERFORMANCE.md, "hot-path costs".)
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from time import time
from typing import TextIO

import orjson

from entrypoints.redaction import RedactingFilter

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the request being served in this context (tasks it starts inherit it)."""


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to the records made while a request is being served."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get()
        if current is not None and not hasattr(record, "request_id"):
            record.request_id = current
        return True


class StdoutLines:
    """Whole lines (bytes ending with a newline) for stdout, each in one ``write()``, from any
    thread."""

    def __init__(self) -> None:
        self.stream: TextIO | None = None
        """Where lines go (:func:`configure_logging` sets it); unset, ``sys.stdout``."""
        self._lock = threading.RLock()  # a signal handler that logs mid-write must not hang

    def write(self, line: bytes) -> None:
        with self._lock:
            stream = self.stream or sys.stdout
            stream.flush()  # whatever else went to stdout first
            _write(stream, line)


def _write(stream: TextIO, data: bytes) -> None:
    """One ``write()`` of ``data`` to ``stream``'s file (or its text, for a stream in memory)."""
    binary = getattr(stream, "buffer", None)
    if binary is None:
        stream.write(data.decode())
    else:
        binary.write(data)
        binary.flush()


STDOUT = StdoutLines()
"""This process's log lines on stdout."""


class AccessLine:
    """Writes a request's line, as ``logging`` would have with the JSON formatter and the
    redacting filter: the same fields in the same order, what a client chose masked."""

    def __init__(self, redactor: RedactingFilter) -> None:
        self.redactor = redactor

    def __call__(
        self, method: str, route: str | None, status: int, seconds: float, rid: str | None
    ) -> None:
        redact = self.redactor.redact
        if method not in METHODS:  # a client's word
            method = redact(method)
        STDOUT.write(orjson.dumps({
            "time": datetime.fromtimestamp(time(), UTC).isoformat(timespec="milliseconds"),
            "level": "INFO",
            "logger": "weapp_login.access",
            "message": f"{method} {route} {status}",
            "pid": os.getpid(),
            "event": "request",
            "request_id": rid if rid is None else redact(rid),
            "method": method,
            "route": route,  # a route's pattern, never a raw path
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
        }, option=orjson.OPT_APPEND_NEWLINE))


access_line = AccessLine(RedactingFilter.from_environ())
"""Writes the line of a request; :func:`configure_logging` gives it the settings' secrets."""


class JsonLines(logging.Handler):
    """Writes each record as its line on :data:`STDOUT`, at once."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            STDOUT.write(line.encode() + b"\n")
        except Exception:
            self.handleError(record)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """One JSON handler on stdout for every logger; ``secrets`` (the settings' own, whatever
    their source) are masked in every line, besides those of the environment."""
    handler = JsonLines()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    # Last: it masks what the other filters added.
    redactor = RedactingFilter.from_environ(also=secrets)
    handler.addFilter(redactor)
    access_line.redactor = redactor
    STDOUT.stream = sys.stdout
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server"):
        sanic_logger = logging.getLogger(name)
        sanic_logger.handlers[:] = []
        sanic_logger.propagate = True
