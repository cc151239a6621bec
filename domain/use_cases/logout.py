"""End one token, or every token of its user."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import Unauthorized
from domain.ports import Clock, SessionStore
from domain.tokens import hash_token


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    token: str
    everywhere: bool = False


class LogoutUseCase:
    """Rules:
    - the token must be live, else ``Unauthorized``;
    - afterwards it no longer works anywhere; with ``everywhere`` no token of the user does.
    """

    def __init__(self, *, sessions: SessionStore, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def execute(self, request: LogoutRequest) -> None:
        session = await self._sessions.delete(hash_token(request.token))
        if session is None or session.expires_at <= self._clock.now():
            raise Unauthorized()
        if request.everywhere:
            await self._sessions.delete_all(session.user_id)
