"""Log a mini-program user in with the code from ``wx.login()``."""

from __future__ import annotations

from dataclasses import dataclass

from domain.apps import AppDirectory, naming_platform
from domain.credentials import Credentials
from domain.entities import Identity, LoginSession
from domain.errors import RateLimited
from domain.ports import Clock, NewLogin, RateLimiter, SessionStore, UserRepository
from domain.use_cases.policy import SessionPolicy


@dataclass(frozen=True, slots=True)
class LoginRequest:
    code: str
    client_address: str = ""
    app: str | None = None
    """The app's id; ``None`` when the client named none."""


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
    - other tokens of the user live on;
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
    ) -> None:
        self._apps = apps
        self._users = users
        self._sessions = sessions
        self._credentials = credentials
        self._rate_limiter = rate_limiter
        self._clock = clock
        self._policy = policy
        self._rate_per_minute = rate_per_minute

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

        with naming_platform(app):
            wechat = await exchange.exchange(request.code)
        try:
            now = self._clock.now()
            identity = Identity(app.platform, app.appid, wechat.openid, wechat.unionid)
            user, created = await self._users.get_or_create(identity, now=now)
            session = LoginSession(
                user_id=user.id,
                user_created_at=user.created_at,
                login_at=now,
                expires_at=self._policy.first_expiry(now),
                max_expires_at=now + self._policy.max_age,
                app=app.id,
                platform=app.platform,
            )
            token = await self._sessions.record_login(
                NewLogin(session, wechat.session_key, exchange.key(request.code), wechat)
            )
        except BaseException:  # a cancelled login (client gone, timeout) spent the code too
            await exchange.remember(request.code, wechat)
            raise
        issued = await self._credentials.for_login(token, session, now)
        return LoginResult(
            token=issued.token,
            expires_in=issued.expires_in,
            user_id=user.id,
            created=created,
            refresh_token=issued.refresh_token,
            refresh_expires_in=issued.refresh_expires_in,
        )
