"""Douyin's ``POST /api/apps/v2/jscode2session`` (JSON body ``{"appid", "secret", "code",
"anonymous_code"}``; JSON answers ``{"err_no", "err_tips", "log_id", "data"}``, HTTP 200).

Checks in order: body not a JSON object 40014 "bad params"; ``appid`` wrong 40015 "bad appid";
``secret`` wrong 40017 "bad secret"; no ``code`` 40014. Prefixes: ``invalid`` 40018 "bad code"
(also a used or malformed code), ``busy`` -1, ``error`` 40014; ``blocked`` and ``quota`` get
the undocumented 40099 (Douyin documents neither). ``err_no`` is a string for some codes.
Success: ``data`` holds ``session_key``, ``openid``, ``unionid`` (``""`` when none),
``anonymous_openid`` and ``dopenid`` (``""``).
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

import orjson
from aiohttp import web

from adapters.simulator.codes import CLOSING, CodeBook, Route, special, variant

_TIPS = {
    -1: "system error",
    40014: "bad params",
    40015: "bad appid",
    40017: "bad secret",
    40018: "bad code",
    40099: "undocumented error",
}
_PREFIXES = {"invalid": 40018, "busy": -1, "error": 40014, "blocked": 40099, "quota": 40099}


class DouyinSimulator(CodeBook[int]):
    def __init__(self, *, appid: str, secret: str, latency: float = 0.0) -> None:
        super().__init__(appid=appid, latency=latency)
        self.secret = secret

    def routes(self) -> list[Route]:
        return [("POST", "/api/apps/v2/jscode2session", self.answer(self._jscode2session))]

    async def _jscode2session(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            body = None
        body = body if isinstance(body, dict) else {}
        code = body.get("code")
        code = code if isinstance(code, str) else ""
        self.count(code)
        secret = body.get("secret")
        if not body:
            return _error(40014, code)
        if body.get("appid") != self.appid:
            return _error(40015, code)
        if not isinstance(secret, str) or not secrets.compare_digest(
            secret.encode(), self.secret.encode()
        ):
            return _error(40017, code)
        if not code:
            return _error(40014, code)
        scripted = self.scripted(code)
        if scripted is not None:
            return _error(scripted, code)
        failed = await special(
            code,
            request.app[CLOSING],
            error=lambda prefix: _error(_PREFIXES[prefix], code),
            no_key=lambda code: _success({"openid": self.openid_for(code), "session_key": ""}),
        )
        if failed is not None:
            return failed
        if self.take(code) != "ok":
            return _error(40018, code)
        user = code.partition(":")[0]
        return _success(
            {
                "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
                "openid": self.openid_for(user),
                "unionid": self.unionid_for(user) or "",
            }
        )


def _log_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(10).upper()


def _success(data: dict[str, Any]) -> web.Response:
    data = {"anonymous_openid": "", "dopenid": "", **data}
    body = {"err_no": 0, "err_tips": "success", "log_id": _log_id(), "data": data}
    return web.json_response(body, dumps=lambda value: orjson.dumps(value).decode())


def _error(err_no: int, code: str) -> web.Response:
    value: int | str = str(err_no) if variant(code) & 0x80 else err_no
    body = {"err_no": value, "err_tips": _TIPS.get(err_no, "error"), "log_id": _log_id()}
    return web.json_response(body, dumps=lambda value: orjson.dumps(value).decode())
