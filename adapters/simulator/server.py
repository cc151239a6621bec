"""Every platform's simulator in one aiohttp application, at the real APIs' paths.

=========  ==============================================  ============================
platform   paths                                           the app's ``api_base``
=========  ==============================================  ============================
WeChat     ``/sns/jscode2session``, ``/cgi-bin/stable_token``, ``/wxa/...``  ``http://host:port``
QQ         ``/qq/sns/jscode2session``                      ``http://host:port/qq``
Douyin     ``/api/apps/v2/jscode2session``                 ``http://host:port``
Alipay     ``/gateway.do`` (and ``/alipay/public-key``)    ``http://host:port``
WeCom      ``/cgi-bin/gettoken``, ``/cgi-bin/miniprogram/jscode2session``  ``http://host:port``
=========  ==============================================  ============================

QQ's login path is WeChat's: the real APIs tell them apart by host (``api.q.qq.com``), so the
simulator serves QQ under the prefix ``/qq``, which a QQ app's ``api_base`` includes. Every other
path is the real one, and no two platforms share one.

Test hooks: ``GET /__sim/stats`` -> ``{"calls": <WeChat's>, "qq": N, "douyin": N, "alipay": N,
"wecom": N}``; ``POST /__sim/reset`` resets every platform; ``GET /__sim/platform`` is WeChat's.

``python -m adapters.wechat.simulator`` (or ``-m adapters.simulator.server``) serves them all;
``--help`` lists each platform's app id and secret (defaults below). It prints
``wechat simulator listening on <url>`` first, then Alipay's public key in PEM for the app's
configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from aiohttp import web

from adapters.simulator.alipay import AlipaySimulator
from adapters.simulator.codes import CodeBook, application
from adapters.simulator.douyin import DouyinSimulator
from adapters.simulator.wecom import WeComSimulator
from adapters.wechat.simulator import (
    DEFAULT_APPID,
    DEFAULT_SECRET,
    WeChatSimulator,
    run_simulator,
)

QQ_PREFIX = "/qq"
DEFAULTS = {
    "qq_appid": "1110000000",
    "qq_secret": "qq-simulator-secret",
    "douyin_appid": "tt-simulator",
    "douyin_secret": "douyin-simulator-secret",
    "alipay_appid": "2021000000000000",
    "wecom_corpid": "ww-simulator",
    "wecom_secret": "wecom-simulator-secret",
}


class PlatformSimulators:
    """The five platforms' simulators (each reachable as an attribute); ``make_app()`` serves
    them together."""

    def __init__(
        self,
        *,
        wechat: WeChatSimulator | None = None,
        qq: WeChatSimulator | None = None,
        douyin: DouyinSimulator | None = None,
        alipay: AlipaySimulator | None = None,
        wecom: WeComSimulator | None = None,
    ) -> None:
        d = DEFAULTS
        self.wechat = wechat or WeChatSimulator()
        self.qq = qq or WeChatSimulator(appid=d["qq_appid"], secret=d["qq_secret"])
        self.douyin = douyin or DouyinSimulator(appid=d["douyin_appid"], secret=d["douyin_secret"])
        self.alipay = alipay or AlipaySimulator(appid=d["alipay_appid"])
        self.wecom = wecom or WeComSimulator(corpid=d["wecom_corpid"], secret=d["wecom_secret"])

    def _others(self) -> dict[str, CodeBook[object]]:
        return {"qq": self.qq, "douyin": self.douyin, "alipay": self.alipay, "wecom": self.wecom}  # type: ignore[dict-item]

    def make_app(self) -> web.Application:
        return application(
            [
                *self.wechat.api_routes(),
                self.qq.login_route(QQ_PREFIX),
                *self.douyin.routes(),
                *self.alipay.routes(),
                *self.wecom.routes(),
                ("GET", "/__sim/stats", self._stats),
                ("POST", "/__sim/reset", self._reset),
                ("GET", "/__sim/platform", self.wechat._platform_stats),
            ]
        )

    async def _stats(self, _request: web.Request) -> web.Response:
        counts = {name: sim.calls for name, sim in self._others().items()}
        return web.json_response({"calls": self.wechat.calls, **counts})

    async def _reset(self, request: web.Request) -> web.Response:
        self.wechat.reset()
        for sim in self._others().values():
            sim.reset()
        return await self._stats(request)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Serve the mini-program platforms' simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--appid", default=DEFAULT_APPID, help="the WeChat app's appid")
    parser.add_argument("--secret", default=DEFAULT_SECRET, help="the WeChat app's secret")
    for name, default in DEFAULTS.items():
        parser.add_argument("--" + name.replace("_", "-"), default=default)
    parser.add_argument(
        "--alipay-app-public-key",
        type=Path,
        help="PEM file of the Alipay app's public key; requests' signatures are checked with it "
        "(unset: any RSA2 signature is accepted)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per answer")
    return parser


def build(args: argparse.Namespace) -> PlatformSimulators:
    latency = args.latency
    app_key = args.alipay_app_public_key.read_bytes() if args.alipay_app_public_key else None
    return PlatformSimulators(
        wechat=WeChatSimulator(appid=args.appid, secret=args.secret, latency=latency),
        qq=WeChatSimulator(appid=args.qq_appid, secret=args.qq_secret, latency=latency),
        douyin=DouyinSimulator(appid=args.douyin_appid, secret=args.douyin_secret, latency=latency),
        alipay=AlipaySimulator(appid=args.alipay_appid, app_public_key=app_key, latency=latency),
        wecom=WeComSimulator(corpid=args.wecom_corpid, secret=args.wecom_secret, latency=latency),
    )


async def _serve(args: argparse.Namespace) -> None:
    simulators = build(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with run_simulator(simulators, host=args.host, port=args.port) as url:
        print(f"wechat simulator listening on {url}", flush=True)
        print(f"qq api_base {url}{QQ_PREFIX}", flush=True)
        print("alipay public key (the app's alipay_public_key):", flush=True)
        print(simulators.alipay.public_key_pem.decode().strip(), flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parser().parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
