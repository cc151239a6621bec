"""End one token, or every token of its user."""

from __future__ import annotations

from dataclasses import dataclass

from domain.accounts import NO_ORIGIN, AccountEvent, AuditTrail, Origin
from domain.errors import Unauthorized
from domain.ports import Clock, SessionStore


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    token: str
    everywhere: bool = False
    origin: Origin = NO_ORIGIN


class LogoutUseCase:
    """Rules:
    - the token must be live, else ``Unauthorized``;
    - afterwards it no longer works anywhere; with ``everywhere`` no token of the user does,
      all ended in one step (a failure leaves every token working);
    - a ``logout`` event goes to the audit trail.
    """

    def __init__(self, *, sessions: SessionStore, audit: AuditTrail, clock: Clock) -> None:
        self._sessions = sessions
        self._audit = audit
        self._clock = clock

    async def execute(self, request: LogoutRequest) -> None:
        user_id = await self._sessions.logout(request.token, everywhere=request.everywhere)
        if user_id is None:
            raise Unauthorized()
        self._audit.record(AccountEvent(
            type="logout", at=self._clock.now(), user_id=user_id, origin=request.origin,
        ))
