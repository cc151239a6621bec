"""Reading WeChat's answers leniently, shared by every platform adapter (the others' answers
are as loose: JSON under any ``Content-Type``, error codes as numbers or strings).

WeChat labels JSON ``text/plain`` (or ``application/json; encoding=utf-8``), sometimes with a
UTF-8 BOM; ``errcode`` may be absent, ``0``, ``null`` or a numeric string; ``errmsg`` ends with a
request id (``rid: …`` or ``hints: [ req_id: … ]``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson

from domain.errors import WeChatError

logger = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
_REQUEST_ID = re.compile(r"[\s,;]*(?:rid:\s*\S+|hints?:\s*\[[^\]]*\])\s*$")


def json_object(body: bytes, *, api: str, platform: str = "WeChat") -> dict[str, Any]:
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
