"""Settings from the environment (API.md, "Configuration"), checked once at start.

A missing or malformed value raises :class:`ConfigError` naming the variable, so the service
never starts half-configured.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

DEFAULT_WECHAT_API_BASE = "https://api.weixin.qq.com"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/weapp.db"
SIMULATOR_APPID = "wx0000simulator00"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message starts with the variable's name."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    app_env: str = "development"
    wechat_appid: str | None = None
    wechat_secret: str | None = field(default=None, repr=False)
    wechat_api_base: str = DEFAULT_WECHAT_API_BASE
    wechat_timeout_seconds: float = 3.0
    wechat_max_in_flight: int = 100
    wechat_backlog: int = 500
    request_timeout_seconds: float = 10.0
    redis_url: str | None = None
    redis_cluster: bool = False
    redis_sentinels: str | None = None
    redis_sentinel_master: str | None = None
    redis_sentinel_password: str | None = field(default=None, repr=False)
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = 20
    session_ttl_seconds: int = 604_800
    session_max_age_seconds: int = 2_592_000
    admin_token: str | None = field(default=None, repr=False)
    login_rate_per_minute: int = 60
    trusted_proxy_count: int = 0
    log_level: str = "INFO"
    metrics_dir: str | None = None
    """``PROMETHEUS_MULTIPROC_DIR``: where workers put their metrics; unset, a temporary one."""

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def uses_simulator(self) -> bool:
        """No credentials: the built-in WeChat simulator stands in for WeChat."""
        return self.wechat_appid is None

    @property
    def uses_redis(self) -> bool:
        """Sessions (and the other shared state) live in Redis: a URL or Sentinels are set."""
        return self.redis_url is not None or self.redis_sentinels is not None

    def as_config(self) -> dict[str, Any]:
        """The plain dict that the container's ``Configuration`` provider is filled from."""
        values = asdict(self)
        values["sessions_backend"] = "redis" if self.uses_redis else "memory"
        # Keys the routes in login tokens (adapters/redis/sessions.py): a real secret whenever
        # WeChat's is set, the same in every worker and instance; changing it logs users out.
        # None (the simulator): the adapter's fixed development secret.
        values["session_route_secret"] = (
            None
            if self.wechat_secret is None
            else hashlib.sha256(b"session routes\0" + self.wechat_secret.encode()).digest()
        )
        values["wechat_backend"] = "simulator" if self.uses_simulator else "wechat"
        values["wechat"] = {
            "appid": self.wechat_appid or SIMULATOR_APPID,
            "secret": self.wechat_secret or secrets.token_hex(16),
        }
        # A claim on a code is held while WeChat may still answer and the login then reaches
        # its session write, which records the answer: the user store's deadline (1.5 s), a
        # Redis connection and command (1 s each), and a margin.
        values["code_pending_seconds"] = self.wechat_timeout_seconds + 5.0
        # Waiters outlast one refresh; a refresh's lock outlasts one WeChat call.
        values["token"] = {
            "wait_seconds": self.wechat_timeout_seconds + 2.0,
            "lock_seconds": max(10.0, 2 * self.wechat_timeout_seconds + 4.0),
        }
        return values

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Env(os.environ if environ is None else environ)
        settings = cls(
            host=env.text("HOST", "127.0.0.1"),
            port=env.integer("PORT", 8000, low=1, high=65535),
            workers=env.integer("WORKERS", 1, low=1, high=256),
            app_env=env.choice("APP_ENV", "development", ("development", "production")),
            wechat_appid=env.optional("WECHAT_APPID"),
            wechat_secret=env.optional("WECHAT_SECRET"),
            wechat_api_base=env.url("WECHAT_API_BASE", DEFAULT_WECHAT_API_BASE, ("http", "https")),
            wechat_timeout_seconds=env.number("WECHAT_TIMEOUT_SECONDS", 3.0, low=0.05, high=60),
            wechat_max_in_flight=env.integer("WECHAT_MAX_IN_FLIGHT", 100, low=1, high=10_000),
            wechat_backlog=env.integer("WECHAT_BACKLOG", 500, low=0, high=100_000),
            request_timeout_seconds=env.number("REQUEST_TIMEOUT_SECONDS", 10.0, low=0.1, high=300),
            redis_url=env.optional_url("REDIS_URL", ("redis", "rediss", "unix")),
            redis_cluster=env.choice("REDIS_CLUSTER", "0", ("0", "1")) == "1",
            redis_sentinels=env.addresses("REDIS_SENTINELS"),
            redis_sentinel_master=env.optional("REDIS_SENTINEL_MASTER"),
            redis_sentinel_password=env.optional("REDIS_SENTINEL_PASSWORD"),
            database_url=env.database_url("DATABASE_URL", DEFAULT_DATABASE_URL),
            database_pool_size=env.integer("DATABASE_POOL_SIZE", 20, low=1, high=1_000),
            session_ttl_seconds=env.integer("SESSION_TTL_SECONDS", 604_800, low=1),
            session_max_age_seconds=env.integer("SESSION_MAX_AGE_SECONDS", 2_592_000, low=1),
            admin_token=env.optional("ADMIN_TOKEN"),
            login_rate_per_minute=env.integer("LOGIN_RATE_PER_MINUTE", 60, low=0),
            trusted_proxy_count=env.integer("TRUSTED_PROXY_COUNT", 0, low=0, high=32),
            log_level=env.choice("LOG_LEVEL", "INFO", LOG_LEVELS, upper=True),
            metrics_dir=env.directory("PROMETHEUS_MULTIPROC_DIR"),
        )
        settings._check_combinations()
        return settings

    def _check_combinations(self) -> None:
        if (self.wechat_appid is None) != (self.wechat_secret is None):
            missing = "WECHAT_SECRET" if self.wechat_secret is None else "WECHAT_APPID"
            raise ConfigError(f"{missing}: set both WECHAT_APPID and WECHAT_SECRET, or neither")
        if self.production and self.uses_simulator:
            raise ConfigError(
                "WECHAT_APPID: required when APP_ENV=production (the simulator is for development)"
            )
        if self.production and urlsplit(self.wechat_api_base).scheme != "https":
            raise ConfigError("WECHAT_API_BASE: must be https when APP_ENV=production")
        self._check_redis()
        if self.workers > 1 and not self.uses_redis:
            raise ConfigError(
                "WORKERS: the in-memory session store serves one worker only; set REDIS_URL"
            )
        if self.admin_token is not None and len(self.admin_token) < 16:
            raise ConfigError("ADMIN_TOKEN: must be at least 16 characters")

    def _check_redis(self) -> None:
        if (self.redis_sentinels is None) != (self.redis_sentinel_master is None):
            missing = (
                "REDIS_SENTINELS" if self.redis_sentinels is None else "REDIS_SENTINEL_MASTER"
            )
            raise ConfigError(f"{missing}: set both REDIS_SENTINELS and REDIS_SENTINEL_MASTER")
        if self.redis_cluster:
            if self.redis_sentinels is not None:
                raise ConfigError("REDIS_CLUSTER: a Redis Cluster is not found through Sentinels")
            if self.redis_url is None:
                raise ConfigError("REDIS_CLUSTER: needs REDIS_URL, the address of any node")
            if urlsplit(self.redis_url).scheme == "unix" or urlsplit(self.redis_url).path not in (
                "", "/", "/0"
            ):
                raise ConfigError("REDIS_URL: a Redis Cluster node is a redis:// URL of database 0")


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def _raw(self, name: str) -> str | None:
        value = self._environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def optional(self, name: str) -> str | None:
        return self._raw(name)

    def directory(self, name: str) -> str | None:
        """A directory that exists or can be created (not a file)."""
        raw = self._raw(name)
        if raw is not None and os.path.exists(raw) and not os.path.isdir(raw):
            raise ConfigError(f"{name}: {raw!r} is not a directory")
        return raw

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def integer(self, name: str, default: int, *, low: int, high: int | None = None) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        if not re.fullmatch(r"[0-9]+", raw):
            raise ConfigError(f"{name}: expected a whole number, got {raw!r}")
        value = int(raw)
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise ConfigError(f"{name}: must be {bound}, got {value}")
        return value

    def number(self, name: str, default: float, *, low: float, high: float) -> float:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}: expected a number of seconds, got {raw!r}") from None
        if not low <= value <= high:
            raise ConfigError(f"{name}: must be between {low} and {high}, got {raw}")
        return value

    def choice(
        self, name: str, default: str, choices: tuple[str, ...], *, upper: bool = False
    ) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            raise ConfigError(f"{name}: must be one of {', '.join(choices)}, got {raw!r}")
        return value

    def url(self, name: str, default: str, schemes: tuple[str, ...]) -> str:
        value = self.optional_url(name, schemes)
        return (value or default).rstrip("/")

    def addresses(self, name: str) -> str | None:
        """``host:port,host:port`` (IPv6 hosts in brackets)."""
        raw = self._raw(name)
        if raw is None:
            return None
        for address in raw.split(","):
            host, _, port = address.strip().rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"{name}: expected host:port,host:port, got {raw!r}")
        return raw

    def optional_url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not (parts.netloc or parts.scheme == "unix"):
            raise ConfigError(f"{name}: expected a {'/'.join(schemes)} URL")
        return raw

    def database_url(self, name: str, default: str) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        scheme = raw.split("://", 1)[0] if "://" in raw else ""
        if scheme not in ("mysql+aiomysql", "sqlite+aiosqlite", "postgresql+asyncpg"):
            raise ConfigError(
                f"{name}: expected a mysql+aiomysql://, postgresql+asyncpg:// "
                "or sqlite+aiosqlite:// URL"
            )
        return raw
