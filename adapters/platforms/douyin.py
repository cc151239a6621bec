"""``WeChatGateway`` for Douyin (Toutiao) mini-programs:
``POST {api_base}/api/apps/v2/jscode2session``.

The request is a JSON body ``{"appid", "secret", "code", "anonymous_code"}``; the answer
``{"err_no", "err_tips", "log_id", "data": {"session_key", "openid", "anonymous_openid",
"unionid"}}``, unset fields ``""``. ``err_no`` is read as leniently as WeChat's ``errcode``.
Codes: ``40018`` (bad code: invalid, used or expired) and ``40019`` (bad anonymous code) are an
invalid code; ``-1`` and ``28001005`` busy; every other one a platform error, logged with the
answer's ``log_id``. Douyin documents no rate-limit or blocked-user code.
"""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

import orjson
from yarl import URL

from adapters.wechat.answers import errcode as read_errcode
from adapters.wechat.answers import json_object, login_session
from adapters.wechat.http import WeChatClient
from domain.entities import WeChatSession
from domain.errors import InvalidCode, WeChatBusy, WeChatError, WeChatFailure
from domain.ports import WeChatGateway

logger = logging.getLogger(__name__)

_ERR_NOS: dict[int, type[WeChatFailure]] = {40018: InvalidCode, 40019: InvalidCode}
_BUSY = frozenset({-1, 28001005})
_JSON = {"Content-Type": "application/json"}


class AiohttpDouyinGateway(WeChatClient, WeChatGateway):
    """Exchanges a ``tt.login`` code once; see the module's docstring for the mapping."""

    platform = "Douyin"

    @cached_property
    def _url(self) -> URL:
        return URL(self._base + "/api/apps/v2/jscode2session")

    async def code_to_session(self, code: str) -> WeChatSession:
        request = {"appid": self._appid, "secret": self._secret, "code": code, "anonymous_code": ""}
        body = await self._send(
            "jscode2session", "POST", self._url, data=orjson.dumps(request), headers=_JSON
        )
        return _session_from(json_object(body, api="jscode2session", platform=self.platform))


def _session_from(answer: dict[str, Any]) -> WeChatSession:
    err_no = read_errcode(answer.get("err_no"), platform="Douyin")
    log_id = answer.get("log_id")
    if err_no in _BUSY:
        raise WeChatBusy(retry_after=1)
    if err_no:
        failure = _ERR_NOS.get(err_no)
        if failure is not None:
            raise failure()
        logger.warning("Douyin jscode2session answered err_no %d (log_id %s)", err_no, log_id)
        raise WeChatError(f"Douyin answered err_no {err_no}.")
    data = answer.get("data")
    data = data if isinstance(data, dict) else {}
    return login_session(
        data.get("openid"),
        data.get("session_key"),
        data.get("unionid"),
        platform="Douyin",
        api="jscode2session",
        note=f" (log_id {log_id})",
    )
