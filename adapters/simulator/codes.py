"""The login-code grammar every platform of the simulator shares, and its scripted failures.

- A code of 1-128 printable ASCII characters is valid once; sent again it is "code used" in
  the platform's words; other codes are invalid.
- The *user part* is the text before the first ``:`` (``alice:1`` and ``alice:2`` are two codes
  of ``alice``); the user's id is derived from the app and the user part, stable.
- A code whose user part ends with ``@<appid>`` was issued to that app (``alice@wx123:1``): any
  other app's simulator answers it as invalid, as the platforms do a code of another app.
- A unionid is given when the user part starts with ``u-``, or when ``unionids[user]`` is set.
- Codes starting with these prefixes fail every time (never used up), each platform answering
  them in its own format: ``invalid``, ``blocked``, ``busy``, ``quota``, ``error`` (an error
  code the login API does not document), ``garbage`` (HTTP 200, ``<html>busy</html>``),
  ``http500`` (HTTP 500), ``nokey`` (a user id but no ``session_key``; for Alipay, no user id),
  ``hang`` (no answer until the client goes away or the server stops).
- ``fail_next(code, error)`` answers ``error`` to the next call(s) with ``code`` first.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from aiohttp import web

from domain.codes import is_well_formed_code

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]
E = TypeVar("E")

CLOSING = web.AppKey("closing", asyncio.Event)
FAILURES = ("invalid", "blocked", "busy", "quota", "error")


class CodeBook(Generic[E]):
    """One app's codes on one platform: used codes, calls, scripted failures (of type ``E``,
    the platform's error code), unionids, and the latency added to every answer."""

    def __init__(self, *, appid: str, latency: float = 0.0) -> None:
        self.appid = appid
        self.latency = latency
        self.calls = 0
        self.code_calls: Counter[str] = Counter()
        self.unionids: dict[str, str] = {}
        self._used: set[str] = set()
        self._scripted: dict[str, list[E]] = {}

    def openid_for(self, user: str) -> str:
        return "o" + digest(f"{self.appid}:{user}")[:27]

    def unionid_for(self, user: str) -> str | None:
        if user in self.unionids:
            return self.unionids[user]
        if user.startswith("u-"):
            return "oU" + digest(f"unionid:{self.appid}:{user}")[:26]
        return None

    def fail_next(self, code: str, error: E, *, times: int = 1) -> None:
        """Answer ``error`` to the next ``times`` calls with ``code``, before anything else."""
        self._scripted.setdefault(code, []).extend([error] * times)

    def reset(self) -> None:
        self.calls = 0
        self.code_calls.clear()
        self.unionids.clear()
        self._used.clear()
        self._scripted.clear()

    def count(self, code: str) -> None:
        self.calls += 1
        if code:
            self.code_calls[code] += 1

    def scripted(self, code: str) -> E | None:
        queue = self._scripted.get(code)
        return queue.pop(0) if queue else None

    def issued_here(self, code: str) -> bool:
        """Whether the code was issued to this app: it names no app, or this one."""
        user, at, appid = code.partition(":")[0].rpartition("@")
        return not at or not user or appid == self.appid

    def take(self, code: str) -> str:
        """``"ok"`` (and the code is used up), ``"used"`` or ``"invalid"``."""
        if not is_well_formed_code(code) or not self.issued_here(code):
            return "invalid"
        if code in self._used:
            return "used"
        self._used.add(code)
        return "ok"

    def answer(self, handler: Handler) -> Handler:
        """``handler`` after the simulator's ``latency``."""

        async def delayed(request: web.Request) -> web.StreamResponse:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            return await handler(request)

        return delayed


async def special(
    code: str,
    closing: asyncio.Event,
    *,
    error: Callable[[str], web.StreamResponse],
    no_key: Callable[[str], web.StreamResponse],
) -> web.StreamResponse | None:
    """The scripted answer of a failure prefix, or ``None``: ``error(prefix)`` for the error
    prefixes and ``no_key(code)`` for ``nokey`` are the platform's."""
    for prefix in FAILURES:
        if code.startswith(prefix):
            return error(prefix)
    if code.startswith("garbage"):
        return web.Response(text="<html>busy</html>", content_type="text/html")
    if code.startswith("http500"):
        return web.Response(status=500, text="Internal Server Error")
    if code.startswith("nokey"):
        return no_key(code)
    if code.startswith("hang"):
        await closing.wait()
        raise web.HTTPServiceUnavailable()
    return None


def application(routes: Sequence[Route]) -> web.Application:
    """An aiohttp application serving ``routes``; stopping it ends every ``hang``."""
    app = web.Application()
    app[CLOSING] = asyncio.Event()
    app.on_shutdown.append(_wake_hanging)
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    return app


async def _wake_hanging(app: web.Application) -> None:
    app[CLOSING].set()


def digest(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode()


def variant(code: str) -> int:
    """A stable per-code choice among a platform's body variants."""
    return hashlib.sha256(code.encode()).digest()[0]
