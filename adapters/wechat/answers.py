"""Reading WeChat's answers leniently, shared by every platform adapter (the others' answers
are as loose: JSON under any ``Content-Type``, error codes as numbers or strings).

WeChat labels JSON ``text/plain`` (or ``application/json; encoding=utf-8``), sometimes with a
UTF-8 BOM; ``errcode`` may be absent, ``0``, ``null`` or a numeric string; ``errmsg`` ends with a
request id (``rid: …`` or ``hints: [ req_id: … ]``).
"""

from __future__ import annotations

import logging
import re

import orjson

from domain.entities import WeChatSession
from domain.errors import WeChatError

logger = logging.getLogger(__name__)

JsonObject = dict[str, object]
"""A JSON object as WeChat sent it: each value is checked where it is read."""

_BOM = b"\xef\xbb\xbf"
_REQUEST_ID = re.compile(r"[\s,;]*(?:rid:\s*\S+|hints?:\s*\[[^\]]*\])\s*$")


def json_object(body: bytes, *, api: str, platform: str = "WeChat") -> JsonObject:
    """The body as a JSON object whatever its ``Content-Type``, else ``WeChatError``."""
    try:
        data = orjson.loads(body.removeprefix(_BOM))
    except orjson.JSONDecodeError:
        logger.warning("%s %s answered a non-JSON body (%d bytes)", platform, api, len(body))
        raise WeChatError(f"{platform} answered a body that is not JSON.") from None
    if not isinstance(data, dict):
        raise WeChatError(f"{platform} answered JSON that is not an object.")
    return data


def errcode(value: object, *, platform: str = "WeChat") -> int:
    """``errcode`` as an int: absent, null and ``""`` mean 0; numeric strings are accepted."""
    if value is None or value == "":
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise WeChatError(f"{platform} answered an unreadable error code.")


def errmsg_without_request_id(value: object) -> str:
    """WeChat's ``errmsg`` without the request id at its end (repeatedly: ``hint: [...] rid:``)."""
    text = value if isinstance(value, str) else ""
    while True:
        shorter = _REQUEST_ID.sub("", text)
        if shorter == text:
            return text.strip()
        text = shorter


def login_session(
    user_id: object,
    session_key: object,
    unionid: object,
    *,
    platform: str,
    api: str,
    note: str = "",
) -> WeChatSession:
    """The login a platform answered: its user id and ``session_key`` must be non-empty strings
    (else ``WeChatError``, logged with ``note``, e.g. a log id); an absent or empty ``unionid``
    is ``None``. A platform without session keys passes ``session_key=NO_SESSION_KEY``."""
    has_key = session_key is NO_SESSION_KEY or (isinstance(session_key, str) and session_key)
    if not (isinstance(user_id, str) and user_id and has_key):
        logger.warning("%s %s answered no user id or session_key%s", platform, api, note)
        raise WeChatError(f"{platform}'s answer lacks the user id or the session_key.")
    return WeChatSession(
        openid=user_id,
        session_key=session_key if isinstance(session_key, str) else "",
        unionid=unionid if isinstance(unionid, str) and unionid else None,
    )


NO_SESSION_KEY = object()
"""``login_session``'s ``session_key`` for a platform that has none (Alipay): it is ``""``."""
