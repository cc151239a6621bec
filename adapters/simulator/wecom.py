"""WeCom's ``GET /cgi-bin/gettoken`` and ``GET /cgi-bin/miniprogram/jscode2session``.

- ``gettoken?corpid=&corpsecret=``: 40013 for another corpid, 40001 for a wrong secret; else the
  corp's token, the same one while it lives (``token_lifetime``, 7200 s), counted in
  ``token_fetches``. ``expire_access_token()`` revokes it (40014 on its next use);
  ``advance(seconds)`` moves the clock (42001 once it is past its expiry).
- ``jscode2session?access_token=&js_code=&grant_type=authorization_code``: token missing 41001,
  unknown 40014, expired 42001; then the shared code grammar: ``invalid`` (and used or
  malformed codes) 40029, ``busy`` -1, ``quota`` 45009, ``blocked`` 48002 "api forbidden",
  ``error`` 60020 (not from a trusted IP); and ``othercorp`` answers another corp's user.
  ``errmsg`` ends like WeCom's: ``, hint: [...], from ip: ..., more info at ...``.
- Success: ``{"errcode": 0, "errmsg": "ok", "corpid", "userid", "session_key"}``.
"""

from __future__ import annotations

import base64
import secrets
import time

from aiohttp import web

from adapters.simulator.codes import CLOSING, CodeBook, Route, digest, special

_ERRMSGS = {
    -1: "system busy",
    40001: "invalid secret",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40029: "invalid code",
    41001: "access_token missing",
    42001: "access_token expired",
    45009: "api freq out of limit",
    48002: "api forbidden",
    60020: "not allow to access from your ip",
}
_PREFIXES = {"invalid": 40029, "busy": -1, "quota": 45009, "blocked": 48002, "error": 60020}


class WeComSimulator(CodeBook[int]):
    def __init__(
        self, *, corpid: str, secret: str, latency: float = 0.0, token_lifetime: float = 7200.0
    ) -> None:
        super().__init__(appid=corpid, latency=latency)
        self.secret = secret
        self.token_lifetime = token_lifetime
        self.token_fetches = 0
        self._token: tuple[str, float] | None = None
        self._offset = 0.0

    def openid_for(self, user: str) -> str:
        """WeCom's ``userid`` of ``user`` in this corp."""
        return "wu" + digest(f"{self.appid}:{user}")[:14]

    def expire_access_token(self) -> None:
        self._token = None

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    def reset(self) -> None:
        super().reset()
        self.token_fetches = 0
        self._token = None

    def routes(self) -> list[Route]:
        return [
            ("GET", "/cgi-bin/gettoken", self.answer(self._gettoken)),
            ("GET", "/cgi-bin/miniprogram/jscode2session", self.answer(self._jscode2session)),
        ]

    async def _gettoken(self, request: web.Request) -> web.StreamResponse:
        self.token_fetches += 1
        secret = request.query.get("corpsecret", "")
        if request.query.get("corpid") != self.appid:
            return _error(40013)
        if not secrets.compare_digest(secret.encode(), self.secret.encode()):
            return _error(40001)
        now = time.time() + self._offset
        if self._token is None or self._token[1] <= now:
            self._token = (secrets.token_urlsafe(48), now + self.token_lifetime)
        value, expires_at = self._token
        return _json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "access_token": value,
                "expires_in": max(1, int(expires_at - now)),
            }
        )

    async def _jscode2session(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        code = query.get("js_code", "")
        self.count(code)
        token = query.get("access_token")
        if not token:
            return _error(41001)
        if self._token is None or not secrets.compare_digest(token, self._token[0]):
            return _error(40014)
        if self._token[1] <= time.time() + self._offset:
            return _error(42001)
        scripted = self.scripted(code)
        if scripted is not None:
            return _error(scripted)
        failed = await special(
            code,
            request.app[CLOSING],
            error=lambda prefix: _error(_PREFIXES[prefix]),
            no_key=lambda code: self._session(code, session_key=None),
        )
        if failed is not None:
            return failed
        if self.take(code) != "ok":
            return _error(40029)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        return self._session(code, session_key=key)

    def _session(self, code: str, *, session_key: str | None) -> web.Response:
        user = code.partition(":")[0]
        corpid = "ww-another-corp" if code.startswith("othercorp") else self.appid
        body = {"errcode": 0, "errmsg": "ok", "corpid": corpid, "userid": self.openid_for(user)}
        if session_key is not None:
            body["session_key"] = session_key
        return _json(body)


def _error(errcode: int) -> web.Response:
    hint = f"{int(time.time())}{secrets.token_hex(6)}"
    errmsg = (
        f"{_ERRMSGS.get(errcode, 'error')}, hint: [{hint}], from ip: 127.0.0.1, "
        f"more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"
    )
    return _json({"errcode": errcode, "errmsg": errmsg})


def _json(body: dict[str, object]) -> web.Response:
    return web.json_response(body)
