"""Logs as one JSON object per line on stdout.

Every line has ``time``, ``level``, ``logger``, ``message``, ``pid`` and whatever the call passed
in ``extra`` (``event`` for notable events); inside a request also ``request_id``, which the
request middleware puts in :data:`request_id` and :class:`RequestIdFilter` copies onto records.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime

import orjson

from entrypoints.redaction import RedactingFilter

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
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    # Last: it masks what the other filters added.
    handler.addFilter(RedactingFilter.from_environ(also=secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server"):
        sanic_logger = logging.getLogger(name)
        sanic_logger.handlers[:] = []
        sanic_logger.propagate = True
