"""The token's calls of a session store, for the stores that find a session by its id."""

from __future__ import annotations

from domain.entities import LoginSession
from domain.ports import SessionStore


class TokenCallsById:
    """``get``, ``extend`` and ``logout`` of ``SessionStore``: each is its ``…_by_id`` call on
    the token's ``session_id``; a token that names no session is none (``None``, a no-op)."""

    async def get(self: SessionStore, token: str) -> LoginSession | None:
        session_id = self.session_id(token)
        return None if session_id is None else await self.get_by_id(session_id)

    async def extend(self: SessionStore, token: str, expires_at: float) -> None:
        session_id = self.session_id(token)
        if session_id is not None:
            await self.extend_by_id(session_id, expires_at)

    async def logout(self: SessionStore, token: str, *, everywhere: bool) -> int | None:
        session_id = self.session_id(token)
        if session_id is None:
            return None
        return await self.logout_by_id(session_id, everywhere=everywhere)
