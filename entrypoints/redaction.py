"""A logging filter that masks secrets wherever they would appear in a log record.

Adapters are written never to log a secret; this filter is the net under them, for what a driver,
a framework or a future change lets slip: the app secret, ``session_key``\\ s, login tokens, access
tokens, ``encryptedData``, login codes and passwords, in the message, its arguments, the ``extra``
fields, the exception text and the stack. Three nets, each cheap:

- **by name**: the value after a sensitive key in any of the usual notations (``secret=…`` in a
  query string or a repr, ``"session_key": "…"`` in JSON or a dict, ``access_token: …``,
  ``Authorization: Bearer …``), and ``extra`` fields or dict entries named so;
- **by value**: the configured secrets (``WECHAT_SECRET``, ``SESSION_SECRET``, ``ADMIN_TOKEN``,
  the passwords in ``DATABASE_URL`` and ``REDIS_URL``), found verbatim anywhere;
- **by shape**: what only a secret looks like: base64 of 16 bytes (a ``session_key``), and long
  runs of the base64 alphabets mixing cases and digits (tokens, access tokens, ``encryptedData``,
  openids). Request ids (lowercase hex), paths and identifiers do not look like that.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

REDACTED = "[redacted]"

_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

_KEY = (
    r"(?:app_?secret|secret|session_?key|access_?token|refresh_?token|admin_?token|token"
    r"|encrypted_?data|js_?code|password|passwd|authorization|cookie)"
)
_SENSITIVE_NAME = re.compile(rf"(?i)\w*{_KEY}")
_HINTS = ("secret", "session", "token", "encrypted", "code", "passw", "authoriz", "cookie",
          "bearer", "basic")
"""Lowercase words one of which every ``_BY_NAME`` match contains: a cheap test that spares most
lines the costly pattern."""
_EDGE = r"(?<![A-Za-z0-9_])"
_END = r"(?![A-Za-z0-9_])"
_QUOTED = r"""b?"(?:[^"\\]|\\.)*"|b?'(?:[^'\\]|\\.)*'"""
_BY_NAME = re.compile(
    rf"""(?ix)
    (?P<quoted_key>(?P<q>["']){_KEY}(?P=q)\s*[:=]\s*)(?P<v1>{_QUOTED})   # "key": "v", 'key': 'v'
    | (?P<key>{_EDGE}{_KEY}{_END}\s*=\s*)(?P<v2>{_QUOTED}|[^\s&'",;)}}\[\]>]+)  # key=v, key='v'
    | (?P<colon_key>{_EDGE}{_KEY}{_END}\s*:[ \t]*)(?!bearer|basic)(?P<v3>[^\s,;'"}}\[\]]+)  # key: v
    | (?P<scheme>{_EDGE}(?:bearer|basic)\s+)(?P<v4>[A-Za-z0-9._~+/=-]+)      # Bearer v
    """
)
_SESSION_KEY_SHAPE = r"[A-Za-z0-9+/]{22}=="
_RUN = re.compile(
    rf"(?<![A-Za-z0-9+/=_-])(?:{_SESSION_KEY_SHAPE}|[A-Za-z0-9+/_-]{{24,}}={{0,2}})"
    r"(?![A-Za-z0-9+/=_-])"
)
_UPPER, _LOWER, _DIGIT = re.compile("[A-Z]"), re.compile("[a-z]"), re.compile("[0-9]")
_MIN_LITERAL = 6
"""Shorter configured secrets are not masked verbatim: they would mangle every line."""
_SHORTEST = _MIN_LITERAL
"""Shorter strings hold nothing to mask: the shortest thing masked is a configured secret."""


def _looks_secret(run: str) -> bool:
    if len(run) == 24 and run.endswith("=="):
        return True
    if not (_UPPER.search(run) and _LOWER.search(run)):
        return False
    return len(run) >= 32 or _DIGIT.search(run) is not None


@functools.lru_cache(maxsize=1024)  # names seen in logs: few, but some come from data
def _sensitive_name(name: str) -> bool:
    return _SENSITIVE_NAME.fullmatch(name) is not None


class RedactingFilter(logging.Filter):
    """Masks secrets in every record it sees; install it on the handler (handler filters see the
    records of every logger, logger filters only their own). Never drops a record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is masked whole.
        literals = sorted({s for s in secrets if len(s) >= _MIN_LITERAL}, key=len, reverse=True)
        self._literals = re.compile("|".join(map(re.escape, literals))) if literals else None

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, *, also: Iterable[str] = ()
    ) -> RedactingFilter:
        """A filter that also knows the secrets in this process's environment, and ``also``."""
        env = os.environ if environ is None else environ
        secrets = [env.get(name, "") for name in ("WECHAT_SECRET", "SESSION_SECRET", "ADMIN_TOKEN")]
        for name in ("DATABASE_URL", "REDIS_URL"):
            try:
                secrets.append(urlsplit(env.get(name, "")).password or "")
            except ValueError:
                continue
        return cls(s.strip() for s in (*secrets, *also))

    def redact(self, text: str) -> str:
        if len(text) < _SHORTEST:
            return text
        lowered = text.lower()
        if any(hint in lowered for hint in _HINTS):
            text = _BY_NAME.sub(_mask_named, text)
        if self._literals is not None:
            text = self._literals.sub(REDACTED, text)
        return _RUN.sub(_mask_run, text) if len(text) >= 22 else text

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: keep what there is, masked
            message = f"{record.msg} {record.args}"
        record.msg, record.args = self.redact(message), None
        fields = vars(record)
        for name in fields.keys() - _STANDARD:
            fields[name] = self._clean(name, fields[name])
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Formatters format ``exc_info`` afresh: keep only the masked text, also as an
            # ``exception`` field for formatters that print extra fields.
            record.exc_text = self.redact(record.exc_text)
            record.exc_info = None
            record.exception = record.exc_text
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True

    def _clean(self, name: str | None, value: Any) -> Any:
        if name is not None and value is not None and _sensitive_name(name):
            return REDACTED
        if isinstance(value, str):
            return self.redact(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping):
            return {self._clean(None, k): self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean(None, item) for item in value]
        if isinstance(value, bytes | bytearray):
            return self.redact(bytes(value).decode("utf-8", "replace"))
        return self.redact(str(value))


def _mask_named(match: re.Match[str]) -> str:
    if match["quoted_key"]:
        value = match["v1"]
        quote = value[-1]
        return f"{match['quoted_key']}{quote}{REDACTED}{quote}"
    if match["key"]:
        return match["key"] + REDACTED
    if match["colon_key"]:
        return match["colon_key"] + REDACTED
    return match["scheme"] + REDACTED


def _mask_run(match: re.Match[str]) -> str:
    return REDACTED if _looks_secret(match[0]) else match[0]
