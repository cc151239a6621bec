"""``WeChatGateway`` over aiohttp: ``jscode2session``, read leniently, never retried."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar

from yarl import URL

from adapters.wechat.answers import errcode as read_errcode
from adapters.wechat.answers import json_object, login_session
from adapters.wechat.http import WeChatClient
from domain.entities import WeChatSession
from domain.errors import (
    InvalidCode,
    UserBlocked,
    WeChatBusy,
    WeChatError,
    WeChatFailure,
    WeChatRateLimited,
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

    errcodes: ClassVar[Mapping[int, type[WeChatFailure]]] = _ERRCODES
    """The platform's errcodes that mean something else than ``WeChatError`` (-1 aside)."""

    @cached_property
    def _url(self) -> URL:
        return URL(self._base + "/sns/jscode2session")

    async def code_to_session(self, code: str) -> WeChatSession:
        body = await self._send(
            "jscode2session",
            "GET",
            self._url,
            params={
                "appid": self._appid,
                "secret": self._secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        data = json_object(body, api="jscode2session", platform=self.platform)
        return _session_from(data, self.errcodes, self.platform)


def _session_from(
    data: dict[str, Any], errcodes: Mapping[int, type[WeChatFailure]], platform: str
) -> WeChatSession:
    errcode = read_errcode(data.get("errcode"), platform=platform)
    if errcode == -1:
        raise WeChatBusy(retry_after=1)
    if errcode:
        failure = errcodes.get(errcode)
        if failure is not None:
            raise failure()
        logger.warning("%s jscode2session answered errcode %d", platform, errcode)
        raise WeChatError(f"{platform} answered errcode {errcode}.")
    return login_session(
        data.get("openid"),
        data.get("session_key"),
        data.get("unionid"),
        platform=platform,
        api="jscode2session",
    )
