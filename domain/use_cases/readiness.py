"""Whether the stores the service needs answer, and the user store at the schema it needs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from domain.errors import SchemaOutdated, StoreUnavailable
from domain.ports import SessionStore, UserRepository


class Check(StrEnum):
    """The state of one store, as ``/readyz`` names it."""

    OK = "ok"
    DOWN = "down"
    OUTDATED = "outdated"
    """It answers, at an older schema than this version needs (migrations not applied)."""


@dataclass(frozen=True, slots=True)
class Readiness:
    sessions: Check
    users: Check

    @property
    def ready(self) -> bool:
        return self.sessions is Check.OK and self.users is Check.OK


class ReadinessUseCase:
    """Both stores are pinged at once; WeChat's state does not count."""

    def __init__(self, *, sessions: SessionStore, users: UserRepository) -> None:
        self._sessions = sessions
        self._users = users

    async def execute(self) -> Readiness:
        sessions, users = await asyncio.gather(
            self._sessions.ping(), self._users.ping(), return_exceptions=True
        )
        return Readiness(sessions=_check(sessions), users=_check(users))


def _check(outcome: BaseException | None) -> Check:
    if outcome is None:
        return Check.OK
    if isinstance(outcome, SchemaOutdated):
        return Check.OUTDATED
    if isinstance(outcome, StoreUnavailable):
        return Check.DOWN
    raise outcome
