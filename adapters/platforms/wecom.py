"""``WeChatGateway`` for WeCom (企业微信) mini-programs:
``GET {api_base}/cgi-bin/miniprogram/jscode2session?access_token=…&js_code=…``.

The call needs the corp's ``access_token`` from ``GET /cgi-bin/gettoken?corpid=…&corpsecret=…``
(the corp id, and the secret of the self-built app the mini-program is linked to). That token is
shared like WeChat's: ``WeComTokenIssuer`` fetches it and the domain's ``AccessTokenProvider``
(with an ``AccessTokenCache`` per app) hands it out, one refresher at a time across processes,
and fetches a new one once when WeCom refuses it (40001, 40014, 42001).

The answer ``{"corpid", "userid", "session_key"}`` must name the app's own corp, else it is a
platform error. The user is ``userid`` (corp-scoped; WeCom gives no unionid). Codes: ``40029``
invalid code, ``-1`` busy, ``45009``/``45033`` rate limited; every other one a platform error,
logged with the ``hint`` of WeCom's ``errmsg``. No call is retried but the one after a refused
token (the code was not used then).
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

import aiohttp
from yarl import URL

from adapters.wechat.answers import errcode as read_errcode
from adapters.wechat.answers import json_object, login_session
from adapters.wechat.http import PlatformClient, WeChatCallLimit
from domain.access_token import AccessTokenProvider
from domain.entities import WeChatSession
from domain.errors import (
    InvalidCode,
    WeChatBusy,
    WeChatError,
    WeChatFailure,
    WeChatRateLimited,
)
from domain.platform import IssuedToken, PhoneNumber, SubscribeMessage, WeChatPlatform
from domain.platform_errors import AccessTokenInvalid
from domain.ports import WeChatGateway

logger = logging.getLogger(__name__)

_TOKEN_REFUSED = frozenset({40001, 40014, 42001})
_ERRCODES: dict[int, type[WeChatFailure]] = {
    40029: InvalidCode,
    45009: WeChatRateLimited,
    45033: WeChatRateLimited,
}
_HINT = re.compile(r"hint: \[([^\]]*)\]")


class WeComTokenIssuer(PlatformClient, WeChatPlatform):
    """Fetches the corp's ``access_token`` at ``gettoken``, for an ``AccessTokenProvider``.

    It fills the provider's ``stable_token`` role (WeCom's ``gettoken`` hands out the same token
    while it is valid); WeCom has none of WeChat's other platform calls, which raise
    ``WeChatError``. ``gettoken``'s 40001 (bad secret) and 40013 (bad corpid) are platform
    errors, not a refused token.
    """

    platform = "WeCom"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        corpid: str,
        secret: str,
        timeout: float,
        limit: WeChatCallLimit | None = None,
    ) -> None:
        super().__init__(session, base_url=base_url, timeout=timeout, limit=limit)
        self._corpid = corpid
        self._secret = secret
        self._url = URL(self._base + "/cgi-bin/gettoken")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base!r}, corpid={self._corpid!r})"

    async def stable_token(self, *, force_refresh: bool = False) -> IssuedToken:
        params = {"corpid": self._corpid, "corpsecret": self._secret}
        data = json_object(
            await self._send("gettoken", "GET", self._url, params=params),
            api="gettoken",
            platform=self.platform,
        )
        errcode = read_errcode(data.get("errcode"), platform=self.platform)
        if errcode == -1:
            raise WeChatBusy(retry_after=1)
        if errcode:
            logger.warning("WeCom gettoken answered errcode %d%s", errcode, _hint(data))
            raise WeChatError(f"WeCom answered errcode {errcode} to gettoken.")
        value, expires_in = data.get("access_token"), _positive(data.get("expires_in"))
        if not (isinstance(value, str) and value) or expires_in is None:
            logger.warning("WeCom gettoken answered no access_token or expires_in")
            raise WeChatError("WeCom's answer lacks the access_token or its expires_in.")
        return IssuedToken(value=value, expires_in=expires_in)

    async def phone_number(self, access_token: str, code: str) -> PhoneNumber:
        raise WeChatError("WeCom has no getuserphonenumber.")

    async def check_session(self, access_token: str, openid: str, signature: str) -> bool:
        raise WeChatError("WeCom has no checksession.")

    async def send_subscribe_message(self, access_token: str, message: SubscribeMessage) -> None:
        raise WeChatError("WeCom has no subscribe messages.")


class AiohttpWeComGateway(PlatformClient, WeChatGateway):
    """Exchanges a ``wx.qy.login`` code once with the corp's shared token (``tokens``, an
    ``AccessTokenProvider`` over a ``WeComTokenIssuer`` of the same corp)."""

    platform = "WeCom"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        corpid: str,
        tokens: AccessTokenProvider,
        timeout: float,
        limit: WeChatCallLimit | None = None,
    ) -> None:
        super().__init__(session, base_url=base_url, timeout=timeout, limit=limit)
        self._corpid = corpid
        self._tokens = tokens
        self._url = URL(self._base + "/cgi-bin/miniprogram/jscode2session")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base!r}, corpid={self._corpid!r})"

    async def code_to_session(self, code: str) -> WeChatSession:
        data = await self._tokens.call_with_token(lambda token: self._exchange(token, code))
        corpid = data.get("corpid")
        if not (
            isinstance(corpid, str)
            and secrets.compare_digest(corpid.encode(), self._corpid.encode())
        ):
            logger.warning("WeCom jscode2session answered for another corp than the app's")
            raise WeChatError("WeCom answered for another corp than the app's.")
        return login_session(
            data.get("userid"),
            data.get("session_key"),
            None,
            platform=self.platform,
            api="jscode2session",
        )

    async def _exchange(self, token: str, code: str) -> dict[str, Any]:
        params = {"access_token": token, "js_code": code, "grant_type": "authorization_code"}
        data = json_object(
            await self._send("jscode2session", "GET", self._url, params=params),
            api="jscode2session",
            platform=self.platform,
        )
        errcode = read_errcode(data.get("errcode"), platform=self.platform)
        if errcode == -1:
            raise WeChatBusy(retry_after=1)
        if errcode in _TOKEN_REFUSED:
            raise AccessTokenInvalid(f"WeCom refused the access token (errcode {errcode}).")
        if errcode:
            failure = _ERRCODES.get(errcode)
            if failure is not None:
                raise failure()
            logger.warning("WeCom jscode2session answered errcode %d%s", errcode, _hint(data))
            raise WeChatError(f"WeCom answered errcode {errcode}.")
        return data


def _hint(data: dict[str, Any]) -> str:
    errmsg = data.get("errmsg")
    match = _HINT.search(errmsg) if isinstance(errmsg, str) else None
    return f" (hint {match[1]})" if match else ""


def _positive(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None
