"""Whether the stores the service needs answer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from domain.errors import StoreUnavailable
from domain.ports import SessionStore, UserRepository


@dataclass(frozen=True, slots=True)
class Readiness:
    sessions: bool
    users: bool

    @property
    def ready(self) -> bool:
        return self.sessions and self.users


class ReadinessUseCase:
    """Both stores are pinged at once; WeChat's state does not count."""

    def __init__(self, *, sessions: SessionStore, users: UserRepository) -> None:
        self._sessions = sessions
        self._users = users

    async def execute(self) -> Readiness:
        sessions, users = await asyncio.gather(
            self._sessions.ping(), self._users.ping(), return_exceptions=True
        )
        for outcome in (sessions, users):
            if isinstance(outcome, BaseException) and not isinstance(outcome, StoreUnavailable):
                raise outcome
        return Readiness(sessions=sessions is None, users=users is None)
