"""Sessions in process memory: one worker only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace

from adapters.memory.expiring import ExpiringDict
from domain.code_exchange import CODE_LIFETIME_SECONDS
from domain.entities import LoginSession
from domain.ports import Clock, CodeExchangeRegistry, NewLogin, SessionStore


@dataclass
class _User:
    session_keys: dict[str, str] = field(repr=False)
    """The newest ``session_key`` of each of the user's apps (by app id)."""
    tokens: set[bytes] = field(default_factory=set)
    """The keyed hashes of the user's tokens (for logging out everywhere)."""


class InMemorySessionStore(SessionStore):
    """``SessionStore`` in dicts. Tokens are 256 random bits; only their HMAC under
    ``session_secret`` is kept. A user's entry (its ``session_key`` and its tokens) lives as long
    as its longest-lived session. Codes' results go to ``registry`` (the in-memory one)."""

    def __init__(
        self, *, clock: Clock, session_secret: str, registry: CodeExchangeRegistry
    ) -> None:
        self._clock = clock
        self._secret = session_secret.encode()
        self._registry = registry
        self._sessions: ExpiringDict[bytes, LoginSession] = ExpiringDict(clock.now)
        self._users: ExpiringDict[int, _User] = ExpiringDict(clock.now)

    async def record_login(self, login: NewLogin) -> str:
        await self._registry.complete(login.code_hash, login.exchanged, ttl=CODE_LIFETIME_SECONDS)
        token = secrets.token_urlsafe(32)
        session = login.session
        token_hash = self._hash(token)
        self._sessions.set(token_hash, session, session.expires_at)
        user = self._users.get(session.user_id)
        tokens = {h for h in user.tokens if self._sessions.get(h)} if user else set()
        tokens.add(token_hash)
        expires_at = max([session.expires_at, *self._expiry_of(session.user_id)])
        keys = {**(user.session_keys if user else {}), session.app: login.session_key}
        self._users.set(session.user_id, _User(keys, tokens), expires_at)
        return token

    async def get(self, token: str) -> LoginSession | None:
        return self._sessions.get(self._hash(token))

    async def extend(self, token: str, expires_at: float) -> None:
        token_hash = self._hash(token)
        session = self._sessions.get(token_hash)
        if session is None:
            return
        self._sessions.set(token_hash, replace(session, expires_at=expires_at), expires_at)
        user = self._users.get(session.user_id)
        if user is not None and expires_at > max(self._expiry_of(session.user_id)):
            self._users.set(session.user_id, user, expires_at)

    async def logout(self, token: str, *, everywhere: bool) -> bool:
        session = self._sessions.pop(self._hash(token))
        if session is None:
            return False
        user = self._users.get(session.user_id)
        if everywhere and user is not None:
            for token_hash in user.tokens:
                self._sessions.pop(token_hash)
            user.tokens.clear()
        return True

    async def session_key(self, user_id: int, app: str) -> str | None:
        user = self._users.get(user_id)
        return None if user is None else user.session_keys.get(app)

    async def ping(self) -> None:
        return None

    def _hash(self, token: str) -> bytes:
        return hmac.digest(self._secret, token.encode(), hashlib.sha256)

    def _expiry_of(self, user_id: int) -> list[float]:
        expiry = self._users.expiry(user_id)
        return [] if expiry is None else [expiry]
