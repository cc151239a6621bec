"""Find the live session behind a token, sliding its expiry."""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.credentials import Credentials
from domain.entities import LoginSession
from domain.errors import Unauthorized
from domain.ports import Clock, SessionStore
from domain.use_cases.policy import SessionPolicy


@dataclass(frozen=True, slots=True)
class AuthenticateRequest:
    token: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The live session behind a token, its id, and the token's times after any slide: when it
    was issued and when it expires (a signed token's own, else the session's)."""

    session: LoginSession
    session_id: str
    issued_at: float
    expires_at: float
    expires_in: int


async def slide(
    sessions: SessionStore, policy: SessionPolicy, session_id: str, session: LoginSession,
    now: float,
) -> LoginSession:
    """The live ``session`` after a use at ``now``: slid in the store when the policy says so."""
    new_expiry = policy.slid_expiry(now=now, expires_at=session.expires_at,
                                    login_at=session.login_at)
    if new_expiry is None:
        return session
    await sessions.extend_by_id(session_id, new_expiry)
    return replace(session, expires_at=new_expiry)


class AuthenticateUseCase:
    """Rules:
    - a malformed, forged or expired token, or one whose session is unknown, expired or logged
      out, is ``Unauthorized`` (a signed token too: its session must still live);
    - a use with less than half of the TTL left slides the session (see ``SessionPolicy``);
    - the returned times are the token's after any slide.
    """

    def __init__(
        self,
        *,
        sessions: SessionStore,
        credentials: Credentials,
        clock: Clock,
        policy: SessionPolicy,
    ) -> None:
        self._sessions = sessions
        self._credentials = credentials
        self._clock = clock
        self._policy = policy

    async def execute(self, request: AuthenticateRequest) -> Authenticated:
        claims = self._credentials.read(request.token)
        if claims is None:
            raise Unauthorized()
        session = await self._sessions.get_by_id(claims.session_id)
        now = self._clock.now()
        if session is None or session.expires_at <= now:
            raise Unauthorized()
        session = await slide(self._sessions, self._policy, claims.session_id, session, now)
        expires_at = session.expires_at if claims.expires_at is None else claims.expires_at
        return Authenticated(
            session=session,
            session_id=claims.session_id,
            issued_at=session.login_at if claims.issued_at is None else claims.issued_at,
            expires_at=expires_at,
            expires_in=max(0, int(expires_at - now)),
        )
