"""The ports: what the use cases need from the outside world, and nothing about how.

Every adapter raises :class:`~domain.errors.StoreUnavailable` (stores) or a
:class:`~domain.errors.WeChatFailure` (gateway) instead of its driver's exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from domain.accounts import SessionInfo
from domain.entities import Identity, LoginSession, User, WeChatSession


class Clock(Protocol):
    """The current time as Unix seconds."""

    def now(self) -> float: ...


class WeChatGateway(Protocol):
    """WeChat's server API."""

    async def code_to_session(self, code: str) -> WeChatSession:
        """Exchange a ``wx.login`` code once at ``jscode2session``; never retried (single-use)."""
        ...


class UserRepository(Protocol):
    """Users and their identities, each identity unique by (platform, appid, openid)."""

    async def get_or_create(self, identity: Identity, *, now: float) -> tuple[User, bool]:
        """Return the user of ``identity``, creating it atomically if new, and whether it was
        created.

        A new identity whose ``unionid`` another identity of the same platform carries joins
        that identity's user (not created). Records ``now`` as the last login; fills in the
        identity's ``unionid`` when it had none. Concurrent calls for one new identity create
        exactly one user and only one of them reports ``True``.
        """
        ...

    async def get(self, user_id: int) -> User | None:
        """The user with this id, or ``None``."""
        ...

    async def identities(self, user_id: int) -> list[Identity]:
        """The user's identities (none for an unknown user)."""
        ...

    async def ping(self) -> None:
        """Return when the store answers at the schema this version needs; raise
        ``SchemaOutdated`` when it answers at an older one, ``StoreUnavailable`` otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class NewLogin:
    """Everything one login writes: its session, the user's newest ``session_key`` and the
    code's result (recorded as ``CodeExchangeRegistry.complete`` would, for the code's lifetime,
    so the same code sent again gets the same login)."""

    session: LoginSession
    session_key: str = field(repr=False)
    """The user's newest ``session_key``: a secret, hidden from ``repr``."""
    code_hash: bytes
    """The code's key in the ``CodeExchangeRegistry``."""
    exchanged: WeChatSession
    ip: str | None = None
    """The client's network (``domain.accounts.network_of``), shown in the user's sessions."""
    user_agent: str | None = None
    """At most ``MAX_USER_AGENT`` characters."""


class SessionStore(Protocol):
    """Login sessions and each user's newest ``session_key``.

    The store makes the tokens (their format is its own) and keeps only a keyed hash of them.
    Every write is safe to repeat after a lost reply: the repeat has the outcome of the first.
    """

    async def record_login(self, login: NewLogin) -> str | None:
        """In one step: store the session, remember the user's newest ``session_key``, and
        record the code's result for ``CODE_LIFETIME_SECONDS``; return the new token, or
        ``None`` (nothing stored but the code's result) while the user is fenced off by
        ``revoke_all``. Raises (``StoreUnavailable``) if any of it may have failed."""
        ...

    async def get(self, token: str) -> LoginSession | None:
        """The live session of this token, or ``None`` when unknown, expired or logged out."""
        ...

    async def extend(self, token: str, expires_at: float) -> None:
        """Move the expiry of a live session to ``expires_at``; a no-op when it is gone."""
        ...

    async def logout(self, token: str, *, everywhere: bool) -> int | None:
        """End this token's session (with ``everywhere``: every session of its user) in one
        atomic step; its user's id when the token was live, else ``None``. A repeat of the same
        call after a lost reply answers as the first did."""
        ...

    async def sessions_of(self, user_id: int) -> list[SessionInfo]:
        """The user's live sessions, newest first."""
        ...

    async def revoke(self, user_id: int, session_id: str) -> bool:
        """End the user's session with this id (``session_id``'s); ``False`` when it is not one
        of its live ones (another user's, an ended one, no session id at all)."""
        ...

    async def revoke_all(self, user_id: int, *, fence_until: float | None = None) -> None:
        """End every session of the user in one step. With ``fence_until`` (Unix seconds),
        ``record_login`` stores no session of the user until then (a ban or a deletion: a login
        in flight, which read the user before, gets no token)."""
        ...

    async def unfence(self, user_id: int) -> None:
        """Lift the fence of ``revoke_all`` (an unban)."""
        ...

    def session_id(self, token: str) -> str | None:
        """The id of this token's session (no I/O): opaque, stable for the session's life, and
        never a token itself; ``None`` for a token of a form this store never issues."""
        ...

    async def get_by_id(self, session_id: str) -> LoginSession | None:
        """As :meth:`get`, for the session with this id."""
        ...

    async def extend_by_id(self, session_id: str, expires_at: float) -> None:
        """As :meth:`extend`, for the session with this id."""
        ...

    async def logout_by_id(self, session_id: str, *, everywhere: bool) -> int | None:
        """As :meth:`logout`, for the session with this id."""
        ...

    async def session_key(self, user_id: int, app: str) -> str | None:
        """The newest ``session_key`` the platform gave for this user's identity on ``app``
        (the app's id), while any of the user's sessions lives."""
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


class CodeExchangeRegistry(Protocol):
    """Shared memory of login codes being or having been exchanged (keys are code hashes).

    Lets every worker and instance exchange a given code at WeChat only once.
    """

    async def claim(
        self, code_hash: bytes, *, owner: str, pending_ttl: float
    ) -> ClaimState | None:
        """Atomically claim the code for ``owner`` (an id unique to this attempt): ``None`` when
        ``owner`` now holds the exchange (also when a repeat finds its own earlier claim),
        otherwise the current state. A claim left pending expires after ``pending_ttl``
        seconds."""
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


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    """What a signed access token says (JWT mode). Times are Unix seconds."""

    user_id: int
    session_id: str
    app: str
    platform: str
    issued_at: float
    expires_at: float


class AccessTokenSigner(Protocol):
    """Signs access tokens, verifies them, and publishes the keys that verify them."""

    def sign(self, claims: AccessTokenClaims) -> str:
        """A token of ``claims``, signed with the current signing key."""
        ...

    def verify(self, token: str) -> AccessTokenClaims | None:
        """The claims of a token signed by a published key for this issuer and audience and not
        expired; ``None`` for anything else, however malformed."""
        ...

    def jwks(self) -> dict[str, object]:
        """The public keys as a JSON Web Key Set: the signing key and every verify key."""
        ...


@dataclass(frozen=True, slots=True)
class RefreshTokenUse:
    """A refresh token's session, and when the token was first used."""

    session_id: str
    first_used_at: float


class RefreshTokenStore(Protocol):
    """Refresh tokens (JWT mode). The store makes them and keeps only a keyed hash of them."""

    async def issue(self, session_id: str, *, expires_at: float) -> str:
        """A new refresh token of this session, known until ``expires_at``."""
        ...

    async def use(self, token: str, *, now: float) -> RefreshTokenUse | None:
        """Record a use of ``token`` at ``now``, and return its session and the time of its
        first use (``now`` for the first; of concurrent first uses, exactly one time is kept
        and all report it). ``None`` for a token unknown or past its expiry. A repeat after a
        lost reply answers as the first did."""
        ...
