"""Ask WeChat whether the ``session_key`` kept for the user is still valid."""

from __future__ import annotations

from dataclasses import dataclass

from domain.apps import AppDirectory, naming_platform
from domain.errors import Unauthorized
from domain.open_data import session_signature
from domain.ports import SessionStore, UserRepository


@dataclass(frozen=True, slots=True)
class CheckSessionKeyRequest:
    user_id: int
    """The authenticated user."""
    app: str
    """The id of the app the user's token came from."""


@dataclass(frozen=True, slots=True)
class SessionKeyState:
    valid: bool


class CheckSessionKeyUseCase:
    """Rules:
    - only on WeChat apps (else ``UnsupportedByPlatform``);
    - the newest ``session_key`` kept for the user is checked at WeChat's ``checksession`` with
      the hex HMAC-SHA256 of ``""`` keyed by it, and the openid of the user's identity on the
      app (which stays server-side);
    - WeChat's 0 is valid, 87009 invalid; no kept ``session_key`` is invalid without a call;
    - a user that no longer exists (or has no identity on the app) is ``Unauthorized`` (its
      token outlived it);
    - token refusals are retried once as for every call with the shared token; -1 is not.
    """

    def __init__(
        self, *, apps: AppDirectory, users: UserRepository, sessions: SessionStore,
    ) -> None:
        self._apps = apps
        self._users = users
        self._sessions = sessions

    async def execute(self, request: CheckSessionKeyRequest) -> SessionKeyState:
        services = self._apps.get(request.app)
        platform, access_tokens = services.wechat_features()
        app = services.app
        openid = next(
            (i.openid for i in await self._users.identities(request.user_id)
             if (i.platform, i.appid) == (app.platform, app.appid)),
            None,
        )
        if openid is None:
            raise Unauthorized()
        session_key = await self._sessions.session_key(request.user_id, app.id)
        if session_key is None:
            return SessionKeyState(valid=False)
        signature = session_signature(session_key)
        with naming_platform(app):
            valid = await access_tokens.call_with_token(
                lambda token: platform.check_session(token, openid, signature)
            )
        return SessionKeyState(valid=valid)
