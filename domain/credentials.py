"""What a client holds for its session, in either token format (``TOKEN_FORMAT``).

``opaque``: the session store's own token. ``jwt``: a short-lived signed access token naming the
session, and a rotating refresh token. Either way the session store stays the truth: a token
works on this service only while its session lives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.entities import LoginSession
from domain.ports import AccessTokenClaims, AccessTokenSigner, RefreshTokenStore, SessionStore


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a token says of itself: its session, and for a signed token its own times (``None``
    for an opaque one, whose session's times count)."""

    session_id: str
    issued_at: float | None = None
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class Issued:
    """The tokens handed to the client: the access token, and in JWT mode a refresh token."""

    token: str
    expires_in: int
    refresh_token: str | None = None
    refresh_expires_in: int | None = None


class Credentials(Protocol):
    """Reads the tokens of one format, and issues them for a new login."""

    def read(self, token: str) -> AccessClaims | None:
        """The claims of a well-formed, authentic, unexpired token, else ``None`` (no I/O)."""
        ...

    async def for_login(self, session_token: str, session: LoginSession, now: float) -> Issued:
        """The tokens of a login whose session the store has just issued ``session_token`` for."""
        ...


class OpaqueCredentials(Credentials):
    """The session store's token is the client's token."""

    def __init__(self, *, sessions: SessionStore) -> None:
        self._sessions = sessions

    def read(self, token: str) -> AccessClaims | None:
        session_id = self._sessions.session_id(token)
        return None if session_id is None else AccessClaims(session_id)

    async def for_login(self, session_token: str, session: LoginSession, now: float) -> Issued:
        return Issued(token=session_token, expires_in=session.expires_in(now))


class JwtCredentials(Credentials):
    """Rules:
    - the access token is signed, names the session (``sid``) and lives ``access_ttl`` seconds,
      never past the session's ``max_expires_at``;
    - the store's own session token never leaves the server (nor is it kept: the session is
      found by its id);
    - each issue also makes a new refresh token of the session; it refreshes only while the
      session lives, and at least for ``refresh_expires_in`` (the session's life left unused).
    """

    def __init__(
        self,
        *,
        sessions: SessionStore,
        signer: AccessTokenSigner,
        refresh_tokens: RefreshTokenStore,
        access_ttl: int,
    ) -> None:
        self._sessions = sessions
        self._signer = signer
        self._refresh_tokens = refresh_tokens
        self._access_ttl = access_ttl

    def read(self, token: str) -> AccessClaims | None:
        claims = self._signer.verify(token)
        if claims is None:
            return None
        return AccessClaims(claims.session_id, claims.issued_at, claims.expires_at)

    async def for_login(self, session_token: str, session: LoginSession, now: float) -> Issued:
        session_id = self._sessions.session_id(session_token)
        assert session_id is not None, "the store reads the tokens it issues"
        return await self.issue(session_id, session, now)

    async def issue(self, session_id: str, session: LoginSession, now: float) -> Issued:
        """A new access token and a new refresh token of the live ``session``."""
        issued_at = int(now)  # JWT times are whole seconds
        expires_at = max(issued_at, min(issued_at + self._access_ttl, int(session.max_expires_at)))
        token = self._signer.sign(
            AccessTokenClaims(
                user_id=session.user_id,
                session_id=session_id,
                app=session.app,
                platform=session.platform,
                issued_at=issued_at,
                expires_at=expires_at,
            )
        )
        # Kept while it may still be used (its promised life, plus one access token's: uses of
        # that token may slide the session meanwhile), not to the session's maximum age: every
        # refresh leaves its used token behind, remembered for the reuse check.
        kept_until = min(session.expires_at + self._access_ttl, session.max_expires_at)
        refresh = await self._refresh_tokens.issue(session_id, expires_at=kept_until)
        return Issued(
            token=token,
            expires_in=expires_at - issued_at,
            refresh_token=refresh,
            refresh_expires_in=session.expires_in(now),
        )
