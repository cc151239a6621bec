"""Find the live session behind a token, sliding its expiry."""

from __future__ import annotations

from dataclasses import dataclass

from domain.entities import LoginSession
from domain.errors import Unauthorized
from domain.ports import Clock, SessionStore
from domain.tokens import hash_token
from domain.use_cases.policy import SessionPolicy


@dataclass(frozen=True, slots=True)
class AuthenticateRequest:
    token: str


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

    async def execute(self, request: AuthenticateRequest) -> LoginSession:
        token_hash = hash_token(request.token)
        session = await self._sessions.get(token_hash)
        now = self._clock.now()
        if session is None or session.expires_at <= now:
            raise Unauthorized()
        new_expiry = self._policy.slid_expiry(
            now=now,
            expires_at=session.expires_at,
            login_at=session.login_at,
        )
        if new_expiry is None:
            return session
        await self._sessions.extend(token_hash, new_expiry)
        return LoginSession(
            user_id=session.user_id,
            user_created_at=session.user_created_at,
            login_at=session.login_at,
            expires_at=new_expiry,
            max_expires_at=session.max_expires_at,
        )
