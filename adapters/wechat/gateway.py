"""``WeChatGateway`` over aiohttp: ``jscode2session``, read leniently, never retried."""

from __future__ import annotations

import asyncio
import logging
from functools import cached_property

import aiohttp
from yarl import URL

from adapters.wechat.answers import JsonObject, json_object
from adapters.wechat.answers import errcode as read_errcode
from adapters.wechat.http import WeChatClient
from domain.entities import WeChatSession
from domain.errors import (
    InvalidCode,
    UserBlocked,
    WeChatBusy,
    WeChatError,
    WeChatFailure,
    WeChatRateLimited,
    WeChatTimeout,
)
from domain.ports import WeChatGateway

logger = logging.getLogger(__name__)

_ERRCODES: dict[int, type[WeChatFailure]] = {
    40029: InvalidCode,  # invalid or expired code (or a code of another appid)
    40163: InvalidCode,  # code been used
    40226: UserBlocked,  # high-risk user
    45011: WeChatRateLimited,  # minute quota
}


class AiohttpWeChatGateway(WeChatClient, WeChatGateway):
    """Calls ``GET {base_url}/sns/jscode2session`` on a shared ``ClientSession``.

    - One attempt per code, whatever happens: a code is single-use, and a retry of a call whose
      answer was lost turns into 40163 "code been used".
    - WeChat's body is JSON whatever its ``Content-Type`` (it says ``text/plain``); ``errcode``
      may be absent, ``0``, or a string.
    - Raised errors name at most WeChat's ``errcode``, the HTTP status or a driver's exception
      type: never the secret, the code, the ``session_key`` or the openid. Driver exceptions are
      not chained, since theirs can hold the request URL, whose query carries the secret.
    - TLS certificates are verified by the session; ``http`` vs ``https`` is the settings' call.
    - At most ``limit`` calls are in flight (see ``WeChatCallLimit``); ``timeout`` bounds the wait
      for a slot and the call together.
    """

    @cached_property
    def _url(self) -> URL:
        return URL(self._base + "/sns/jscode2session")

    async def code_to_session(self, code: str) -> WeChatSession:
        status, body = await self._get(
            {
                "appid": self._appid,
                "secret": self._secret,
                "js_code": code,
                "grant_type": "authorization_code",
            }
        )
        if status >= 300:
            logger.warning("WeChat jscode2session answered HTTP %d", status)
            raise WeChatError(f"WeChat answered HTTP {status}.")
        return _session_from(json_object(body, api="jscode2session"))

    async def _get(self, params: dict[str, str]) -> tuple[int, bytes]:
        try:
            async with (
                asyncio.timeout(self._deadline),
                self._limit.slot(),
                self._session.get(
                    self._url, params=params, timeout=self._timeout, allow_redirects=False
                ) as resp,
            ):
                return resp.status, await resp.read()
        except TimeoutError:  # asyncio's and aiohttp's timeouts (also an OSError: caught first)
            logger.warning("WeChat jscode2session timed out")
            raise WeChatTimeout() from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            name = type(exc).__name__
            logger.warning("WeChat jscode2session unreachable: %s", name)
            raise WeChatError(f"WeChat could not be reached ({name}).") from None


def _session_from(data: JsonObject) -> WeChatSession:
    errcode = read_errcode(data.get("errcode"))
    if errcode == -1:
        raise WeChatBusy(retry_after=1)
    if errcode:
        failure = _ERRCODES.get(errcode)
        if failure is not None:
            raise failure()
        logger.warning("WeChat jscode2session answered errcode %d", errcode)
        raise WeChatError(f"WeChat answered errcode {errcode}.")
    openid, session_key = data.get("openid"), data.get("session_key")
    if not (isinstance(openid, str) and openid and isinstance(session_key, str) and session_key):
        logger.warning("WeChat jscode2session answered no openid or session_key")
        raise WeChatError("WeChat's answer lacks the openid or the session_key.")
    unionid = data.get("unionid")
    return WeChatSession(
        openid=openid,
        session_key=session_key,
        unionid=unionid if isinstance(unionid, str) and unionid else None,
    )
