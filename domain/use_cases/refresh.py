"""Renew a session's tokens with a refresh token (JWT mode)."""

from __future__ import annotations

from dataclasses import dataclass

from domain.credentials import Issued, JwtCredentials
from domain.errors import InvalidRefreshToken, RefreshTokenReused
from domain.ports import Clock, RefreshTokenStore, SessionStore
from domain.use_cases.authenticate import slide
from domain.use_cases.policy import SessionPolicy

REUSE_WINDOW_SECONDS = 10.0
"""How long after its first use a refresh token still refreshes (a lost response, two pages
refreshing at once)."""


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    refresh_token: str


@dataclass(frozen=True, slots=True)
class Refreshed:
    issued: Issued
    user_id: int


class RefreshUseCase:
    """Rules:
    - an unknown or expired refresh token, or one whose session no longer lives (logged out,
      ended, expired), is ``InvalidRefreshToken``;
    - a refresh token refreshes at its first use and within ``reuse_window`` seconds of it,
      each time a new access token and a new refresh token of the same session;
    - used after that, it was replayed (stolen): the session ends, with every token of it, and
      the answer is ``RefreshTokenReused``;
    - a refresh slides the session as a use does; it never brings an ended session back (a
      refresh racing a logout leaves the session ended: its new tokens die with it).
    """

    def __init__(
        self,
        *,
        sessions: SessionStore,
        refresh_tokens: RefreshTokenStore,
        credentials: JwtCredentials,
        clock: Clock,
        policy: SessionPolicy,
        reuse_window: float = REUSE_WINDOW_SECONDS,
    ) -> None:
        self._sessions = sessions
        self._refresh_tokens = refresh_tokens
        self._credentials = credentials
        self._clock = clock
        self._policy = policy
        self._reuse_window = reuse_window

    async def execute(self, request: RefreshRequest) -> Refreshed:
        now = self._clock.now()
        use = await self._refresh_tokens.use(request.refresh_token, now=now)
        if use is None:
            raise InvalidRefreshToken()
        if now - use.first_used_at > self._reuse_window:
            await self._sessions.logout_by_id(use.session_id, everywhere=False)
            raise RefreshTokenReused()
        session = await self._sessions.get_by_id(use.session_id)
        if session is None or session.expires_at <= now:
            raise InvalidRefreshToken()
        session = await slide(self._sessions, self._policy, use.session_id, session, now)
        issued = await self._credentials.issue(use.session_id, session, now)
        return Refreshed(issued=issued, user_id=session.user_id)
