"""A stand-in for WeChat's server API, for development, tests and benchmarks (aiohttp.web).

It behaves like the real ``GET /sns/jscode2session`` as documented and as observed (see
WECHAT.md): HTTP 200 for errors, JSON labelled ``text/plain``, ``errmsg`` ending with
``rid: xxxxxxxx-xxxxxxxx-xxxxxxxx``, ``errcode`` absent, ``0`` or a string, single-use codes,
a ``session_key`` that rotates on every login.

Code grammar (tests and the README rely on it)
----------------------------------------------
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
``POST /__sim/reset`` (forgets counters, used codes, unionids and scripted failures).

Standalone: ``python -m adapters.wechat.simulator --port 8081 --appid X --secret Y --latency 0.05``
prints ``wechat simulator listening on http://127.0.0.1:8081`` and serves until interrupted.

New endpoints are one handler method plus one line in ``_routes``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import secrets
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from aiohttp import web

DEFAULT_APPID = "wx-simulator"
DEFAULT_SECRET = "simulator-secret"  # noqa: S105 - a simulator's well-known credential
MAX_CODE_LENGTH = 128

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CLOSING = web.AppKey("closing", asyncio.Event)

_ERROR_PREFIXES: dict[str, tuple[int, str]] = {
    "invalid": (40029, "invalid code"),
    "blocked": (40226, "code blocked"),
    "busy": (-1, "system error"),
    "quota": (45011, "api minute-quota reach limit mustslower retry next minute"),
    "error": (40097, "invalid args"),
}

_ERRMSGS: dict[int, str] = {
    -1: "system error",
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


class WeChatSimulator:
    """WeChat's state (apps, used codes) and test hooks; ``make_app()`` serves it."""

    def __init__(
        self, *, appid: str = DEFAULT_APPID, secret: str = DEFAULT_SECRET, latency: float = 0.0
    ) -> None:
        self.appid = appid
        self.secret = secret
        self.latency = latency
        self.calls = 0
        self.code_calls: Counter[str] = Counter()
        self.unionids: dict[str, str] = {}
        self._used: set[str] = set()
        self._scripted: dict[str, list[int]] = {}

    def make_app(self) -> web.Application:
        """A new aiohttp application over this simulator's state (an app runs only once)."""
        app = web.Application()
        app[_CLOSING] = asyncio.Event()
        app.on_shutdown.append(_wake_hanging)
        for method, path, handler in self._routes():
            app.router.add_route(method, path, handler)
        return app

    def _routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/sns/jscode2session", self._wechat(self._jscode2session)),
            ("GET", "/__sim/stats", self._stats),
            ("POST", "/__sim/reset", self._reset),
        ]

    # ---- state --------------------------------------------------------------------------

    def openid_for(self, user: str) -> str:
        return "o" + _digest(f"{self.appid}:{user}")[:27]

    def unionid_for(self, user: str) -> str | None:
        if user in self.unionids:
            return self.unionids[user]
        if user.startswith("u-"):
            return "oU" + _digest(f"unionid:{self.appid}:{user}")[:26]
        return None

    def fail_next(self, code: str, errcode: int, *, times: int = 1) -> None:
        """Answer ``errcode`` to the next ``times`` calls with ``code``, before anything else."""
        self._scripted.setdefault(code, []).extend([errcode] * times)

    def reset(self) -> None:
        self.calls = 0
        self.code_calls.clear()
        self.unionids.clear()
        self._used.clear()
        self._scripted.clear()

    # ---- WeChat endpoints ---------------------------------------------------------------

    def _wechat(self, handler: Handler) -> Handler:
        async def answer(request: web.Request) -> web.StreamResponse:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            return await handler(request)

        return answer

    async def _jscode2session(self, request: web.Request) -> web.StreamResponse:
        self.calls += 1
        query = request.query
        code = query.get("js_code", "")
        if code:
            self.code_calls[code] += 1
        refused = self._check_app(query)
        if refused is not None:
            return _error(refused, code)
        if query.get("grant_type") != "authorization_code":
            return _error(40002, code)
        if not code:
            return _error(41008, code)
        scripted = self._scripted.get(code)
        if scripted:
            return _error(scripted.pop(0), code)
        special = await _special(code, request.app[_CLOSING])
        if special is not None:
            return special
        if not _well_formed(code):
            return _error(40029, code)
        if code in self._used:
            return _error(40163, code)
        self._used.add(code)
        return self._session(code)

    def _check_app(self, query: Mapping[str, str]) -> int | None:
        appid, secret = query.get("appid"), query.get("secret")
        if not appid:
            return 41002
        if appid != self.appid:
            return 40013
        if not secret:
            return 41004
        if not secrets.compare_digest(secret.encode(), self.secret.encode()):
            return 40125
        return None

    def _session(self, code: str) -> web.Response:
        user = code.partition(":")[0]
        body: dict[str, Any] = {
            "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
            "openid": self.openid_for(user),
        }
        unionid = self.unionid_for(user)
        if unionid is not None:
            body["unionid"] = unionid
        variant = _variant(code) % 3
        if variant == 1:
            body["errcode"] = 0
        elif variant == 2:
            body = {"errcode": 0, "errmsg": "ok", **body}
        return _text_json(body)

    # ---- test hooks ---------------------------------------------------------------------

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"calls": self.calls})

    async def _reset(self, _request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"calls": self.calls})


async def _special(code: str, closing: asyncio.Event) -> web.StreamResponse | None:
    for prefix, (errcode, errmsg) in _ERROR_PREFIXES.items():
        if code.startswith(prefix):
            return _error(errcode, code, errmsg)
    if code.startswith("garbage"):
        return web.Response(text="<html>busy</html>", content_type="text/html")
    if code.startswith("http500"):
        return web.Response(status=500, text="Internal Server Error")
    if code.startswith("nokey"):
        return _text_json({"openid": "o" + _digest(code)[:27]})
    if code.startswith("hang"):
        await closing.wait()
        raise web.HTTPServiceUnavailable()
    return None


async def _wake_hanging(app: web.Application) -> None:
    app[_CLOSING].set()


def _well_formed(code: str) -> bool:
    return 0 < len(code) <= MAX_CODE_LENGTH and all("!" <= c <= "~" for c in code)


def _digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode()


def _variant(code: str) -> int:
    """A stable per-code choice among WeChat's body variants."""
    return hashlib.sha256(code.encode()).digest()[0]


def _rid() -> str:
    return f"{int(time.time()):08x}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"


def _error(errcode: int, code: str, errmsg: str | None = None) -> web.Response:
    message = f"{errmsg or _ERRMSGS.get(errcode, 'unknown error')}, rid: {_rid()}"
    value: int | str = str(errcode) if _variant(code) & 0x80 else errcode
    return _text_json({"errcode": value, "errmsg": message})


def _text_json(body: Mapping[str, Any]) -> web.Response:
    """JSON labelled ``text/plain``, as WeChat's ``sns/*`` endpoints do."""
    return web.Response(body=orjson.dumps(body), content_type="text/plain")


@asynccontextmanager
async def run_simulator(
    simulator: WeChatSimulator, *, host: str = "127.0.0.1", port: int = 0
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


async def _serve(args: argparse.Namespace) -> None:
    simulator = WeChatSimulator(appid=args.appid, secret=args.secret, latency=args.latency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with run_simulator(simulator, host=args.host, port=args.port) as url:
        print(f"wechat simulator listening on {url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the WeChat API simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--appid", default=DEFAULT_APPID)
    parser.add_argument("--secret", default=DEFAULT_SECRET)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
