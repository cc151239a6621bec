"""End one token, or every token of its user."""

from __future__ import annotations

from dataclasses import dataclass

from domain.accounts import NO_ORIGIN, AccountEvent, AuditTrail, Origin
from domain.credentials import Credentials
from domain.errors import Unauthorized
from domain.ports import Clock, SessionStore


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    token: str
    everywhere: bool = False
    origin: Origin = NO_ORIGIN


class LogoutUseCase:
    """Rules:
    - the token must be valid and its session live, else ``Unauthorized``;
    - afterwards its session is over: none of its tokens works anywhere (in JWT mode its refresh
      tokens die with it); with ``everywhere`` no session of the user lives, all ended in one
      step (a failure leaves every token working);
    - a ``logout`` event goes to the audit trail.
    """

    def __init__(
        self, *, sessions: SessionStore, credentials: Credentials, audit: AuditTrail,
        clock: Clock,
    ) -> None:
        self._sessions = sessions
        self._credentials = credentials
        self._audit = audit
        self._clock = clock

    async def execute(self, request: LogoutRequest) -> None:
        claims = self._credentials.read(request.token)
        user_id = None if claims is None else await self._sessions.logout_by_id(
            claims.session_id, everywhere=request.everywhere
        )
        if user_id is None:
            raise Unauthorized()
        self._audit.record(AccountEvent(
            type="logout", at=self._clock.now(), user_id=user_id, origin=request.origin,
        ))
