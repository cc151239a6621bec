"""The user's own sessions: list them, end one."""

from __future__ import annotations

from dataclasses import dataclass

from domain.accounts import NO_ORIGIN, AccountEvent, AccountStore, Origin, SessionInfo
from domain.errors import SessionNotFound
from domain.ports import Clock, SessionStore


@dataclass(frozen=True, slots=True)
class MySessionsRequest:
    user_id: int
    """The authenticated user."""


class ListMySessionsUseCase:
    """The user's live sessions, newest first."""

    def __init__(self, *, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, request: MySessionsRequest) -> list[SessionInfo]:
        return await self._sessions.sessions_of(request.user_id)


@dataclass(frozen=True, slots=True)
class RevokeMySessionRequest:
    user_id: int
    session_id: str
    origin: Origin = NO_ORIGIN


class RevokeMySessionUseCase:
    """Rules:
    - an id that is not one of the user's live sessions (another user's, a dead one, garbage)
      is ``SessionNotFound``;
    - that session's tokens die; a ``session_revoked`` event is recorded.
    """

    def __init__(self, *, sessions: SessionStore, accounts: AccountStore, clock: Clock) -> None:
        self._sessions = sessions
        self._accounts = accounts
        self._clock = clock

    async def execute(self, request: RevokeMySessionRequest) -> None:
        if not await self._sessions.revoke(request.user_id, request.session_id):
            raise SessionNotFound()
        await self._accounts.record([AccountEvent(
            type="session_revoked", at=self._clock.now(), user_id=request.user_id,
            origin=request.origin,
        )])
