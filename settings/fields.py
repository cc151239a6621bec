"""How each setting is read: the checks on one value, ``<NAME>_FILE`` secrets, one-line errors.

Every check raises ``ValueError`` with a message that never quotes a secret; :func:`one_line`
turns pydantic's report into the first error, prefixed with its variable's name.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from domain.bearer import BEARER_TOKEN, BEARER_TOKEN_CHARACTERS

SECRETS = (
    "WECHAT_SECRET", "SESSION_SECRET", "ADMIN_TOKEN", "SERVICE_TOKEN", "WEBHOOK_SECRET",
    "REDIS_SENTINEL_PASSWORD",
)
"""Settings that may also come from a file named by ``<NAME>_FILE``, and are never quoted."""


class ConfigError(ValueError):
    """A setting is missing or malformed; the message starts with the variable's name."""


def one_line(error: ValidationError) -> ConfigError:
    """The first of pydantic's errors as ``NAME: what is wrong``."""
    first = error.errors(include_input=False, include_url=False)[0]
    name = str(first["loc"][0]).upper() if first["loc"] else "settings"
    cause = (first.get("ctx") or {}).get("error")
    return ConfigError(f"{name}: {cause if cause is not None else first['msg']}")


def _checked(parse: Callable[[str], Any]) -> Any:
    """A field check on the raw text (already stripped; blank means unset and never gets here)."""
    return BeforeValidator(lambda raw: parse(str(raw)))


def whole(low: int, high: int | None = None) -> Any:
    def parse(raw: str) -> int:
        if not re.fullmatch(r"[0-9]+", raw):
            raise ValueError(f"expected a whole number, got {raw!r}")
        value = int(raw)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ValueError(f"must be {bound}, got {value}")
        return value

    return _checked(parse)


def seconds(low: float, high: float) -> Any:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number of seconds, got {raw!r}") from None
        if not low <= value <= high:  # also refuses nan
            raise ValueError(f"must be between {low} and {high}, got {raw}")
        return value

    return _checked(parse)


def one_of(*choices: str, upper: bool = False) -> Any:
    def parse(raw: str) -> str:
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return _checked(parse)


def subset_of(*choices: str) -> Any:
    """A comma-separated subset of ``choices`` (spaces around names ignored) as a frozenset."""

    def parse(raw: str) -> frozenset[str]:
        names = frozenset(name.strip().lower() for name in raw.split(",") if name.strip())
        unknown = sorted(names - set(choices))
        if unknown:
            raise ValueError(f"unknown {', '.join(map(repr, unknown))}: "
                             f"expected a comma-separated subset of {', '.join(choices)}")
        return names

    return _checked(parse)


def url(*schemes: str, base: bool = False) -> Any:
    """A URL of one of ``schemes``; a ``base`` URL loses its trailing slashes."""

    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "unix"):
            raise ValueError(f"expected a {'/'.join(schemes)} URL")
        return raw.rstrip("/") if base else raw

    return _checked(parse)


def webhook_secret() -> Any:
    """``whsec_`` and the base64 of at least 24 bytes (the Standard Webhooks form)."""

    def parse(raw: str) -> str:
        prefix, _, encoded = raw.partition("_")
        try:
            key = base64.b64decode(encoded, validate=True)
        except ValueError:
            key = b""
        if prefix != "whsec" or len(key) < 24:
            raise ValueError("expected whsec_ and the base64 of at least 24 bytes")
        return raw

    return _checked(parse)


def database_url() -> Any:
    def parse(raw: str) -> str:
        scheme = raw.split("://", 1)[0] if "://" in raw else ""
        if scheme not in ("mysql+aiomysql", "sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ValueError(
                "expected a mysql+aiomysql://, postgresql+asyncpg:// or sqlite+aiosqlite:// URL"
            )
        return raw

    return _checked(parse)


def addresses() -> Any:
    """``host:port,host:port`` (IPv6 hosts in brackets)."""

    def parse(raw: str) -> str:
        for address in raw.split(","):
            host, _, port = address.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port,host:port, got {raw!r}")
        return raw

    return _checked(parse)


def directory() -> Any:
    """A directory that exists or can be created (not a file)."""

    def parse(raw: str) -> str:
        if os.path.exists(raw) and not os.path.isdir(raw):
            raise ValueError(f"{raw!r} is not a directory")
        return raw

    return _checked(parse)


def key_prefix() -> Any:
    def parse(raw: str) -> str:
        if not re.fullmatch(r"[!-~]{1,64}", raw):
            raise ValueError("must be 1 to 64 printable ASCII characters without spaces")
        return raw

    return _checked(parse)


def secret(min_length: int) -> Any:
    def parse(raw: str) -> str:
        if len(raw) < min_length:
            raise ValueError(f"must be at least {min_length} characters")
        return raw

    return _checked(parse)


def claim() -> Any:
    """A JWT claim's value: 1 to 200 printable ASCII characters without spaces."""

    def parse(raw: str) -> str:
        if not re.fullmatch(r"[!-~]{1,200}", raw):
            raise ValueError("must be 1 to 200 printable ASCII characters without spaces")
        return raw

    return _checked(parse)


def bearer_token() -> Any:
    """A token clients send as ``Authorization: Bearer``: exactly what the HTTP edge accepts."""

    def parse(raw: str) -> str:
        if not 32 <= len(raw) <= 512 or not BEARER_TOKEN.fullmatch(raw):
            raise ValueError(f"must be 32 to 512 characters of {BEARER_TOKEN_CHARACTERS}")
        return raw

    return _checked(parse)


def read_secret_files(variables: Mapping[str, str | None]) -> dict[str, str]:
    """``{name: value}`` for each secret given as ``<NAME>_FILE`` (names in lower case, as
    pydantic-settings keys them): the file's content without its trailing newline."""
    values: dict[str, str] = {}
    for name in SECRETS:
        path = (variables.get(f"{name}_FILE".lower()) or "").strip()
        if not path:
            continue
        if (variables.get(name.lower()) or "").strip():
            raise ConfigError(f"{name}: set either {name} or {name}_FILE, not both")
        try:
            values[name.lower()] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"{name}_FILE: cannot read {path!r}: {reason}") from None
    return values


class Variables(PydanticBaseSettingsSource):
    """A pydantic-settings source over given variables (names in lower case)."""

    def __init__(
        self, settings_cls: type[BaseSettings], variables: Mapping[str, str | None]
    ) -> None:
        super().__init__(settings_cls)
        self._variables = variables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._variables.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._variables)  # the model ignores the ones that are not settings


class SecretFiles(Variables):
    """The pydantic-settings source of ``<NAME>_FILE`` secrets, named in the given variables."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every file at once

    def __call__(self) -> dict[str, Any]:
        return read_secret_files(self._variables)
