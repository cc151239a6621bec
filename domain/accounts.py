"""Accounts: what the back office and the users themselves see and change of an account, the
audit trail of what happened to it, and the ports behind them.

Kept apart from the login's ports (``domain.ports``): the login only writes events (through the
non-blocking :class:`AuditTrail`) and reads a user's ``status``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

ACTIVE, BANNED, DELETED = "active", "banned", "deleted"
"""A user's ``status``."""

EVENT_TYPES = (
    "login", "login_failed", "logout", "session_revoked", "banned", "unbanned", "deleted",
    "phone_verified",
)
"""The audit trail's event types."""

WEBHOOK_TYPES = {
    "banned": "user.banned", "unbanned": "user.unbanned", "deleted": "user.deleted",
    "phone_verified": "user.phone_verified",
}
"""The webhook event type of each account event sent to ``WEBHOOK_URL`` (and ``user.created``,
sent for the login that created the user)."""

MAX_USER_AGENT = 256
MAX_REASON = 200
FENCE_SECONDS = 300.0
"""How long a ban or a deletion refuses new sessions of the user in the session store: longer
than any login in flight can take between reading the user (still active) and writing its
session. Later logins read the user's status first."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request came from, as the audit trail keeps it: the client's network (never its
    full address), its user agent (cut to ``MAX_USER_AGENT``) and the request's id."""

    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @classmethod
    def of(cls, address: str, user_agent: str | None, request_id: str | None) -> Origin:
        return cls(network_of(address), clip_user_agent(user_agent), request_id)


NO_ORIGIN = Origin()
"""A change made from no request (the shell sets its own)."""


def network_of(address: str) -> str | None:
    """The network of a client address: IPv4 cut to /24, IPv6 to /48 (``203.0.113.0/24``);
    ``None`` when it is no address."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def clip_user_agent(user_agent: str | None) -> str | None:
    if not user_agent:
        return None
    return user_agent[:MAX_USER_AGENT]


@dataclass(frozen=True, slots=True)
class AccountIdentity:
    """One way the user logs in, as the back office shows it: the app (this service's id of it),
    its platform and the platform's ids of the user."""

    app: str | None
    """This service's id of the app; ``None`` for an app it no longer serves."""
    platform: str
    appid: str
    """The platform's id of the app (WeCom: the corpid)."""
    openid: str = field(repr=False)
    unionid: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Account:
    """A user as the back office sees it. Times are Unix seconds."""

    id: int
    status: str
    created_at: float
    last_login_at: float | None
    phone: str | None = field(repr=False)
    identities: tuple[AccountIdentity, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One live login of a user, as the user and the back office see it. ``id`` is opaque,
    stable for the session's life, and never works as a token."""

    id: str
    app: str | None
    platform: str | None
    created_at: float
    expires_at: float
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """One entry of the audit trail. ``id`` is given by the store; ``result`` is ``ok`` or the
    error code of a failed login."""

    type: str
    at: float
    user_id: int | None
    app: str | None = None
    platform: str | None = None
    result: str = "ok"
    origin: Origin = NO_ORIGIN
    reason: str | None = None
    """Why, for a ban (at most ``MAX_REASON`` characters)."""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AccountQuery:
    """Exactly one way to find users: by (app, openid), by unionid or by phone (E.164). The
    store reads an app as its ``platform`` and ``appid``, which the use case fills in."""

    app: str | None = None
    openid: str | None = field(default=None, repr=False)
    unionid: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)
    platform: str | None = None
    appid: str | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A change of a user's status and the event that reports it, written together."""

    user_id: int
    status: str
    event: AccountEvent


Cursor = tuple[int, int]
"""Where a page of events ends: the last event's time (Unix microseconds) and id."""


def cursor_text(cursor: Cursor) -> str:
    return f"{cursor[0]}-{cursor[1]}"


def parse_cursor(text: str) -> Cursor | None:
    """The cursor of ``cursor_text``; ``None`` when ``text`` is none."""
    at, dash, id_ = text.partition("-")
    if not (dash and at.isascii() and at.isdigit() and id_.isascii() and id_.isdigit()):
        return None
    if len(at) > 19 or len(id_) > 19:
        return None
    return int(at), int(id_)


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[AccountEvent]
    next: Cursor | None
    """Where the next (older) page starts; ``None`` on the last one."""


class AccountStore(Protocol):
    """Users as accounts, and the audit trail (the user store's database).

    Every change and the events (and webhook messages) reporting it are written in one
    transaction.
    """

    async def account(self, user_id: int) -> Account | None:
        """The user with this id (whatever its status), or ``None``."""
        ...

    async def find(self, query: AccountQuery) -> list[Account]:
        """The users that ``query`` matches (deleted users have no identity and no phone)."""
        ...

    async def change_status(self, change: StatusChange) -> Account | None:
        """Set the status of a user that is not deleted and record the event; return the user
        as it was before, or ``None`` when it is unknown or deleted (nothing written)."""
        ...

    async def erase(self, user_id: int, event: AccountEvent) -> Account | None:
        """Close the account: status ``deleted``; its identities, unionids and phone erased (a
        later login of the same person creates a new user); record ``event``. Return the user
        as it was before (a deleted one: nothing written), ``None`` when unknown."""
        ...

    async def events(
        self, *, user_id: int | None, type: str | None, limit: int, before: Cursor | None
    ) -> EventPage:
        """At most ``limit`` events, newest first (by time, then id), older than ``before``
        when given."""
        ...

    async def record(self, events: Sequence[AccountEvent]) -> None:
        """Write these events (a batch from the :class:`AuditTrail`)."""
        ...

    async def purge(self, *, before: float, limit: int) -> int:
        """Remove at most ``limit`` of the events older than ``before``; return how many."""
        ...


class AuditTrail(Protocol):
    """Where the login path drops its events: never waits, never fails a login (the events are
    written in batches, off the request's path)."""

    def record(self, event: AccountEvent) -> None: ...
