"""Sessions in process memory: one worker only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace

from adapters.memory.expiring import ExpiringDict
from domain.accounts import SessionInfo
from domain.code_exchange import CODE_LIFETIME_SECONDS
from domain.entities import LoginSession
from domain.ports import Clock, CodeExchangeRegistry, NewLogin, SessionStore


@dataclass
class _User:
    session_keys: dict[str, str] = field(repr=False)
    """The newest ``session_key`` of each of the user's apps (by app id)."""
    tokens: set[bytes] = field(default_factory=set)
    """The keyed hashes of the user's tokens (for logging out everywhere)."""


@dataclass(frozen=True, slots=True)
class _Session:
    session: LoginSession
    ip: str | None
    user_agent: str | None


class InMemorySessionStore(SessionStore):
    """``SessionStore`` in dicts. Tokens are 256 random bits; only their HMAC under
    ``session_secret`` is kept (its first 16 bytes, in URL-safe base64, are the session's id).
    A user's entry (its ``session_key`` and its tokens) lives as long as its longest-lived
    session. Codes' results go to ``registry`` (the in-memory one)."""

    def __init__(
        self, *, clock: Clock, session_secret: str, registry: CodeExchangeRegistry
    ) -> None:
        self._clock = clock
        self._secret = session_secret.encode()
        self._registry = registry
        self._sessions: ExpiringDict[bytes, _Session] = ExpiringDict(clock.now)
        self._users: ExpiringDict[int, _User] = ExpiringDict(clock.now)
        self._fences: ExpiringDict[int, bool] = ExpiringDict(clock.now)

    async def record_login(self, login: NewLogin) -> str | None:
        await self._registry.complete(login.code_hash, login.exchanged, ttl=CODE_LIFETIME_SECONDS)
        session = login.session
        if self._fences.get(session.user_id):
            return None
        token = secrets.token_urlsafe(32)
        token_hash = self._hash(token)
        session = replace(session, id=_session_id(token_hash))
        stored = _Session(session, login.ip, login.user_agent)
        self._sessions.set(token_hash, stored, session.expires_at)
        user = self._users.get(session.user_id)
        tokens = {h for h in user.tokens if self._sessions.get(h)} if user else set()
        tokens.add(token_hash)
        expires_at = max([session.expires_at, *self._expiry_of(session.user_id)])
        keys = {**(user.session_keys if user else {}), session.app: login.session_key}
        self._users.set(session.user_id, _User(keys, tokens), expires_at)
        return token

    async def get(self, token: str) -> LoginSession | None:
        stored = self._sessions.get(self._hash(token))
        return None if stored is None else stored.session

    async def extend(self, token: str, expires_at: float) -> None:
        token_hash = self._hash(token)
        stored = self._sessions.get(token_hash)
        if stored is None:
            return
        session = replace(stored.session, expires_at=expires_at)
        self._sessions.set(token_hash, replace(stored, session=session), expires_at)
        user = self._users.get(session.user_id)
        if user is not None and expires_at > max(self._expiry_of(session.user_id)):
            self._users.set(session.user_id, user, expires_at)

    async def logout(self, token: str, *, everywhere: bool) -> int | None:
        stored = self._sessions.pop(self._hash(token))
        if stored is None:
            return None
        if everywhere:
            self._end_all(stored.session.user_id)
        return stored.session.user_id

    async def sessions_of(self, user_id: int) -> list[SessionInfo]:
        user = self._users.get(user_id)
        found = [self._sessions.get(h) for h in user.tokens] if user else []
        live = [
            SessionInfo(
                id=s.session.id, app=s.session.app, platform=s.session.platform,
                created_at=s.session.login_at,
                expires_at=s.session.expires_at, ip=s.ip, user_agent=s.user_agent,
            )
            for s in found if s is not None
        ]
        return sorted(live, key=lambda info: info.created_at, reverse=True)

    async def revoke(self, user_id: int, session_id: str) -> bool:
        user = self._users.get(user_id)
        for token_hash in list(user.tokens if user else ()):
            if _session_id(token_hash) == session_id and self._sessions.pop(token_hash):
                return True
        return False

    async def revoke_all(self, user_id: int, *, fence_until: float | None = None) -> None:
        self._end_all(user_id)
        if fence_until is not None:
            self._fences.set(user_id, True, fence_until)

    async def unfence(self, user_id: int) -> None:
        self._fences.pop(user_id)

    async def session_key(self, user_id: int, app: str) -> str | None:
        user = self._users.get(user_id)
        return None if user is None else user.session_keys.get(app)

    async def ping(self) -> None:
        return None

    def _end_all(self, user_id: int) -> None:
        user = self._users.get(user_id)
        if user is not None:
            for token_hash in user.tokens:
                self._sessions.pop(token_hash)
            user.tokens.clear()

    def _hash(self, token: str) -> bytes:
        return hmac.digest(self._secret, token.encode(), hashlib.sha256)

    def _expiry_of(self, user_id: int) -> list[float]:
        expiry = self._users.expiry(user_id)
        return [] if expiry is None else [expiry]


def _session_id(token_hash: bytes) -> str:
    return base64.urlsafe_b64encode(token_hash[:16]).decode().rstrip("=")
