"""The apps one deployment serves, each a mini-program on one platform (README, "Apps").

They come from the TOML file that ``APPS_FILE`` names, or, without it, from the one-app
shorthand ``WECHAT_APPID``/``WECHAT_SECRET`` (the app ``default``). Everything is read and
checked once at start: credentials from the file or from the files it names, Alipay's RSA keys
with ``cryptography``. A mistake raises :class:`ConfigError`, one line naming the file, the app
and the field, which never quotes a secret or a key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from settings.credentials import FieldError, alipay_keys, read_credential, read_secret, text
from settings.fields import ConfigError

PLATFORMS = ("wechat", "qq", "douyin", "alipay", "wecom")
DEFAULT_API_BASES = {
    "wechat": "https://api.weixin.qq.com",
    "qq": "https://api.q.qq.com",
    "douyin": "https://developer.toutiao.com",
    "alipay": "https://openapi.alipay.com/gateway.do",
    "wecom": "https://qyapi.weixin.qq.com",
}
SHORTHAND_APP = "default"
"""The id of the app that ``WECHAT_APPID``/``WECHAT_SECRET`` describe."""
SIMULATOR_APPID = "wx0000simulator00"
"""The shorthand app's appid when it runs against the simulator."""

_APP_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_PLATFORM_APPID = re.compile(r"[!-~]{1,64}")  # printable ASCII, no spaces
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CREDENTIALS = {"alipay": ("private_key", "alipay_public_key")}  # the others: a secret


def _appid_field(platform: str) -> str:
    """What a platform calls the id of its app: WeCom names the corporation's."""
    return "corpid" if platform == "wecom" else "appid"


def _credentials(platform: str) -> tuple[str, ...]:
    return _CREDENTIALS.get(platform, ("secret",))


@dataclass(frozen=True)
class AppConfig:
    """One app: its id in this service, its platform and its credentials there.

    ``appid`` is the platform's id of the app (WeCom: the corpid). A simulator app has no
    credentials. Alipay's keys are PEM: the app's private key as PKCS#8, Alipay's public key as
    SubjectPublicKeyInfo. Secrets and keys stay out of ``repr``.
    """

    id: str
    platform: str
    appid: str
    api_base: str
    simulator: bool = False
    secret: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    alipay_public_key: str | None = field(default=None, repr=False)

    def as_config(self) -> dict[str, Any]:
        """A plain dict of every field, for the container's configuration."""
        return asdict(self)


def shorthand_app(appid: str | None, secret: str | None, api_base: str) -> AppConfig:
    """The WeChat app ``default`` of ``WECHAT_APPID``/``WECHAT_SECRET``; unset, the simulator."""
    return AppConfig(
        id=SHORTHAND_APP, platform="wechat", appid=appid or SIMULATOR_APPID, api_base=api_base,
        simulator=appid is None, secret=secret,
    )


def first_wechat_app(apps: Iterable[AppConfig]) -> AppConfig | None:
    """The app of the single-app wiring (the ``wechat_*`` configuration keys), if any."""
    return next((app for app in apps if app.platform == "wechat"), None)


def _shown(text: str) -> str:
    """A name from the file, fit for one line: bare when it is a plain TOML key, else quoted."""
    return text if _BARE_KEY.fullmatch(text) else repr(text)


def load_apps(
    path: str, *, production: bool, shorthand: Iterable[str] = ()
) -> tuple[AppConfig, ...]:
    """The apps of the file at ``path``, in the file's order, each checked.

    ``shorthand`` names the one-app variables that are set, which the file replaces.
    """
    where = f"APPS_FILE {path if path.isprintable() else repr(path)}"
    for name in shorthand:
        raise ConfigError(f"{where}: {name}: the one-app shorthand; list that app in the file")
    try:
        document = tomllib.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as error:
        raise ConfigError(f"{where}: cannot be read: {error.strerror or 'I/O error'}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: cannot be read: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        reason = " ".join(str(error).split())
        raise ConfigError(f"{where}: is not valid TOML: {reason}") from None
    for name in document:
        if name != "apps":
            raise ConfigError(f"{where}: {_shown(name)}: unknown field (only [apps.<id>] tables)")
    tables = document.get("apps")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError(f"{where}: apps: no app; list each as an [apps.<id>] table")
    apps: list[AppConfig] = []
    for name, table in tables.items():
        try:
            apps.append(_app(name, table, Path(path).parent, production=production))
            _check_unique(apps)
        except FieldError as mistake:
            at = f"apps.{_shown(name)}" + (f".{mistake.field}" if mistake.field else "")
            raise ConfigError(f"{where}: {at}: {mistake.message}") from None
    return tuple(apps)


def _check_unique(apps: list[AppConfig]) -> None:
    """The last app is not another app's platform and appid once more."""
    last = apps[-1]
    for other in apps[:-1]:
        if (other.platform, other.appid) == (last.platform, last.appid):
            message = f"the same {last.platform} app as apps.{other.id}"
            raise FieldError(_appid_field(last.platform), message)


def _app(name: str, table: Any, directory: Path, *, production: bool) -> AppConfig:
    if not _APP_ID.fullmatch(name):
        raise FieldError("", "an app id is 1-32 of a-z 0-9 _ -, starting with a letter or digit")
    if not isinstance(table, dict):
        raise FieldError("", "must be a table of the app's fields")
    platform = _platform(table)
    id_field = _appid_field(platform)
    secret_fields = tuple(n for c in _credentials(platform) for n in (c, f"{c}_file"))
    known = ("platform", id_field, "api_base", "simulator", *secret_fields)
    for key in table:
        if key not in known:
            known_fields = ", ".join(known)
            raise FieldError(_shown(key), f"unknown field for {platform}; known: {known_fields}")
    simulator = table.get("simulator", False)
    if not isinstance(simulator, bool):
        raise FieldError("simulator", "must be true or false")
    appid = text(table, id_field)
    if appid is not None and not _PLATFORM_APPID.fullmatch(appid):
        raise FieldError(id_field, "must be 1-64 printable ASCII characters without spaces")
    api_base = _api_base(table, platform, production=production)
    if not simulator:
        if appid is None:
            raise FieldError(id_field, "missing")
        return _with_credentials(AppConfig(name, platform, appid, api_base), table, directory)
    if production:
        raise FieldError("simulator", "refused when APP_ENV=production (it is for development)")
    for key in secret_fields:
        if key in table:
            raise FieldError(key, "a simulator app takes no credentials")
    return AppConfig(name, platform, appid or f"simulator-{name}", api_base, simulator=True)


def _platform(table: dict[str, Any]) -> str:
    platform = text(table, "platform")
    choices = ", ".join(PLATFORMS)
    if platform is None:
        raise FieldError("platform", f"missing; one of {choices}")
    if platform not in PLATFORMS:
        raise FieldError("platform", f"unknown platform {platform!r}; one of {choices}")
    return platform


def _with_credentials(app: AppConfig, table: dict[str, Any], directory: Path) -> AppConfig:
    """``app`` with its credentials, each given inline or in a file, read and checked."""
    found = {}
    for credential in _credentials(app.platform):
        value = read_credential(table, credential, directory)
        if value is None:
            raise FieldError(credential, f"missing; set {credential} or {credential}_file")
        found[credential] = value
    if app.platform != "alipay":
        return replace(app, secret=read_secret(*found["secret"]))
    private_key, alipay_public_key = alipay_keys(found["private_key"], found["alipay_public_key"])
    return replace(app, private_key=private_key, alipay_public_key=alipay_public_key)


def _api_base(table: dict[str, Any], platform: str, *, production: bool) -> str:
    raw = text(table, "api_base")
    if raw is None:
        return DEFAULT_API_BASES[platform]
    try:
        parts = urlsplit(raw)
        valid = parts.scheme in ("http", "https") and parts.hostname and parts.port != 0
    except ValueError:  # a malformed host or port
        valid = False
    if not valid or parts.query or parts.fragment:
        raise FieldError("api_base", "expected an https URL, the platform's API root")
    if production and parts.scheme != "https":
        raise FieldError("api_base", "must be https when APP_ENV=production")
    return raw.rstrip("/")
