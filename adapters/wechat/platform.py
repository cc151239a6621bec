"""``WeChatPlatform`` over aiohttp: ``stable_token``, phone numbers, ``checksession`` and
subscribe messages, read leniently, each call made once."""

from __future__ import annotations

import logging

import orjson
from yarl import URL

from adapters.wechat.answers import JsonObject, errmsg_without_request_id, json_object
from adapters.wechat.answers import errcode as read_errcode
from adapters.wechat.http import WeChatClient
from domain.errors import WeChatBusy, WeChatError, WeChatFailure, WeChatRateLimited
from domain.platform import IssuedToken, PhoneNumber, SubscribeMessage, WeChatPlatform
from domain.platform_errors import (
    AccessTokenInvalid,
    InvalidPhoneCode,
    InvalidTemplate,
    NotSubscribed,
)

logger = logging.getLogger(__name__)

_TOKEN_REFUSED = frozenset({40001, 40014, 42001})  # invalid / not the latest, invalid, expired
_SESSION_KEY_INVALID = 87009
_TEMPLATE_ERRORS = frozenset({40037, 47003, 41030})  # template_id, data value, page
_MAX_ERRMSG = 200


class AiohttpWeChatPlatform(WeChatClient, WeChatPlatform):
    """Calls WeChat's token-needing APIs on a shared ``ClientSession``.

    - Never retried here: the retry after a refused token is the domain's, and WeChat's -1 is not
      retried at all (a retried message could be sent twice).
    - Bodies are JSON whatever their ``Content-Type``; ``errcode`` may be absent, 0 or a string.
      40001/40014/42001 are ``AccessTokenInvalid``.
    - Raised errors and logs name at most an ``errcode``, an HTTP status or a driver's exception
      type (and, for template errors, WeChat's ``errmsg``): never the secret, the access token, a
      code, a session-key signature or an openid. Driver exceptions are not chained, since theirs
      can hold the request URL, whose query carries the access token.
    - Calls share the gateway's ``WeChatCallLimit``; ``timeout`` bounds the wait and the call.
    """

    async def stable_token(self, *, force_refresh: bool = False) -> IssuedToken:
        data = await self._call(
            "stable_token",
            "POST",
            "/cgi-bin/stable_token",
            body={
                "grant_type": "client_credential",
                "appid": self._appid,
                "secret": self._secret,
                "force_refresh": force_refresh,
            },
        )
        _raise_for_errcode("stable_token", data, token_used=False)
        value, expires_in = data.get("access_token"), _number(data.get("expires_in"))
        if not (isinstance(value, str) and value and expires_in is not None and expires_in > 0):
            logger.warning("WeChat stable_token answered no access_token or expires_in")
            raise WeChatError("WeChat's answer lacks the access_token or its expires_in.")
        return IssuedToken(value=value, expires_in=expires_in)

    async def phone_number(self, access_token: str, code: str) -> PhoneNumber:
        data = await self._call(
            "getuserphonenumber",
            "POST",
            "/wxa/business/getuserphonenumber",
            access_token=access_token,
            body={"code": code},
        )
        _raise_for_errcode("getuserphonenumber", data, {40029: InvalidPhoneCode})
        info = data.get("phone_info")
        info = info if isinstance(info, dict) else {}
        pure, country = info.get("purePhoneNumber"), info.get("countryCode")
        country = str(country) if isinstance(country, int | str) else ""
        if not (isinstance(pure, str) and pure.isdigit() and country.isdigit()):
            logger.warning("WeChat getuserphonenumber answered no usable phone_info")
            raise WeChatError("WeChat's answer lacks a usable phone number.")
        return PhoneNumber(pure_phone_number=pure, country_code=country)

    async def check_session(self, access_token: str, openid: str, signature: str) -> bool:
        data = await self._call(
            "checksession",
            "GET",
            "/wxa/checksession",
            access_token=access_token,
            query={"openid": openid, "signature": signature, "sig_method": "hmac_sha256"},
        )
        if read_errcode(data.get("errcode")) == _SESSION_KEY_INVALID:
            return False
        _raise_for_errcode("checksession", data)
        return True

    async def send_subscribe_message(self, access_token: str, message: SubscribeMessage) -> None:
        body: JsonObject = {
            "touser": message.touser,
            "template_id": message.template_id,
            "data": {name: dict(entry) for name, entry in message.data.items()},
        }
        for name in ("page", "miniprogram_state", "lang"):
            value = getattr(message, name)
            if value is not None:
                body[name] = value
        data = await self._call(
            "subscribe/send",
            "POST",
            "/cgi-bin/message/subscribe/send",
            access_token=access_token,
            body=body,
        )
        errcode = read_errcode(data.get("errcode"))
        if errcode in _TEMPLATE_ERRORS:
            errmsg = errmsg_without_request_id(data.get("errmsg"))[:_MAX_ERRMSG]
            raise InvalidTemplate(f"WeChat refused the message (errcode {errcode}): {errmsg}")
        _raise_for_errcode("subscribe/send", data, {43101: NotSubscribed})

    async def _call(
        self,
        api: str,
        method: str,
        path: str,
        *,
        access_token: str | None = None,
        query: dict[str, str] | None = None,
        body: JsonObject | None = None,
    ) -> JsonObject:
        params = dict(query or {})
        if access_token is not None:
            params["access_token"] = access_token
        headers = {"Content-Type": "application/json"} if body is not None else None
        raw = await self._send(
            api,
            method,
            URL(self._base + path),
            params=params or None,
            data=None if body is None else orjson.dumps(body),
            headers=headers,
        )
        return json_object(raw, api=api)


def _raise_for_errcode(
    api: str,
    data: JsonObject,
    specific: dict[int, type[WeChatFailure]] | None = None,
    *,
    token_used: bool = True,
) -> None:
    errcode = read_errcode(data.get("errcode"))
    if errcode == 0:
        return
    if errcode == -1:
        raise WeChatBusy(retry_after=1)
    if errcode == 45011:
        raise WeChatRateLimited()
    if token_used and errcode in _TOKEN_REFUSED:
        raise AccessTokenInvalid(f"WeChat refused the access token (errcode {errcode}).")
    failure = (specific or {}).get(errcode)
    if failure is not None:
        raise failure()
    logger.warning("WeChat %s answered errcode %d", api, errcode)
    raise WeChatError(f"WeChat answered errcode {errcode}.")


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
