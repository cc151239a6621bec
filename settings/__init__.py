"""Settings from the environment (README, "Configuration"), checked once at start.

Read with pydantic-settings from the process's environment over a ``.env`` file in the working
directory; each secret may instead come from the file named by ``<NAME>_FILE``. A missing,
malformed or contradictory value raises :class:`ConfigError`, one line naming the variable, so
the service never starts half-configured.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from settings import fields as f
from settings import jwt_keys
from settings.apps import AppConfig, first_wechat_app, load_apps, shorthand_app
from settings.fields import ConfigError, SecretFiles, Variables
from settings.waits import wechat_waits

__all__ = ["AppConfig", "ConfigError", "Settings", "load_settings"]

DEFAULT_WECHAT_API_BASE = "https://api.weixin.qq.com"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/weapp.db"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
TEN_YEARS = 10 * 365 * 86_400
RESPONSE_TIMEOUT_SECONDS = 30.0
"""How long a request may take once its headers are in; every wait on WeChat fits inside it."""
DEVELOPMENT_SESSION_SECRET = "weapp-login development session secret: never in production"  # noqa: S105
"""Keys login tokens when ``SESSION_SECRET`` is unset in development (a warning says so)."""

_Secret = Field(default=None, repr=False)
_GIVEN: ContextVar[Mapping[str, str] | None] = ContextVar("settings_given", default=None)
"""The variables :meth:`Settings.from_env` was given, which it then reads alone."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, validate_default=False
    )

    apps_file: str | None = None
    """``APPS_FILE``: the TOML file of the apps; unset, the one-app ``WECHAT_*`` shorthand."""
    host: str = "127.0.0.1"
    port: Annotated[int, f.whole(1, 65535)] = 8000
    workers: Annotated[int, f.whole(1, 256)] = 1
    app_env: Annotated[str, f.one_of("development", "production")] = "development"
    wechat_appid: str | None = None
    wechat_secret: str | None = _Secret
    wechat_api_base: Annotated[str, f.url("http", "https", base=True)] = DEFAULT_WECHAT_API_BASE
    wechat_timeout_seconds: Annotated[float, f.seconds(0.05, RESPONSE_TIMEOUT_SECONDS)] = 3.0
    wechat_max_in_flight: Annotated[int, f.whole(1, 10_000)] = 100
    wechat_backlog: Annotated[int, f.whole(0, 100_000)] = 500
    request_timeout_seconds: Annotated[float, f.seconds(0.1, 300)] = 10.0
    session_secret: Annotated[str | None, f.secret(32)] = _Secret
    redis_url: Annotated[str | None, f.url("redis", "rediss", "unix")] = None
    redis_key_prefix: Annotated[str, f.key_prefix()] = "wl:"
    redis_cluster: Annotated[bool, f.one_of("0", "1")] = False
    redis_sentinels: Annotated[str | None, f.addresses()] = None
    redis_sentinel_master: str | None = None
    redis_sentinel_password: str | None = _Secret
    database_url: Annotated[str, f.database_url()] = DEFAULT_DATABASE_URL
    database_pool_size: Annotated[int, f.whole(1, 1_000)] = 20
    session_ttl_seconds: Annotated[int, f.whole(1, TEN_YEARS)] = 604_800
    session_max_age_seconds: Annotated[int, f.whole(1, TEN_YEARS)] = 2_592_000
    admin_token: Annotated[str | None, f.bearer_token()] = _Secret
    service_token: Annotated[str | None, f.bearer_token()] = _Secret
    token_format: Annotated[str, f.one_of("opaque", "jwt")] = "opaque"  # noqa: S105 (a name)
    """``TOKEN_FORMAT``: the service's own tokens, or signed access tokens and refresh tokens."""
    access_token_ttl_seconds: Annotated[int, f.whole(60, 3600)] = 900
    token_issuer: Annotated[str, f.claim()] = "weapp-login"  # noqa: S105 (a name)
    token_audience: Annotated[str, f.claim()] = "weapp-login"  # noqa: S105 (a name)
    jwt_signing_key_file: str | None = None
    """A PEM Ed25519 private key; unset in development: one made under ``./var/`` and kept."""
    jwt_verify_key_files: str | None = None
    """Comma-separated PEM Ed25519 public keys, published and accepted too (key rotation)."""
    login_rate_per_minute: Annotated[int, f.whole(0)] = 60
    trusted_proxy_count: Annotated[int, f.whole(0, 32)] = 0
    audit_retention_days: Annotated[int, f.whole(0, 36_500)] = 90
    webhook_url: Annotated[str | None, f.url("http", "https")] = None
    webhook_secret: Annotated[str | None, f.webhook_secret()] = _Secret
    log_level: Annotated[str, f.one_of(*LOG_LEVELS, upper=True)] = "INFO"
    metrics_port: Annotated[int | None, f.whole(1, 65535)] = None
    metrics_host: str = "127.0.0.1"
    metrics_dir: Annotated[str | None, f.directory()] = Field(
        default=None, validation_alias="prometheus_multiproc_dir"
    )
    """``PROMETHEUS_MULTIPROC_DIR``: where workers put their metrics; unset, a temporary one."""
    _apps: tuple[AppConfig, ...] = PrivateAttr(default=())
    _jwt_keys: tuple[str, tuple[str, ...]] | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, values: Any) -> Any:
        """Surrounding spaces are dropped, and a blank value counts as unset."""
        if not isinstance(values, dict):
            return values
        stripped = {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}
        return {k: v for k, v in stripped.items() if v != ""}

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        given = _GIVEN.get()
        if given is not None:
            return Variables(settings_cls, given), SecretFiles(settings_cls, given)
        assert isinstance(env_settings, EnvSettingsSource)
        assert isinstance(dotenv_settings, DotEnvSettingsSource)
        variables = {**dotenv_settings.env_vars, **env_settings.env_vars}  # env over .env
        return env_settings, dotenv_settings, SecretFiles(settings_cls, variables)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The process's environment over ``.env``; or exactly ``environ`` when given."""
        given = None if environ is None else {k.lower(): v for k, v in environ.items()}
        reset = _GIVEN.set(given)
        try:
            settings = cls()
        except ValidationError as error:
            raise f.one_line(error) from None
        finally:
            _GIVEN.reset(reset)
        settings._apps = settings._read_apps()
        settings._check_combinations()
        return settings

    @property
    def production(self) -> bool:
        return self.app_env == "production"

    @property
    def apps(self) -> tuple[AppConfig, ...]:
        """The apps served, in the file's order (without ``APPS_FILE``: the one app ``default``)."""
        if not self._apps:
            self._apps = self._read_apps()
        return self._apps

    @property
    def uses_simulator(self) -> bool:
        """No credentials: the built-in WeChat simulator stands in for WeChat (for the
        single-app wiring: the shorthand app, or the first WeChat app of ``APPS_FILE``)."""
        wechat = first_wechat_app(self.apps)
        return wechat is None or wechat.simulator

    @property
    def uses_development_session_secret(self) -> bool:
        """``SESSION_SECRET`` unset (development only): tokens keyed by a value anyone can read."""
        return self.session_secret is None

    @property
    def uses_redis(self) -> bool:
        """Sessions (and the other shared state) live in Redis: a URL or Sentinels are set."""
        return self.redis_url is not None or self.redis_sentinels is not None

    @property
    def jwt_mode(self) -> bool:
        """``TOKEN_FORMAT=jwt``: signed access tokens and refresh tokens."""
        return self.token_format == "jwt"  # noqa: S105 (a format's name)

    @property
    def jwt_keys(self) -> tuple[str, tuple[str, ...]] | None:
        """JWT mode: the signing key's PEM and the verify keys' (read and checked at start)."""
        if not self.jwt_mode:
            return None
        if self._jwt_keys is None:
            self._jwt_keys = (jwt_keys.signing_key(self.jwt_signing_key_file),
                              jwt_keys.verify_keys(self.jwt_verify_key_files))
        return self._jwt_keys

    def secret_values(self) -> tuple[str, ...]:
        """Every secret configured, however it came (environment, ``.env`` or ``*_FILE``), and
        the passwords inside the store URLs: what the log filter masks wherever it appears."""
        values = [getattr(self, name) for name, field in type(self).model_fields.items()
                  if field.repr is False]
        values += [key for app in self.apps
                   for key in (app.secret, app.private_key, app.alipay_public_key)]
        for url in (self.redis_url, self.database_url):
            with contextlib.suppress(ValueError):
                values.append(urlsplit(url or "").password)
        return tuple(value for value in values if value)

    def as_config(self) -> dict[str, Any]:
        """The plain dict that the container's ``Configuration`` provider is filled from."""
        values = self.model_dump()
        values["sessions_backend"] = "redis" if self.uses_redis else "memory"
        values["webhooks"] = "on" if self.webhook_url else "off"
        # Keys login tokens: the same in every worker and instance; changing it logs users out.
        values["session_secret"] = self.session_secret or DEVELOPMENT_SESSION_SECRET
        values["apps"] = [app.as_config() for app in self.apps]
        deployed = first_wechat_app(self.apps)
        wechat = deployed or shorthand_app(None, None, self.wechat_api_base)
        # The deployment's WeChat app: the users of before apps become its identities (0003),
        # and the tokens and session keys written before apps are its logins. Release 0.1.0's
        # tokens are routed by a key derived from its secret (adapters/redis/legacy_sessions.py):
        # read only when there is such an app, a WeChat app 0.1.0 could have been.
        values["wechat"] = {"appid": wechat.appid}
        values["legacy_app"] = wechat.id
        values["legacy_sessions"] = "on" if deployed is not None else "off"
        values["legacy_wechat_secret"] = wechat.secret
        # Each app has its own limit on calls in flight; the keep-alive pool holds them all.
        values["platform_connections"] = self.wechat_max_in_flight * len(self.apps)
        values["response_timeout_seconds"] = RESPONSE_TIMEOUT_SECONDS
        signing, verifying = self.jwt_keys or ("", ())
        values["jwt"] = {"signing_key": signing, "verify_keys": list(verifying)}
        values.update(wechat_waits(self.wechat_timeout_seconds))
        return values

    def _read_apps(self) -> tuple[AppConfig, ...]:
        if self.apps_file is None:
            return (shorthand_app(self.wechat_appid, self.wechat_secret, self.wechat_api_base),)
        shorthand = ("wechat_appid", "wechat_secret", "wechat_api_base")
        given = [name.upper() for name in shorthand if name in self.model_fields_set]
        return load_apps(self.apps_file, production=self.production, shorthand=given)

    def _check_combinations(self) -> None:
        if (self.wechat_appid is None) != (self.wechat_secret is None):
            missing = "WECHAT_SECRET" if self.wechat_secret is None else "WECHAT_APPID"
            raise ConfigError(f"{missing}: set both WECHAT_APPID and WECHAT_SECRET, or neither")
        if self.production and self.apps_file is None and self.wechat_appid is None:
            raise ConfigError(
                "WECHAT_APPID: required when APP_ENV=production (the simulator is for development)"
            )
        if self.production and urlsplit(self.wechat_api_base).scheme != "https":
            raise ConfigError("WECHAT_API_BASE: must be https when APP_ENV=production")
        if self.production and self.session_secret is None:
            raise ConfigError("SESSION_SECRET: required when APP_ENV=production")
        if self.production and self.jwt_mode and self.jwt_signing_key_file is None:
            raise ConfigError("JWT_SIGNING_KEY_FILE: required when TOKEN_FORMAT=jwt and "
                              "APP_ENV=production")
        _ = self.jwt_keys  # reads and checks the key files now, at start
        self._check_timeouts()
        self._check_redis()
        self._check_webhooks()
        if self.workers > 1 and not self.uses_redis:
            raise ConfigError(
                "WORKERS: the in-memory session store serves one worker only; set REDIS_URL"
            )
        if self.metrics_port is None and "metrics_host" in self.model_fields_set:
            raise ConfigError("METRICS_HOST: needs METRICS_PORT (the listener it is for)")
        if self.metrics_port == self.port:
            raise ConfigError(f"METRICS_PORT: must differ from PORT ({self.port})")

    def _check_timeouts(self) -> None:
        timeout = self.wechat_timeout_seconds
        waits = wechat_waits(timeout)
        # The longest: another login's claim on the same code, or another process's refresh of
        # the access token followed by this request's own call.
        longest = max(waits["code_pending_seconds"], waits["token"]["wait_seconds"] + timeout)
        if longest >= RESPONSE_TIMEOUT_SECONDS:
            raise ConfigError(
                f"WECHAT_TIMEOUT_SECONDS: {timeout:g} lets a request wait {longest:g} s on "
                f"WeChat, past the {RESPONSE_TIMEOUT_SECONDS:g} s response timeout (504 then 503)"
            )

    def _check_webhooks(self) -> None:
        if (self.webhook_url is None) != (self.webhook_secret is None):
            missing = "WEBHOOK_SECRET" if self.webhook_secret is None else "WEBHOOK_URL"
            raise ConfigError(f"{missing}: set both WEBHOOK_URL and WEBHOOK_SECRET, or neither")
        if self.production and self.webhook_url and urlsplit(self.webhook_url).scheme != "https":
            raise ConfigError("WEBHOOK_URL: must be https when APP_ENV=production")

    def _check_redis(self) -> None:
        if (self.redis_sentinels is None) != (self.redis_sentinel_master is None):
            missing = (
                "REDIS_SENTINELS" if self.redis_sentinels is None else "REDIS_SENTINEL_MASTER"
            )
            raise ConfigError(f"{missing}: set both REDIS_SENTINELS and REDIS_SENTINEL_MASTER")
        if self.redis_sentinel_password is not None and self.redis_sentinels is None:
            raise ConfigError("REDIS_SENTINEL_PASSWORD: needs REDIS_SENTINELS")
        if self.redis_cluster:
            if self.redis_sentinels is not None:
                raise ConfigError("REDIS_CLUSTER: a Redis Cluster is not found through Sentinels")
            if self.redis_url is None:
                raise ConfigError("REDIS_CLUSTER: needs REDIS_URL, the address of any node")
            if urlsplit(self.redis_url).scheme == "unix" or urlsplit(self.redis_url).path not in (
                "", "/", "/0"
            ):
                raise ConfigError("REDIS_URL: a Redis Cluster node is a redis:// URL of database 0")


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """:meth:`Settings.from_env`: the settings of this process, checked."""
    return Settings.from_env(environ)
