"""``WeChatGateway`` for Alipay mini-programs: ``alipay.system.oauth.token`` at
``POST {api_base}/gateway.do``.

- The request is signed RSA2 with the app's private key (``alipay_sign``); the common parameters
  go in the query string and ``grant_type``/``code`` in a form body, as Alipay's SDKs send them.
- The answer is trusted only after its ``sign`` verifies with **Alipay's** public key over the raw
  text of the response value; a missing or forged signature is a platform error (never a login).
- The user is ``open_id`` (per app; new apps) or else ``user_id`` (``2088…``, apps still in that
  mode); ``union_id`` when given. Alipay has no ``session_key``: it is ``""``. The answer's
  ``access_token``/``refresh_token`` serve other user APIs and are dropped at once.
- Errors: ``isv.code-invalid`` (wrong, used, expired or another app's code) is an invalid code,
  gateway code ``20000`` busy, every other one a platform error, logged with its ``sub_code``.
  Alipay documents no rate-limit or blocked-user code.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson
from cryptography.hazmat.primitives.asymmetric import rsa
from yarl import URL

from adapters.platforms.alipay_sign import (
    load_private_key,
    load_public_key,
    rsa2_sign,
    rsa2_verify,
    sign_content,
    top_level_values,
)
from adapters.wechat.answers import NO_SESSION_KEY, login_session
from adapters.wechat.http import PlatformClient, WeChatCallLimit
from domain.entities import WeChatSession
from domain.errors import InvalidCode, WeChatBusy, WeChatError
from domain.ports import WeChatGateway

logger = logging.getLogger(__name__)

METHOD = "alipay.system.oauth.token"
_RESPONSE = METHOD.replace(".", "_") + "_response"
_ERROR = "error_response"
_CHINA = datetime.timezone(datetime.timedelta(hours=8))
_FORM = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}


def china_time() -> datetime.datetime:
    return datetime.datetime.now(_CHINA)


class AiohttpAlipayGateway(PlatformClient, WeChatGateway):
    """Exchanges a ``my.getAuthCode`` code once; see the module's docstring.

    ``private_key``: the app's RSA key; ``alipay_public_key``: Alipay's, which checks every
    answer; each a key object or PEM bytes (PKCS#1 or PKCS#8). ``now`` gives the request's
    timestamp (China time).
    """

    platform = "Alipay"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        appid: str,
        private_key: bytes | rsa.RSAPrivateKey,
        alipay_public_key: bytes | rsa.RSAPublicKey,
        timeout: float,
        limit: WeChatCallLimit | None = None,
        now: Callable[[], datetime.datetime] = china_time,
    ) -> None:
        super().__init__(session, base_url=base_url, timeout=timeout, limit=limit)
        self._appid = appid
        self._private_key = load_private_key(private_key)
        self._alipay_key = load_public_key(alipay_public_key)
        self._now = now
        self._url = URL(self._base + "/gateway.do")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base!r}, appid={self._appid!r})"

    def signed_params(self, code: str) -> tuple[dict[str, str], dict[str, str]]:
        """The query (common parameters and ``sign``) and the form body of one request."""
        common = {
            "app_id": self._appid,
            "method": METHOD,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": self._now().astimezone(_CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            "version": "1.0",
        }
        form = {"grant_type": "authorization_code", "code": code}
        common["sign"] = rsa2_sign(sign_content({**common, **form}).encode(), self._private_key)
        return common, form

    async def code_to_session(self, code: str) -> WeChatSession:
        query, form = self.signed_params(code)
        body = await self._send(METHOD, "POST", self._url, params=query, data=form, headers=_FORM)
        return _session_from(self._verified(body))

    def _verified(self, body: bytes) -> tuple[str, dict[str, Any]]:
        """The name and the decoded value of the response, once its signature verified."""
        values = top_level_values(body)
        name = _RESPONSE if _RESPONSE in values else _ERROR if _ERROR in values else None
        if name is None:
            logger.warning("Alipay %s answered no response value (%d bytes)", METHOD, len(body))
            raise WeChatError("Alipay answered a body without a response.")
        try:
            signature = orjson.loads(values.get("sign", b"null"))
        except orjson.JSONDecodeError:
            signature = None
        raw = values[name]
        if not isinstance(signature, str) or not (
            rsa2_verify(raw, signature, self._alipay_key)
            or rsa2_verify(raw.replace(b"\\/", b"/"), signature, self._alipay_key)
        ):
            logger.warning("Alipay %s answered a missing or wrong signature", METHOD)
            raise WeChatError("Alipay's answer is not signed by Alipay.")
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise WeChatError("Alipay answered a response that is not a JSON object.")
        return name, value


def _session_from(answer: tuple[str, dict[str, Any]]) -> WeChatSession:
    name, value = answer
    sub_code = value.get("sub_code")
    if name == _ERROR or sub_code or str(value.get("code", "10000")) != "10000":
        code = str(value.get("code", ""))
        if sub_code == "isv.code-invalid":
            raise InvalidCode()
        if code == "20000":
            raise WeChatBusy(retry_after=1)
        logger.warning("Alipay %s answered code %s, sub_code %s", METHOD, code, sub_code)
        raise WeChatError(f"Alipay answered code {code} ({sub_code}).")
    user = _text(value.get("open_id")) or _text(value.get("user_id"))
    return login_session(
        user, NO_SESSION_KEY, _text(value.get("union_id")), platform="Alipay", api=METHOD
    )


def _text(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None
