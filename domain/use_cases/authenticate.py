"""Find the live session behind a token, sliding its expiry."""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.entities import LoginSession
from domain.errors import Unauthorized
from domain.ports import Clock, SessionStore
from domain.use_cases.policy import SessionPolicy


@dataclass(frozen=True, slots=True)
class AuthenticateRequest:
    token: str


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The live session behind a token, and the seconds it has left after any slide."""

    session: LoginSession
    expires_in: int


class AuthenticateUseCase:
    """Rules:
    - an unknown, expired or logged-out token is ``Unauthorized``;
    - a use with less than half of the TTL left slides the expiry (see ``SessionPolicy``);
    - the returned session reports the expiry after any slide.
    """

    def __init__(self, *, sessions: SessionStore, clock: Clock, policy: SessionPolicy) -> None:
        self._sessions = sessions
        self._clock = clock
        self._policy = policy

    async def execute(self, request: AuthenticateRequest) -> Authenticated:
        session = await self._sessions.get(request.token)
        now = self._clock.now()
        if session is None or session.expires_at <= now:
            raise Unauthorized()
        new_expiry = self._policy.slid_expiry(
            now=now,
            expires_at=session.expires_at,
            login_at=session.login_at,
        )
        if new_expiry is not None:
            await self._sessions.extend(request.token, new_expiry)
            session = replace(session, expires_at=new_expiry)
        return Authenticated(session=session, expires_in=session.expires_in(now))
