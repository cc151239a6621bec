"""``WeChatGateway`` for QQ mini-programs: ``GET {api_base}/sns/jscode2session``.

QQ's login API is WeChat's in shape (query ``appid``, ``secret``, ``js_code``, ``grant_type``;
``openid``, ``session_key``, ``unionid``; ``errcode``/``errmsg`` with HTTP 200), on its own host
``https://api.q.qq.com``. Only its documented codes mean more than a platform error: ``-1`` busy,
``40029`` invalid code, ``45011`` the per-user minute quota. ``40163`` (code used) is WeChat's
and assumed for QQ. QQ documents no blocked-user code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from adapters.wechat.gateway import AiohttpWeChatGateway
from domain.errors import InvalidCode, WeChatFailure, WeChatRateLimited

_ERRCODES: dict[int, type[WeChatFailure]] = {
    40029: InvalidCode,
    40163: InvalidCode,
    45011: WeChatRateLimited,
}


class AiohttpQQGateway(AiohttpWeChatGateway):
    """WeChat's gateway with QQ's error codes; ``base_url`` is QQ's API root (or the
    simulator's ``/qq``)."""

    platform = "QQ"
    errcodes: ClassVar[Mapping[int, type[WeChatFailure]]] = _ERRCODES
