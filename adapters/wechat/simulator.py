"""A stand-in for WeChat's server API, for development, tests and benchmarks (aiohttp.web).

It behaves like the real ``GET /sns/jscode2session`` as documented and as observed: HTTP 200
for errors, JSON labelled ``text/plain``, ``errmsg`` ending with
``rid: xxxxxxxx-xxxxxxxx-xxxxxxxx``, ``errcode`` absent, ``0`` or a string, single-use codes,
a ``session_key`` that rotates on every login.

Code grammar (tests and the README rely on it)
----------------------------------------------
The grammar every platform of the simulator shares (``adapters/simulator/codes.py``):

- Any code of 1-128 printable ASCII characters (``!`` .. ``~``) is valid once; sent again it gets
  40163 "code been used". Other codes get 40029.
- The *user part* is the text before the first ``:`` (the whole code when there is none):
  ``alice:1`` and ``alice:2`` are two codes of the user ``alice``.
- openid = ``"o" + urlsafe_b64(sha256(appid + ":" + user))[:27]`` (28 characters, stable per app
  and user); ``session_key`` = base64 of 16 fresh random bytes (24 characters), new each time.
- ``unionid`` is given when the user part starts with ``u-`` (stable: ``"oU"`` + 26 characters
  derived like the openid), or when the test set ``simulator.unionids[user]``.
- Codes starting with these prefixes fail, every time (they are never used up):

  ============  ==========================================================
  ``invalid``   40029 "invalid code"
  ``blocked``   40226 "code blocked"
  ``busy``      -1 "system error"
  ``quota``     45011 "api minute-quota reach limit mustslower retry next minute"
  ``error``     40097 "invalid args" (an errcode jscode2session does not document)
  ``garbage``   HTTP 200 with the non-JSON body ``<html>busy</html>``
  ``http500``   HTTP 500
  ``nokey``     HTTP 200, JSON with an openid but no ``session_key``
  ``hang``      never answers (until the client goes away or the server stops)
  ============  ==========================================================

- ``simulator.fail_next(code, errcode)`` makes the next call(s) with ``code`` answer ``errcode``
  (e.g. ``-1`` once, then the code works: WeChat's -1 does not use the code up).
- Whether a success carries ``errcode`` (absent / ``0`` / ``0`` + ``"ok"``) and whether an error's
  ``errcode`` is a number or a string is fixed per code by a hash: clients must accept them all.

Request checks, in WeChat's order: ``appid`` missing 41002, wrong 40013; ``secret`` missing
41004, wrong 40125; ``grant_type`` not ``authorization_code`` 40002; ``js_code`` missing 41008.

Test hooks: ``latency`` (seconds added to every WeChat answer), ``calls`` (``jscode2session``
calls), ``code_calls`` (per code); over HTTP ``GET /__sim/stats`` → ``{"calls": N}`` and
``POST /__sim/reset`` (forgets counters, used codes, unionids, scripted failures and the platform
state below: tokens, session keys, templates, subscriptions, sent messages).

Platform endpoints (they need an ``access_token``; JSON labelled
``application/json; encoding=utf-8``; ``errcode`` always a number)
------------------------------------------------------------------------------------------------
- ``POST /cgi-bin/stable_token`` (JSON body only: else 47001; GET 43002): the same token while it
  has more than ``token_rotate_before`` seconds left, with the remaining ``expires_in``; then a new
  one (the old one stays valid until its own expiry). Tokens live ``token_lifetime`` seconds
  (7200). ``force_refresh: true`` revokes the current token at once. Every call counts in
  ``token_fetches``. The app checks are those of ``jscode2session`` (grant_type
  ``client_credential``).
- Token checks on the others: missing 41001, unknown or revoked 40001, expired 42001.
  ``expire_access_token()`` revokes the current token (40001 on its next use; the next
  ``stable_token`` gives a new one); ``advance(seconds)`` moves the simulator's clock (42001).
- ``POST /wxa/business/getuserphonenumber`` (JSON ``{"code"}``; a form body is 47001): codes
  ``phone-<digits>`` give that number in China (86), ``phone-<cc>-<digits>`` one abroad; each
  works once, then 40029; ``busy…`` -1 (not used up); anything else 40029.
- ``GET /wxa/checksession``: 0 when ``signature`` is the hex HMAC-SHA256 of ``""`` keyed by the
  newest ``session_key`` the simulator issued for ``openid`` (``sig_method=hmac_sha256``), else
  87009. A newer login of the user invalidates the older key.
- ``POST /cgi-bin/message/subscribe/send``: 40003 for a ``touser`` that is not an openid of the
  simulator's form; 40037 for a template not in ``templates`` (template id -> field names); 47003
  "argument invalid! data.<field>.value invalid" for a missing field, a ``thing*`` over 20
  characters, a ``number*`` over 32 digits or a ``letter*`` over 32 letters (also a bad
  ``miniprogram_state`` or ``lang``); 41030 for a page outside ``pages`` when that is set; 43101
  unless ``(openid, template_id)`` is in ``subscriptions`` (each entry allows ONE message, then is
  gone). Sent bodies are recorded in ``sent``.
- ``GET /__sim/platform`` -> ``{"token_fetches": N, "sent": M}``.

Standalone: ``python -m adapters.wechat.simulator --port 8081 --appid X --secret Y --latency 0.05``
serves every platform (``adapters/simulator/server.py``, see there for the other platforms'
options), prints ``wechat simulator listening on http://127.0.0.1:8081`` and then the Alipay
public key, and serves until interrupted.

New endpoints are one handler method plus one line in ``_routes``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

import orjson
from aiohttp import web

from adapters.simulator.codes import (
    CLOSING,
    CodeBook,
    Handler,
    Route,
    application,
    special,
    variant,
)

DEFAULT_APPID = "wx-simulator"
DEFAULT_SECRET = "simulator-secret"  # noqa: S105 - a simulator's well-known credential

__all__ = ["Handler", "WeChatSimulator", "run_simulator"]

_PHONE_CODE = re.compile(r"phone-(?:(?P<country>[1-9][0-9]{0,3})-)?(?P<pure>[0-9]{4,15})")
_OPENID = re.compile(r"o[A-Za-z0-9_-]{27}")
_STATES = frozenset({"formal", "trial", "developer"})
_LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})

_ERROR_PREFIXES: dict[str, tuple[int, str]] = {
    "invalid": (40029, "invalid code"),
    "blocked": (40226, "code blocked"),
    "busy": (-1, "system error"),
    "quota": (45011, "api minute-quota reach limit mustslower retry next minute"),
    "error": (40097, "invalid args"),
}

_ERRMSGS: dict[int, str] = {
    -1: "system error",
    40001: (
        "invalid credential, access_token is invalid or not latest, could get access_token by "
        "getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r"
    ),
    40003: "invalid openid",
    40037: "invalid template_id",
    41001: "access_token missing",
    41030: "invalid page",
    42001: "access_token expired",
    43002: "require POST method",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    47001: "data format error",
    87009: "invalid signature",
    40002: "invalid grant_type",
    40013: "invalid appid",
    40029: "invalid code",
    40125: "invalid appsecret",
    40163: "code been used",
    40226: "code blocked",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    45011: "api minute-quota reach limit mustslower retry next minute",
}


class WeChatSimulator(CodeBook[int]):
    """WeChat's state (apps, used codes) and test hooks; ``make_app()`` serves it."""

    def __init__(
        self,
        *,
        appid: str = DEFAULT_APPID,
        secret: str = DEFAULT_SECRET,
        latency: float = 0.0,
        token_lifetime: float = 7200.0,
        token_rotate_before: float = 300.0,
    ) -> None:
        super().__init__(appid=appid, latency=latency)
        self.secret = secret
        self.token_lifetime = token_lifetime
        self.token_rotate_before = token_rotate_before
        self.token_fetches = 0
        self.session_keys: dict[str, str] = {}
        """The newest ``session_key`` issued per openid."""
        self.templates: dict[str, set[str]] = {}
        self.subscriptions: set[tuple[str, str]] = set()
        self.pages: set[str] | None = None
        self.sent: list[dict[str, Any]] = []
        self._time_offset = 0.0
        self._access_tokens: dict[str, float] = {}
        self._current_token: str | None = None
        self._used_phone_codes: set[str] = set()

    def make_app(self) -> web.Application:
        """A new aiohttp application over this simulator's state (an app runs only once)."""
        return application(self._routes())

    def login_route(self, prefix: str = "") -> Route:
        """``GET {prefix}/sns/jscode2session`` (QQ's is WeChat's, under its own prefix)."""
        return ("GET", prefix + "/sns/jscode2session", self._wechat(self._jscode2session))

    def api_routes(self) -> list[Route]:
        """WeChat's API, without the test hooks."""
        return [
            self.login_route(),
            ("POST", "/cgi-bin/stable_token", self._wechat(self._stable_token)),
            ("POST", "/wxa/business/getuserphonenumber", self._wechat(self._phone_number)),
            ("GET", "/wxa/checksession", self._wechat(self._check_session)),
            ("POST", "/cgi-bin/message/subscribe/send", self._wechat(self._subscribe_send)),
            ("GET", "/cgi-bin/stable_token", self._wechat(_require_post)),
            ("GET", "/wxa/business/getuserphonenumber", self._wechat(_require_post)),
            ("GET", "/cgi-bin/message/subscribe/send", self._wechat(_require_post)),
        ]

    def _routes(self) -> list[Route]:
        return [
            *self.api_routes(),
            ("GET", "/__sim/stats", self._stats),
            ("GET", "/__sim/platform", self._platform_stats),
            ("POST", "/__sim/reset", self._reset),
        ]

    # ---- state --------------------------------------------------------------------------

    def expire_access_token(self) -> None:
        """Revoke the current access token: 40001 on its next use, a new one on the next fetch."""
        if self._current_token is not None:
            self._access_tokens.pop(self._current_token, None)
            self._current_token = None

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock (token expiry) forward."""
        self._time_offset += seconds

    def now(self) -> float:
        return time.time() + self._time_offset

    def reset(self) -> None:
        super().reset()
        self.token_fetches = 0
        self.session_keys.clear()
        self.templates.clear()
        self.subscriptions.clear()
        self.pages = None
        self.sent.clear()
        self._access_tokens.clear()
        self._current_token = None
        self._used_phone_codes.clear()

    # ---- WeChat endpoints ---------------------------------------------------------------

    def _wechat(self, handler: Handler) -> Handler:
        return self.answer(handler)

    async def _jscode2session(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        code = query.get("js_code", "")
        self.count(code)
        refused = self._check_app(query)
        if refused is not None:
            return _error(refused, code)
        if query.get("grant_type") != "authorization_code":
            return _error(40002, code)
        if not code:
            return _error(41008, code)
        scripted = self.scripted(code)
        if scripted is not None:
            return _error(scripted, code)
        failed = await special(
            code,
            request.app[CLOSING],
            error=lambda prefix: _error(
                _ERROR_PREFIXES[prefix][0], code, _ERROR_PREFIXES[prefix][1]
            ),
            no_key=lambda code: _text_json({"openid": self.openid_for("nokey:" + code)}),
        )
        if failed is not None:
            return failed
        taken = self.take(code)
        if taken != "ok":
            return _error(40163 if taken == "used" else 40029, code)
        return self._session(code)

    def _check_app(self, query: Mapping[str, object]) -> int | None:
        appid, secret = query.get("appid"), query.get("secret")
        if not appid:
            return 41002
        if appid != self.appid:
            return 40013
        if not secret or not isinstance(secret, str):
            return 41004
        if not secrets.compare_digest(secret.encode(), self.secret.encode()):
            return 40125
        return None

    def _session(self, code: str) -> web.Response:
        user = code.partition(":")[0]
        openid = self.openid_for(user)
        session_key = base64.b64encode(secrets.token_bytes(16)).decode()
        body: dict[str, object] = {"session_key": session_key, "openid": openid}
        self.session_keys[openid] = session_key
        unionid = self.unionid_for(user)
        if unionid is not None:
            body["unionid"] = unionid
        chosen = variant(code) % 3
        if chosen == 1:
            body["errcode"] = 0
        elif chosen == 2:
            body = {"errcode": 0, "errmsg": "ok", **body}
        return _text_json(body)

    # ---- platform endpoints (need an access_token) -------------------------------------

    async def _stable_token(self, request: web.Request) -> web.StreamResponse:
        self.token_fetches += 1
        body, refused = await _json_body(request)
        if body is None:
            return _platform_error(refused)
        app_refused = self._check_app(body)
        if app_refused is not None:
            return _platform_error(app_refused)
        if body.get("grant_type") != "client_credential":
            return _platform_error(40002)
        now = self.now()
        current = self._current_token
        if body.get("force_refresh") is True and current is not None:
            self._access_tokens.pop(current, None)
            current = None
        if current is None or self._access_tokens[current] - now <= self.token_rotate_before:
            current = secrets.token_urlsafe(96)
            self._access_tokens[current] = now + self.token_lifetime
            self._current_token = current
        expires_in = max(1, int(self._access_tokens[current] - now))
        return _platform_json({"access_token": current, "expires_in": expires_in})

    def _token_error(self, request: web.Request) -> int | None:
        token = request.query.get("access_token")
        if not token:
            return 41001
        expires_at = self._access_tokens.get(token)
        if expires_at is None:
            return 40001
        if expires_at <= self.now():
            return 42001
        return None

    async def _phone_number(self, request: web.Request) -> web.StreamResponse:
        refused = self._token_error(request)
        if refused is not None:
            return _platform_error(refused)
        body, refused = await _json_body(request)
        if body is None:
            return _platform_error(refused)
        code = body.get("code")
        if not isinstance(code, str) or code.startswith("invalid"):
            return _platform_error(40029, "invalid code")
        if code.startswith("busy"):
            return _platform_error(-1)
        match = _PHONE_CODE.fullmatch(code)
        if match is None or code in self._used_phone_codes:
            return _platform_error(40029, "invalid code")
        self._used_phone_codes.add(code)
        country, pure = match["country"] or "86", match["pure"]
        info = {
            "phoneNumber": pure if country == "86" else f"+{country}{pure}",
            "purePhoneNumber": pure,
            "countryCode": int(country) if variant(code) & 1 else country,
            "watermark": {"timestamp": int(self.now()), "appid": self.appid},
        }
        return _platform_json({"errcode": 0, "errmsg": "ok", "phone_info": info})

    async def _check_session(self, request: web.Request) -> web.StreamResponse:
        refused = self._token_error(request)
        if refused is not None:
            return _platform_error(refused)
        query = request.query
        openid, signature = query.get("openid", ""), query.get("signature", "")
        if not openid:
            return _platform_error(40003)
        session_key = self.session_keys.get(openid)
        if session_key is None or query.get("sig_method") != "hmac_sha256":
            return _platform_error(87009)
        expected = hmac.new(session_key.encode(), b"", hashlib.sha256).hexdigest()
        if not secrets.compare_digest(expected.encode(), signature.encode()):
            return _platform_error(87009)
        return _platform_json({"errcode": 0, "errmsg": "ok"})

    async def _subscribe_send(self, request: web.Request) -> web.StreamResponse:
        refused = self._token_error(request)
        if refused is not None:
            return _platform_error(refused)
        body, refused = await _json_body(request)
        if body is None:
            return _platform_error(refused)
        refused_with = self._check_message(body)
        if refused_with is not None:
            return _platform_error(*refused_with)
        subscription = (body["touser"], body["template_id"])
        if subscription not in self.subscriptions:
            return _platform_error(43101)
        self.subscriptions.discard(subscription)
        self.sent.append(body)
        return _platform_json({"errcode": 0, "errmsg": "ok", "msgid": len(self.sent)})

    def _check_message(self, body: Mapping[str, object]) -> tuple[int, str | None] | None:
        touser = body.get("touser")
        if not isinstance(touser, str) or _OPENID.fullmatch(touser) is None:
            return 40003, None
        template_id = body.get("template_id")
        fields = self.templates.get(template_id) if isinstance(template_id, str) else None
        if fields is None:
            return 40037, None
        data = body.get("data")
        data = data if isinstance(data, dict) else {}
        for name in sorted(fields):
            entry = data.get(name)
            value = entry.get("value") if isinstance(entry, dict) else None
            if not isinstance(value, str) or not _value_fits(name, value):
                return 47003, f"argument invalid! data.{name}.value invalid"
        for name, allowed in (("miniprogram_state", _STATES), ("lang", _LANGS)):
            if name in body and body[name] not in allowed:
                return 47003, f"argument invalid! {name} invalid"
        page = body.get("page")
        if (page is not None and self.pages is not None) and (
            not isinstance(page, str) or page.partition("?")[0] not in self.pages
        ):
            return 41030, None
        return None

    # ---- test hooks ---------------------------------------------------------------------

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"calls": self.calls})

    async def _platform_stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"token_fetches": self.token_fetches, "sent": len(self.sent)})

    async def _reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"calls": self.calls})


def _rid() -> str:
    return f"{int(time.time()):08x}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


def _error(errcode: int, code: str, errmsg: str | None = None) -> web.Response:
    message = f"{errmsg or _ERRMSGS.get(errcode, 'unknown error')}, rid: {_rid()}"
    value: int | str = str(errcode) if variant(code) & 0x80 else errcode
    return _text_json({"errcode": value, "errmsg": message})


async def _json_body(request: web.Request) -> tuple[dict[str, object] | None, int]:
    """The request's JSON object, or ``None`` and WeChat's errcode: 44002 empty, 47001 not JSON."""
    raw = await request.read()
    if not raw.strip():
        return None, 44002
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, 47001
    return (body, 0) if isinstance(body, dict) else (None, 47001)


async def _require_post(_request: web.Request) -> web.StreamResponse:
    return _platform_error(43002)


def _value_fits(name: str, value: str) -> bool:
    """WeChat's value rules by field type (the name without its digits)."""
    kind = name.rstrip("0123456789")
    if kind == "thing":
        return 0 < len(value) <= 20
    if kind == "number":
        return 0 < len(value) <= 32 and value.replace(".", "", 1).isdigit()
    if kind == "letter":
        return 0 < len(value) <= 32 and value.isascii() and value.isalpha()
    return 0 < len(value) <= 200


def _platform_error(errcode: int, errmsg: str | None = None) -> web.Response:
    message = f"{errmsg or _ERRMSGS.get(errcode, 'unknown error')} rid: {_rid()}"
    return _platform_json({"errcode": errcode, "errmsg": message})


def _platform_json(body: Mapping[str, object]) -> web.Response:
    """JSON labelled as WeChat's ``cgi-bin`` endpoints label it."""
    return web.Response(
        body=orjson.dumps(body), headers={"Content-Type": "application/json; encoding=utf-8"}
    )


def _text_json(body: Mapping[str, object]) -> web.Response:
    """JSON labelled ``text/plain``, as WeChat's ``sns/*`` endpoints do."""
    return web.Response(body=orjson.dumps(body), content_type="text/plain")


class Servable(Protocol):
    def make_app(self) -> web.Application: ...


@asynccontextmanager
async def run_simulator(
    simulator: Servable, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve ``simulator`` on ``host:port`` (0: a free port); yield its base URL."""
    runner = web.AppRunner(
        simulator.make_app(),
        access_log=None,  # the request line holds the secret and the code
        handler_cancellation=True,  # a client that gives up ends a ``hang``
        shutdown_timeout=1.0,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        yield f"http://{host}:{bound_port}"
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Serve every platform's simulator (see ``adapters/simulator/server.py``)."""
    from adapters.simulator.server import main as serve_all  # noqa: PLC0415 - it imports this

    serve_all(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
