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
class User:
    """A mini-program user, known by the unique ``openid`` WeChat gives it."""

    id: int
    openid: str = field(repr=False)
    unionid: str | None = field(default=None, repr=False)
    created_at: float = 0.0
    """Unix time in seconds."""


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
    """The id of the app whose login made the session."""
    platform: str = "wechat"
    """The platform of that app."""

    def expires_in(self, now: float) -> int:
        """Whole seconds left, never negative."""
        return max(0, int(self.expires_at - now))
