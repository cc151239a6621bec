"""The platform features in process memory: the access-token cache of the one-worker default,
and the fakes of the unit tests (WeChat's platform API, users' phone numbers)."""

from __future__ import annotations

import asyncio
import itertools

from domain.errors import WeChatFailure
from domain.open_data import session_signature
from domain.platform import (
    AccessToken,
    AccessTokenCache,
    IssuedToken,
    PhoneNumber,
    SubscribeMessage,
    UserPhoneStore,
    WeChatPlatform,
)
from domain.platform_errors import AccessTokenInvalid, InvalidPhoneCode, NotSubscribed
from domain.ports import Clock


class InMemoryAccessTokenCache(AccessTokenCache):
    """``AccessTokenCache`` for one process; the lock lapses on ``clock`` like Redis's PX."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock: tuple[str, float] | None = None

    async def get(self) -> AccessToken | None:
        token = self._token
        return token if token is not None and self._clock.now() < token.expires_at else None

    async def set(self, token: AccessToken) -> None:
        self._token = token

    async def delete(self, value: str) -> None:
        if self._token is not None and self._token.value == value:
            self._token = None

    async def try_lock(self, owner: str, *, ttl: float) -> bool:
        now = self._clock.now()
        if self._lock is not None and self._lock[1] > now and self._lock[0] != owner:
            return False
        self._lock = (owner, now + ttl)
        return True

    async def unlock(self, owner: str) -> None:
        if self._lock is not None and self._lock[0] == owner:
            self._lock = None


class InMemoryUserPhones(UserPhoneStore):
    """``UserPhoneStore`` fake: ``phones`` maps user ids to their stored number."""

    def __init__(self) -> None:
        self.phones: dict[int, str] = {}

    async def save_phone(self, user_id: int, phone: str) -> None:
        self.phones[user_id] = phone


class InMemoryWeChatPlatform(WeChatPlatform):
    """``WeChatPlatform`` fake that behaves like WeChat where the use cases care.

    - ``stable_token`` hands out the same token until it is revoked (``revoke_tokens``), counting
      fetches in ``token_fetches``; ``delay`` makes each fetch take that long.
    - Calls with a token it did not issue, or any token while ``refuse_tokens`` is set, raise
      ``AccessTokenInvalid``; ``calls`` lists ``(api, token)`` of every token-needing call.
    - ``phones`` maps single-use phone codes to numbers (others: ``InvalidPhoneCode``).
    - ``session_keys`` maps openids to their newest ``session_key`` for ``check_session``.
    - ``subscriptions`` holds ``(openid, template_id)``; each allows one message (then
      ``NotSubscribed``); sent messages go to ``sent``.
    - ``fail_next(api, failure)`` makes the next call of ``api`` (a method name) raise ``failure``.
    """

    def __init__(self, *, token_lifetime: float = 7200.0, delay: float = 0.0) -> None:
        self.token_lifetime = token_lifetime
        self.delay = delay
        self.token_fetches = 0
        self.refuse_tokens = False
        self.valid_tokens: set[str] = set()
        self.phones: dict[str, PhoneNumber] = {}
        self.session_keys: dict[str, str] = {}
        self.subscriptions: set[tuple[str, str]] = set()
        self.sent: list[SubscribeMessage] = []
        self.calls: list[tuple[str, str]] = []
        self._current: str | None = None
        self._serial = itertools.count(1)
        self._used_phone_codes: set[str] = set()
        self._scripted: dict[str, list[WeChatFailure]] = {}

    def fail_next(self, api: str, failure: WeChatFailure, *, times: int = 1) -> None:
        self._scripted.setdefault(api, []).extend([failure] * times)

    def revoke_tokens(self) -> None:
        """Every token issued so far is refused from now on; the next fetch gets a new one."""
        self.valid_tokens.clear()
        self._current = None

    async def stable_token(self, *, force_refresh: bool = False) -> IssuedToken:
        self.token_fetches += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self._raise_scripted("stable_token")
        if force_refresh or self._current is None:
            if force_refresh and self._current is not None:
                self.valid_tokens.discard(self._current)
            self._current = f"ACCESS_TOKEN_{next(self._serial)}"
            self.valid_tokens.add(self._current)
        return IssuedToken(value=self._current, expires_in=self.token_lifetime)

    async def phone_number(self, access_token: str, code: str) -> PhoneNumber:
        self._use("phone_number", access_token)
        if code in self._used_phone_codes or code not in self.phones:
            raise InvalidPhoneCode()
        self._used_phone_codes.add(code)
        return self.phones[code]

    async def check_session(self, access_token: str, openid: str, signature: str) -> bool:
        self._use("check_session", access_token)
        session_key = self.session_keys.get(openid)
        return session_key is not None and signature == session_signature(session_key)

    async def send_subscribe_message(self, access_token: str, message: SubscribeMessage) -> None:
        self._use("send_subscribe_message", access_token)
        subscription = (message.touser, message.template_id)
        if subscription not in self.subscriptions:
            raise NotSubscribed()
        self.subscriptions.discard(subscription)
        self.sent.append(message)

    def _use(self, api: str, access_token: str) -> None:
        self.calls.append((api, access_token))
        if self.refuse_tokens or access_token not in self.valid_tokens:
            raise AccessTokenInvalid()
        self._raise_scripted(api)

    def _raise_scripted(self, api: str) -> None:
        scripted = self._scripted.get(api)
        if scripted:
            raise scripted.pop(0)
