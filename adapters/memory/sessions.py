"""Sessions in process memory: one worker only."""

from __future__ import annotations

from dataclasses import replace

from adapters.memory.expiring import ExpiringDict
from domain.entities import LoginSession
from domain.ports import Clock, CodeExchangeRegistry, CodeReceipt, SessionStore


class InMemorySessionStore(SessionStore):
    """``SessionStore`` in a dict; receipts go to ``registry`` (the in-memory one)."""

    def __init__(self, *, clock: Clock, registry: CodeExchangeRegistry | None = None) -> None:
        self._registry = registry
        self._sessions: ExpiringDict[bytes, LoginSession] = ExpiringDict(clock.now)
        self._by_user: dict[int, set[bytes]] = {}
        self._session_keys: ExpiringDict[int, str] = ExpiringDict(clock.now)

    def token_route(self, user_id: int) -> str:
        return ""  # one dict finds every token

    async def create(
        self,
        token_hash: bytes,
        session: LoginSession,
        *,
        session_key: str,
        receipt: CodeReceipt | None = None,
    ) -> None:
        if receipt is not None:
            if self._registry is None:
                raise ValueError("this store was given no registry to record receipts in")
            await self._registry.complete(receipt.code_hash, receipt.session, ttl=receipt.ttl)
        self._sessions.set(token_hash, session, session.expires_at)
        hashes = self._by_user.setdefault(session.user_id, set())
        hashes.add(token_hash)
        hashes.intersection_update(h for h in list(hashes) if self._sessions.get(h) is not None)
        self._session_keys.set(session.user_id, session_key, session.max_expires_at)

    async def get(self, token_hash: bytes) -> LoginSession | None:
        return self._sessions.get(token_hash)

    async def extend(self, token_hash: bytes, expires_at: float) -> None:
        session = self._sessions.get(token_hash)
        if session is not None:
            self._sessions.set(token_hash, replace(session, expires_at=expires_at), expires_at)

    async def delete(self, token_hash: bytes) -> LoginSession | None:
        session = self._sessions.pop(token_hash)
        if session is not None:
            self._by_user.get(session.user_id, set()).discard(token_hash)
        return session

    async def delete_all(self, user_id: int) -> int:
        ended = [h for h in self._by_user.pop(user_id, set()) if self._sessions.pop(h) is not None]
        return len(ended)

    async def session_key(self, user_id: int) -> str | None:
        return self._session_keys.get(user_id)

    async def ping(self) -> None:
        return None
