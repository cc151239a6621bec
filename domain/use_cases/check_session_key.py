"""Ask WeChat whether the ``session_key`` kept for the user is still valid."""

from __future__ import annotations

from dataclasses import dataclass

from domain.access_token import AccessTokenProvider
from domain.errors import Unauthorized
from domain.open_data import session_signature
from domain.platform import WeChatPlatform
from domain.ports import SessionStore, UserRepository


@dataclass(frozen=True, slots=True)
class CheckSessionKeyRequest:
    user_id: int
    """The authenticated user."""


@dataclass(frozen=True, slots=True)
class SessionKeyState:
    valid: bool


class CheckSessionKeyUseCase:
    """Rules:
    - the newest ``session_key`` kept for the user is checked at WeChat's ``checksession`` with
      the hex HMAC-SHA256 of ``""`` keyed by it, and the user's openid (which stays server-side);
    - WeChat's 0 is valid, 87009 invalid; no kept ``session_key`` is invalid without a call;
    - a user that no longer exists is ``Unauthorized`` (its token outlived it);
    - token refusals are retried once as for every call with the shared token; -1 is not.
    """

    def __init__(
        self, *, platform: WeChatPlatform, access_tokens: AccessTokenProvider,
        users: UserRepository, sessions: SessionStore,
    ) -> None:
        self._platform = platform
        self._access_tokens = access_tokens
        self._users = users
        self._sessions = sessions

    async def execute(self, request: CheckSessionKeyRequest) -> SessionKeyState:
        user = await self._users.get(request.user_id)
        if user is None:
            raise Unauthorized()
        session_key = await self._sessions.session_key(request.user_id)
        if session_key is None:
            return SessionKeyState(valid=False)
        signature = session_signature(session_key)
        valid = await self._access_tokens.call_with_token(
            lambda token: self._platform.check_session(token, user.openid, signature)
        )
        return SessionKeyState(valid=valid)
