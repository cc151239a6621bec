"""Refresh tokens in process memory: one worker only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from adapters.memory.expiring import ExpiringDict
from domain.ports import Clock, RefreshTokenStore, RefreshTokenUse


@dataclass
class _Entry:
    session_id: str
    first_used_at: float | None = None


class InMemoryRefreshTokenStore(RefreshTokenStore):
    """``RefreshTokenStore`` in a dict keyed by HMAC-SHA256(``session_secret``, token): tokens
    are 256 random bits and never kept."""

    def __init__(self, *, clock: Clock, session_secret: str) -> None:
        self._secret = session_secret.encode()
        self._tokens: ExpiringDict[bytes, _Entry] = ExpiringDict(clock.now)

    async def issue(self, session_id: str, *, expires_at: float) -> str:
        token = secrets.token_urlsafe(32)
        self._tokens.set(self._hash(token), _Entry(session_id), expires_at)
        return token

    async def use(self, token: str, *, now: float) -> RefreshTokenUse | None:
        entry = self._tokens.get(self._hash(token))
        if entry is None:
            return None
        if entry.first_used_at is None:
            entry.first_used_at = now
        return RefreshTokenUse(entry.session_id, entry.first_used_at)

    def _hash(self, token: str) -> bytes:
        return hmac.digest(self._secret, token.encode(), hashlib.sha256)
