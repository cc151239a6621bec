"""End one token, or every token of its user."""

from __future__ import annotations

from dataclasses import dataclass

from domain.credentials import Credentials
from domain.errors import Unauthorized
from domain.ports import SessionStore


@dataclass(frozen=True, slots=True)
class LogoutRequest:
    token: str
    everywhere: bool = False


class LogoutUseCase:
    """Rules:
    - the token must be valid and its session live, else ``Unauthorized``;
    - afterwards its session is over: none of its tokens works anywhere (in JWT mode its refresh
      tokens die with it); with ``everywhere`` no session of the user lives, all ended in one
      step (a failure leaves every token working).
    """

    def __init__(self, *, sessions: SessionStore, credentials: Credentials) -> None:
        self._sessions = sessions
        self._credentials = credentials

    async def execute(self, request: LogoutRequest) -> None:
        claims = self._credentials.read(request.token)
        if claims is None or not await self._sessions.logout_by_id(
            claims.session_id, everywhere=request.everywhere
        ):
            raise Unauthorized()
