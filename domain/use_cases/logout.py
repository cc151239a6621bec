"""End one token, or every token of its user."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import Unauthorized
from domain.ports import SessionStore


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    token: str
    everywhere: bool = False


class LogoutUseCase:
    """Rules:
    - the token must be live, else ``Unauthorized``;
    - afterwards it no longer works anywhere; with ``everywhere`` no token of the user does,
      all ended in one step (a failure leaves every token working).
    """

    def __init__(self, *, sessions: SessionStore) -> None:
        self._sessions = sessions

    async def execute(self, request: LogoutRequest) -> None:
        if not await self._sessions.logout(request.token, everywhere=request.everywhere):
            raise Unauthorized()
