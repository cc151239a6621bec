"""Sessions in process memory: one worker only."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace

from adapters.memory.expiring import ExpiringDict
from adapters.token_calls import TokenCallsById
from domain.accounts import SessionInfo
from domain.code_exchange import CODE_LIFETIME_SECONDS
from domain.entities import LoginSession
from domain.ports import Clock, CodeExchangeRegistry, NewLogin, SessionStore


@dataclass
class _User:
    session_keys: dict[str, str] = field(repr=False)
    """The newest ``session_key`` of each of the user's apps (by app id)."""
    sessions: set[str] = field(default_factory=set)
    """The ids of the user's sessions (for logging out everywhere)."""


@dataclass(frozen=True, slots=True)
class _Session:
    session: LoginSession
    ip: str | None = None
    user_agent: str | None = None


class InMemorySessionStore(TokenCallsById, SessionStore):
    """``SessionStore`` in dicts. Tokens are 256 random bits; only their HMAC under
    ``session_secret`` is kept, as the session's id (URL-safe base64). A user's entry (its
    ``session_key`` and its sessions) lives as long as its longest-lived session. Codes' results
    go to ``registry`` (the in-memory one)."""

    def __init__(
        self, *, clock: Clock, session_secret: str, registry: CodeExchangeRegistry
    ) -> None:
        self._clock = clock
        self._secret = session_secret.encode()
        self._registry = registry
        self._sessions: ExpiringDict[str, _Session] = ExpiringDict(clock.now)
        self._users: ExpiringDict[int, _User] = ExpiringDict(clock.now)
        self._fences: ExpiringDict[int, bool] = ExpiringDict(clock.now)

    async def record_login(self, login: NewLogin) -> str | None:
        await self._registry.complete(login.code_hash, login.exchanged, ttl=CODE_LIFETIME_SECONDS)
        session = login.session
        if self._fences.get(session.user_id):
            return None
        token = secrets.token_urlsafe(32)
        session_id = self.session_id(token)
        stored = _Session(session, login.ip, login.user_agent)
        self._sessions.set(session_id, stored, session.expires_at)
        user = self._users.get(session.user_id)
        sessions = {s for s in user.sessions if self._sessions.get(s)} if user else set()
        sessions.add(session_id)
        expires_at = max([session.expires_at, *self._expiry_of(session.user_id)])
        keys = {**(user.session_keys if user else {}), session.app: login.session_key}
        self._users.set(session.user_id, _User(keys, sessions), expires_at)
        return token

    def session_id(self, token: str) -> str:
        digest = hmac.digest(self._secret, token.encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    async def get_by_id(self, session_id: str) -> LoginSession | None:
        stored = self._sessions.get(session_id)
        return None if stored is None else stored.session

    async def extend_by_id(self, session_id: str, expires_at: float) -> None:
        stored = self._sessions.get(session_id)
        if stored is None:
            return
        session = replace(stored.session, expires_at=expires_at)
        self._sessions.set(session_id, replace(stored, session=session), expires_at)
        user = self._users.get(session.user_id)
        if user is not None and expires_at > max(self._expiry_of(session.user_id)):
            self._users.set(session.user_id, user, expires_at)

    async def logout_by_id(self, session_id: str, *, everywhere: bool) -> int | None:
        stored = self._sessions.pop(session_id)
        if stored is None:
            return None
        if everywhere:
            self._end_all(stored.session.user_id)
        return stored.session.user_id

    async def sessions_of(self, user_id: int) -> list[SessionInfo]:
        user = self._users.get(user_id)
        found = [(s, self._sessions.get(s)) for s in user.sessions] if user else []
        live = [
            SessionInfo(
                id=session_id, app=s.session.app, platform=s.session.platform,
                created_at=s.session.login_at, expires_at=s.session.expires_at, ip=s.ip,
                user_agent=s.user_agent,
            )
            for session_id, s in found if s is not None
        ]
        return sorted(live, key=lambda info: info.created_at, reverse=True)

    async def revoke(self, user_id: int, session_id: str) -> bool:
        user = self._users.get(user_id)
        if user is None or session_id not in user.sessions:
            return False
        return self._sessions.pop(session_id) is not None

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
            for session_id in user.sessions:
                self._sessions.pop(session_id)
            user.sessions.clear()

    def _expiry_of(self, user_id: int) -> list[float]:
        expiry = self._users.expiry(user_id)
        return [] if expiry is None else [expiry]
