"""The apps one deployment serves, each with what its logins and features use: its own code
exchange (single flight, calls in flight), and on WeChat its platform calls and shared token."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from domain.access_token import AccessTokenProvider
from domain.code_exchange import CodeExchange
from domain.entities import App
from domain.errors import UnknownApp, UnsupportedByPlatform, WeChatFailure
from domain.platform import WeChatPlatform

DECRYPTING_PLATFORMS = frozenset({"wechat", "qq", "douyin"})
"""The platforms whose ``encryptedData`` is WeChat's scheme with the login's ``session_key``."""


@dataclass(frozen=True, slots=True)
class AppServices:
    """One app and its own services; ``features`` (WeChat's platform calls) and
    ``access_tokens`` only where the platform has them."""

    app: App
    exchange: CodeExchange
    features: WeChatPlatform | None = None
    access_tokens: AccessTokenProvider | None = None

    def wechat_features(self) -> tuple[WeChatPlatform, AccessTokenProvider]:
        """WeChat's platform calls and the app's token, else ``UnsupportedByPlatform``."""
        if self.features is None or self.access_tokens is None:
            raise UnsupportedByPlatform()
        return self.features, self.access_tokens


class AppDirectory:
    """The apps by id. Rules:

    - a request names its app by id; it may leave it out when exactly one app is configured;
    - an id that names no app (or none given while several are configured) is ``UnknownApp``.
    """

    def __init__(self, apps: Iterable[AppServices]) -> None:
        self._by_id = {services.app.id: services for services in apps}
        self._only = next(iter(self._by_id.values())) if len(self._by_id) == 1 else None

    def get(self, app_id: str | None) -> AppServices:
        found = self._only if app_id is None else self._by_id.get(app_id)
        if found is None:
            raise UnknownApp()
        return found

    def of_identity(self, platform: str, appid: str) -> AppServices | None:
        """The app of an identity (its platform and the platform's appid), if still served."""
        return next(
            (s for s in self._by_id.values() if (s.app.platform, s.app.appid) == (platform, appid)),
            None,
        )


@contextmanager
def naming_platform(app: App) -> Iterator[None]:
    """A platform's failure inside names ``app``'s platform (the error body carries it)."""
    try:
        yield
    except WeChatFailure as failure:
        failure.platform = app.platform
        raise
