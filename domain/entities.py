"""Entities and value objects of the login domain."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class WeChatSession:
    """What WeChat's ``jscode2session`` returns for a login code.

    ``session_key`` is a secret: it never leaves the server, and ``repr`` hides it.
    """

    openid: str
    session_key: str = field(repr=False)
    unionid: str | None = None


@dataclass(frozen=True, slots=True)
class App:
    """One mini-program this deployment serves: its id here, its platform, and the platform's id
    of it (``appid``; WeCom: the corpid)."""

    id: str
    platform: str
    appid: str


@dataclass(frozen=True, slots=True)
class Identity:
    """A user as one app of one platform knows it; unique by (platform, appid, openid).

    ``openid`` is the platform's user id for that app (Alipay: open_id or user_id; WeCom: the
    userid). Two identities of one platform with the same ``unionid`` are one user.
    """

    platform: str
    appid: str
    openid: str = field(repr=False)
    unionid: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class User:
    """A mini-program user: one or more identities (``Identity``), one id."""

    id: int
    created_at: float = 0.0
    """Unix time in seconds."""
    status: str = "active"
    """``active`` or ``banned`` (``domain.accounts``); a deleted user is found by no login."""


@dataclass(frozen=True, slots=True)
class LoginSession:
    """The server-side state behind one login token (the token itself is never stored).

    Times are Unix seconds. ``expires_at`` slides forward on use; ``max_expires_at`` never moves.
    """

    user_id: int
    user_created_at: float
    login_at: float
    expires_at: float
    max_expires_at: float
    app: str = "default"
    """The id of the app the login came from (tokens issued before apps existed: the
    deployment's WeChat app)."""
    platform: str = "wechat"

    def expires_in(self, now: float) -> int:
        """Whole seconds left, never negative."""
        return max(0, int(self.expires_at - now))
