"""The ports: what the use cases need from the outside world, and nothing about how.

Every adapter raises :class:`~domain.errors.StoreUnavailable` (stores) or a
:class:`~domain.errors.WeChatFailure` (gateway) instead of its driver's exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.entities import LoginSession, User, WeChatSession


class Clock(Protocol):
    """The current time as Unix seconds."""

    def now(self) -> float: ...


class TokenGenerator(Protocol):
    """Makes new opaque login tokens that cannot be guessed."""

    def new_token(self) -> str: ...


class WeChatGateway(Protocol):
    """WeChat's server API."""

    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a ``wx.login`` code once at ``jscode2session``; never retried (single-use)."""
        ...


class UserRepository(Protocol):
    """Users keyed by their unique openid."""

    async def get_or_create(
        self, openid: str, *, unionid: str | None, now: float
    ) -> tuple[User, bool]:
        """Return the user of ``openid``, creating it atomically if new, and whether it was created.

        Records ``now`` as the last login; fills in ``unionid`` when the user had none. Concurrent
        calls for one new openid create exactly one user and only one of them reports ``True``.
        """
        ...

    async def get(self, user_id: int) -> User | None:
        """The user with this id, or ``None``."""
        ...

    async def ping(self) -> None:
        """Return when the store answers at the schema this version needs; raise
        ``SchemaOutdated`` when it answers at an older one, ``StoreUnavailable`` otherwise."""
        ...


class SessionStore(Protocol):
    """Login sessions, keyed by a hash of the token, and each user's newest ``session_key``.

    ``token_hash`` is always ``domain.tokens.hash_token(token)`` of a token made with
    ``routed_token(store.token_route(user_id), secret)``.
    """

    def token_route(self, user_id: int) -> str:
        """The route that new tokens of this user start with: a short text of ``A-Z a-z 0-9 _ -``
        that lets the store find the user's sessions from the token alone, and does not reveal
        the user; ``""`` when the store needs none."""
        ...

    async def create(
        self,
        token_hash: bytes,
        session: LoginSession,
        *,
        session_key: str,
        receipt: CodeReceipt | None = None,
    ) -> None:
        """Store a session (all or nothing) and remember ``session_key`` as the user's newest.

        With a ``receipt``, also record that code's exchange as ``CodeExchangeRegistry.complete``
        does, in the same round trip where the backend allows it (the stores of one backend
        share their server). Raises if either write may have failed.
        """
        ...

    async def get(self, token_hash: bytes) -> LoginSession | None:
        """The live session of this hash, or ``None`` when unknown, expired or deleted."""
        ...

    async def extend(self, token_hash: bytes, expires_at: float) -> None:
        """Move the expiry of a live session to ``expires_at``; a no-op when it is gone."""
        ...

    async def delete(self, token_hash: bytes) -> LoginSession | None:
        """End one session; return it, or ``None`` when it was not live."""
        ...

    async def delete_all(self, user_id: int) -> int:
        """End every session of a user, from any worker or instance; return how many ended."""
        ...

    async def session_key(self, user_id: int) -> str | None:
        """The newest ``session_key`` WeChat gave for this user, if still kept."""
        ...

    async def ping(self) -> None:
        """Return when the store answers; raise ``StoreUnavailable`` otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class ClaimPending:
    """Another request (maybe in another process) is exchanging the code right now."""


@dataclass(frozen=True, slots=True)
class ClaimDone:
    """The code was exchanged already; its result is reused."""

    session: WeChatSession


@dataclass(frozen=True, slots=True)
class ClaimFailed:
    """The exchange of the code failed moments ago with this ``WeChatFailure`` code."""

    error_code: str


ClaimState = ClaimPending | ClaimDone | ClaimFailed


@dataclass(frozen=True, slots=True)
class CodeReceipt:
    """A code that WeChat exchanged, whose result is still to be recorded in the registry
    (``CodeExchangeRegistry.complete(code_hash, session, ttl=ttl)``)."""

    code_hash: bytes
    session: WeChatSession
    ttl: float


class CodeExchangeRegistry(Protocol):
    """Shared memory of login codes being or having been exchanged (keys are code hashes).

    Lets every worker and instance exchange a given code at WeChat only once.
    """

    async def claim(self, code_hash: bytes, *, pending_ttl: float) -> ClaimState | None:
        """Atomically claim the code: ``None`` when the caller now owns the exchange, otherwise
        the current state. A claim left pending expires after ``pending_ttl`` seconds."""
        ...

    async def peek(self, code_hash: bytes) -> ClaimState | None:
        """The current state, ``None`` when nobody holds the code."""
        ...

    async def complete(self, code_hash: bytes, session: WeChatSession, *, ttl: float) -> None:
        """Record the result of the owner's exchange for ``ttl`` seconds."""
        ...

    async def fail(self, code_hash: bytes, error_code: str, *, ttl: float) -> ClaimDone | None:
        """Record the owner's failure for ``ttl`` seconds (brief: failures are not remembered),
        unless the code is recorded as done: then keep that and return it. (An earlier owner
        whose claim expired before its result was recorded exchanged the code; WeChat then
        told this owner "code been used".)"""
        ...


class RateLimiter(Protocol):
    """Fixed-window counters shared by every worker that uses the same store."""

    async def hit(self, key: str, *, limit: int, window: int, now: float) -> int | None:
        """Count one event for ``key``; return ``None`` if within ``limit`` per ``window``
        seconds, else the seconds until the window resets."""
        ...
