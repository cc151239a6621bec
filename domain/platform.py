"""Ports and values of the WeChat platform features: the app's ``access_token`` and the calls
that need it (phone number, session-key check, subscribe messages).

Adapters raise :class:`~domain.errors.WeChatFailure` subclasses (``AccessTokenInvalid`` for
40001/40014/42001) and :class:`~domain.errors.StoreUnavailable`, never their drivers' errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """What ``stable_token`` answers: the token and its remaining lifetime in seconds."""

    value: str = field(repr=False)
    expires_in: float


@dataclass(frozen=True, slots=True)
class AccessToken:
    """The app's shared token as cached: Unix times of its expiry and of its planned refresh."""

    value: str = field(repr=False)
    expires_at: float
    refresh_at: float


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    """A user's phone number as WeChat gives it: digits without the country code, and the
    country code (``"86"``)."""

    pure_phone_number: str
    country_code: str

    @property
    def e164(self) -> str:
        """``+<country code><pure number>``, e.g. ``+8613800138000``."""
        return f"+{self.country_code}{self.pure_phone_number}"


@dataclass(frozen=True, slots=True)
class SubscribeMessage:
    """One subscribe message for WeChat's ``subscribe/send``; ``touser`` (an openid) is secret."""

    touser: str = field(repr=False)
    template_id: str
    data: Mapping[str, Mapping[str, str]]
    page: str | None = None
    miniprogram_state: str | None = None
    lang: str | None = None


class WeChatPlatform(Protocol):
    """WeChat's server API for the features that need the app's ``access_token``.

    Each call is made once (never retried inside the adapter). A refused token is
    ``AccessTokenInvalid``; WeChat's -1 is ``WeChatBusy``.
    """

    async def stable_token(self, *, force_refresh: bool = False) -> IssuedToken:
        """``POST /cgi-bin/stable_token``: the app's current token (the same one while valid)."""
        ...

    async def phone_number(self, access_token: str, code: str) -> PhoneNumber:
        """``getuserphonenumber``: the number behind a phone code; ``InvalidPhoneCode`` (40029)."""
        ...

    async def check_session(self, access_token: str, openid: str, signature: str) -> bool:
        """``checksession``: whether the ``session_key`` that made ``signature`` is still
        valid (errcode 0: ``True``, 87009: ``False``)."""
        ...

    async def send_subscribe_message(self, access_token: str, message: SubscribeMessage) -> None:
        """``subscribe/send``; ``NotSubscribed`` (43101), ``InvalidTemplate`` (40037, 47003,
        41030)."""
        ...


class AccessTokenCache(Protocol):
    """The app's one ``access_token``, shared by every worker and instance using the same store,
    and the lock that lets one of them at a time refresh it."""

    async def get(self) -> AccessToken | None:
        """The cached token, or ``None`` when there is none or it has expired."""
        ...

    async def set(self, token: AccessToken) -> None:
        """Cache ``token`` (replacing any other) until its ``expires_at``."""
        ...

    async def delete(self, value: str) -> None:
        """Drop the cached token if (and only if) it is still ``value``: a newer one stays."""
        ...

    async def try_lock(self, owner: str, *, ttl: float) -> bool:
        """Take the refresh lock for ``owner`` unless someone else holds it; it lapses after
        ``ttl`` seconds (a holder that dies does not block the others for longer). ``True`` also
        when ``owner`` holds it already (a repeat after a lost reply)."""
        ...

    async def unlock(self, owner: str) -> None:
        """Release the lock if ``owner`` still holds it (never another holder's lock)."""
        ...


class UserPhoneStore(Protocol):
    """Where a user's verified phone number is kept (the ``phone`` column of ``users``)."""

    async def save_phone(self, user_id: int, phone: str) -> None:
        """Store ``phone`` (E.164) on the user; a no-op when the user does not exist."""
        ...
