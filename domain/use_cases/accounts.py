"""The back office's use cases: find users, see their sessions and events, ban, unban, revoke,
delete. Driven by the admin HTTP routes and by ``python -m entrypoints.admin`` alike.

Rules shared by all:
- an unknown user is ``UnknownUser`` (a deleted user is known: it shows as ``deleted``);
- a change and the event that reports it are written together, by the ``AccountStore``;
- tokens die in the session store after the change is stored: a failure there leaves the
  change made and the call safe to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.accounts import (
    ACTIVE,
    BANNED,
    EVENT_TYPES,
    FENCE_SECONDS,
    MAX_REASON,
    NO_ORIGIN,
    Account,
    AccountEvent,
    AccountQuery,
    AccountStore,
    EventPage,
    Origin,
    SessionInfo,
    StatusChange,
    parse_cursor,
)
from domain.apps import AppDirectory
from domain.errors import InvalidRequest, UnknownApp
from domain.platform_errors import UnknownUser
from domain.ports import Clock, SessionStore

MAX_EVENTS = 200
DEFAULT_EVENTS = 50
MAX_USER_ID = 2**63 - 1
"""The largest id a user store keeps (a signed 64-bit column): larger ones are unknown."""


@dataclass(frozen=True, slots=True)
class AccountView:
    """A user and its live sessions."""

    account: Account
    sessions: list[SessionInfo]


@dataclass(frozen=True, slots=True)
class UserRequest:
    user_id: int
    origin: Origin = NO_ORIGIN
    reason: str | None = None
    """A ban's reason (at most ``MAX_REASON`` characters)."""


def _known_id(user_id: int) -> int:
    """``user_id``, or ``UnknownUser`` when no store could hold it."""
    if not 1 <= user_id <= MAX_USER_ID:
        raise UnknownUser()
    return user_id


class _AccountViews:
    def __init__(
        self, *, accounts: AccountStore, sessions: SessionStore, apps: AppDirectory
    ) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._apps = apps

    async def _view(self, account: Account) -> AccountView:
        """The account with its identities' apps named, and its live sessions."""
        identities = tuple(
            replace(identity, app=None if served is None else served.app.id)
            for identity in account.identities
            for served in [self._apps.of_identity(identity.platform, identity.appid)]
        )
        sessions = await self._sessions.sessions_of(account.id)
        return AccountView(replace(account, identities=identities), sessions)


class ShowAccountUseCase(_AccountViews):
    async def execute(self, request: UserRequest) -> AccountView:
        account = await self._accounts.account(_known_id(request.user_id))
        if account is None:
            raise UnknownUser()
        return await self._view(account)


class FindAccountsUseCase(_AccountViews):
    """Exactly one of (app and openid), unionid, phone, else ``InvalidRequest``; an app that is
    not served finds nobody."""

    async def execute(self, query: AccountQuery) -> list[AccountView]:
        by_openid = query.app is not None and query.openid is not None
        given = [by_openid, query.unionid is not None, query.phone is not None]
        if given.count(True) != 1 or (not by_openid and (query.app or query.openid)):
            raise InvalidRequest("Give app and openid, or unionid, or phone.")
        if by_openid:
            try:
                app = self._apps.get(query.app).app
            except UnknownApp:
                return []
            query = replace(query, platform=app.platform, appid=app.appid)
        return [await self._view(account) for account in await self._accounts.find(query)]


class _AccountChange:
    def __init__(
        self, *, accounts: AccountStore, sessions: SessionStore, clock: Clock
    ) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._clock = clock

    def _event(self, type_: str, request: UserRequest) -> AccountEvent:
        return AccountEvent(
            type=type_, at=self._clock.now(), user_id=request.user_id, origin=request.origin,
            reason=request.reason,
        )

    async def _change_status(self, status: str, type_: str, request: UserRequest) -> Account:
        change = StatusChange(_known_id(request.user_id), status, self._event(type_, request))
        before = await self._accounts.change_status(change)
        if before is None:
            raise UnknownUser()
        return before


class BanUseCase(_AccountChange):
    """Every token of the user dies at once, and its logins answer ``UserBanned``, also a login
    in flight (the session store is fenced off for ``FENCE_SECONDS``). A deleted user is
    ``UnknownUser``: there is nothing left to ban."""

    async def execute(self, request: UserRequest) -> None:
        if request.reason is not None and len(request.reason) > MAX_REASON:
            raise InvalidRequest(f"`reason` is at most {MAX_REASON} characters.")
        await self._change_status(BANNED, "banned", request)
        fence = self._clock.now() + FENCE_SECONDS
        await self._sessions.revoke_all(request.user_id, fence_until=fence)


class UnbanUseCase(_AccountChange):
    """The user may log in again (its old tokens stay dead)."""

    async def execute(self, request: UserRequest) -> None:
        await self._change_status(ACTIVE, "unbanned", request)
        await self._sessions.unfence(request.user_id)


class RevokeSessionsUseCase(_AccountChange):
    """Every token of the user dies; it may log in again."""

    async def execute(self, request: UserRequest) -> None:
        if await self._accounts.account(_known_id(request.user_id)) is None:
            raise UnknownUser()
        await self._sessions.revoke_all(request.user_id)
        await self._accounts.record([self._event("session_revoked", request)])


class DeleteAccountUseCase(_AccountChange):
    """Closes the account: every token dies (a login in flight gets none); identities,
    unionids and phone are erased; the same person's next login creates a new user. Deleting
    a deleted account again changes nothing and succeeds (its tokens are ended again)."""

    async def execute(self, request: UserRequest) -> None:
        event = self._event("deleted", request)
        before = await self._accounts.erase(_known_id(request.user_id), event)
        if before is None:
            raise UnknownUser()
        fence = self._clock.now() + FENCE_SECONDS
        await self._sessions.revoke_all(request.user_id, fence_until=fence)


@dataclass(frozen=True, slots=True)
class EventsRequest:
    user_id: int | None = None
    type: str | None = None
    limit: int = DEFAULT_EVENTS
    before: str | None = None
    """The cursor: the ``next`` of the previous page."""


class ListEventsUseCase:
    """Newest first, ``limit`` 1 to ``MAX_EVENTS``; a user's events need the user to be known;
    ``type`` one of ``EVENT_TYPES``."""

    def __init__(self, *, accounts: AccountStore) -> None:
        self._accounts = accounts

    async def execute(self, request: EventsRequest) -> EventPage:
        if not 1 <= request.limit <= MAX_EVENTS:
            raise InvalidRequest(f"`limit` is 1 to {MAX_EVENTS}.")
        if request.type is not None and request.type not in EVENT_TYPES:
            raise InvalidRequest(f"`type` is one of {', '.join(EVENT_TYPES)}.")
        before = None if request.before is None else parse_cursor(request.before)
        if request.before is not None and before is None:
            raise InvalidRequest("`before` is a cursor from `next`.")
        user_id = request.user_id
        if user_id is not None and await self._accounts.account(_known_id(user_id)) is None:
            raise UnknownUser()
        return await self._accounts.events(
            user_id=request.user_id, type=request.type, limit=request.limit, before=before,
        )
