"""Log a mini-program user in with the code from ``wx.login()``."""

from __future__ import annotations

from dataclasses import dataclass

from domain.accounts import BANNED, AccountEvent, AuditTrail, Origin
from domain.apps import AppDirectory, AppServices, naming_platform
from domain.credentials import Credentials
from domain.entities import App, Identity, LoginSession, User, WeChatSession
from domain.errors import DomainError, RateLimited, UserBanned, WeChatOverloaded
from domain.ports import Clock, NewLogin, RateLimiter, SessionStore, UserRepository
from domain.use_cases.policy import SessionPolicy


@dataclass(frozen=True, slots=True)
class LoginRequest:
    code: str
    client_address: str = ""
    app: str | None = None
    """The app's id; ``None`` when the client named none."""
    user_agent: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class LoginResult:
    token: str
    expires_in: int
    user_id: int
    created: bool
    refresh_token: str | None = None
    """JWT mode: the refresh token, and the seconds it has left."""
    refresh_expires_in: int | None = None


class LoginUseCase:
    """Exchange a code at the app's platform, upsert the user, issue a token.

    Rules:
    - the app is the one the request names (``AppDirectory``: else ``UnknownApp``);
    - at most ``rate_per_minute`` logins per client address per minute and app (0: no limit);
    - the code is exchanged at the app's platform once, however often it is sent (see
      ``CodeExchange``, one per app); a platform's failure names the platform;
    - the user is found or created by identity (platform, appid, openid; see
      ``UserRepository``); ``created`` is true only for the creating login;
    - the session records the app and its platform;
    - the session, the user's newest ``session_key`` and the code's result are written in one
      step, last, so a failed login leaves no token that works; when the login fails after
      WeChat answered, the code's result is recorded anyway (the code is spent at WeChat);
    - a banned user gets ``UserBanned`` and no token, also when the ban lands while its login
      is in flight (the session store refuses the session: see ``SessionStore.revoke_all``);
      a user deleted meanwhile is looked up again, which creates a new user;
    - other tokens of the user live on;
    - every login that reached the platform leaves an event in the audit trail (``login``, or
      ``login_failed`` with the error code), without waiting for it to be written;
    - the client gets its session's tokens in the configured format (see ``Credentials``).
    """

    def __init__(
        self,
        *,
        apps: AppDirectory,
        users: UserRepository,
        sessions: SessionStore,
        credentials: Credentials,
        rate_limiter: RateLimiter,
        clock: Clock,
        policy: SessionPolicy,
        rate_per_minute: int,
        audit: AuditTrail,
    ) -> None:
        self._apps = apps
        self._users = users
        self._sessions = sessions
        self._credentials = credentials
        self._rate_limiter = rate_limiter
        self._clock = clock
        self._policy = policy
        self._rate_per_minute = rate_per_minute
        self._audit = audit

    async def execute(self, request: LoginRequest) -> LoginResult:
        services = self._apps.get(request.app)
        app, exchange = services.app, services.exchange
        if self._rate_per_minute > 0:
            retry_after = await self._rate_limiter.hit(
                f"login:{app.id}:{request.client_address}",
                limit=self._rate_per_minute,
                window=60,
                now=self._clock.now(),
            )
            if retry_after is not None:
                raise RateLimited(retry_after=retry_after)

        origin = Origin.of(request.client_address, request.user_agent, request.request_id)
        try:
            with naming_platform(app):
                wechat = await exchange.exchange(request.code)
            try:
                user, created, session, token = await self._log_in(
                    request, services, wechat, origin
                )
            except BaseException:  # a cancelled login (client gone, timeout) spent the code too
                await exchange.remember(request.code, wechat)
                raise
        except DomainError as error:  # WeChatOverloaded: refused before calling the platform
            if not isinstance(error, UserBanned | WeChatOverloaded):
                self._event("login_failed", app, None, origin, result=error.code)
            raise
        self._event("login", app, user, origin)
        issued = await self._credentials.for_login(token, session, session.login_at)
        return LoginResult(
            token=issued.token,
            expires_in=issued.expires_in,
            user_id=user.id,
            created=created,
            refresh_token=issued.refresh_token,
            refresh_expires_in=issued.refresh_expires_in,
        )

    async def _log_in(
        self, request: LoginRequest, services: AppServices, wechat: WeChatSession,
        origin: Origin,
    ) -> tuple[User, bool, LoginSession, str]:
        app = services.app
        identity = Identity(app.platform, app.appid, wechat.openid, wechat.unionid)
        for _ in range(2):  # once more when a deletion fenced the user off meanwhile
            now = self._clock.now()
            user, created = await self._users.get_or_create(identity, now=now)
            if user.status == BANNED:
                self._event("login_failed", app, user, origin, result=UserBanned.code)
                raise UserBanned()
            session = LoginSession(
                user_id=user.id,
                user_created_at=user.created_at,
                login_at=now,
                expires_at=self._policy.first_expiry(now),
                max_expires_at=now + self._policy.max_age,
                app=app.id,
                platform=app.platform,
            )
            token = await self._sessions.record_login(NewLogin(
                session, wechat.session_key, services.exchange.key(request.code), wechat,
                ip=origin.ip, user_agent=origin.user_agent,
            ))
            if token is not None:
                return user, created, session, token
        self._event("login_failed", app, user, origin, result=UserBanned.code)
        raise UserBanned()  # fenced off twice: banned while in flight

    def _event(
        self, type_: str, app: App, user: User | None, origin: Origin, *, result: str = "ok"
    ) -> None:
        self._audit.record(AccountEvent(
            type=type_, at=self._clock.now(), user_id=None if user is None else user.id,
            app=app.id, platform=app.platform, result=result, origin=origin,
        ))
