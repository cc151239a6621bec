"""Many WeChat apps for one service: the APPS_FILE and a simulator that serves them all.

``python -m bench.many_apps --port P --apps N --secret S`` serves N WeChat simulators
(``adapters/wechat/simulator.py``) in one process, app ``a007`` (appid ``wx-bench-a007``) under
the prefix ``/a007``, which that app's ``api_base`` includes; ``GET /__sim/stats`` sums their
calls. :func:`apps_toml` writes the matching ``APPS_FILE`` (``docs/APPS.md``), every app on it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web

from adapters.simulator.codes import application
from adapters.wechat.simulator import WeChatSimulator, run_simulator


def app_ids(count: int) -> list[str]:
    """The apps' ids in the service, as ``bench/load.py``'s ``app_of`` names them."""
    return [f"a{n:03d}" for n in range(count)]


def appid_of(app: str) -> str:
    """The platform's appid of the bench's app ``app`` (distinct per app, as the service
    requires)."""
    return f"wx-bench-{app}"


def apps_toml(count: int, simulator_url: str, secret: str) -> str:
    """An ``APPS_FILE`` of ``count`` WeChat apps, each on its own prefix of the simulator."""
    return "".join(
        f'[apps.{app}]\nplatform = "wechat"\nappid = "{appid_of(app)}"\nsecret = "{secret}"\n'
        f'api_base = "{simulator_url.rstrip("/")}/{app}"\n\n'
        for app in app_ids(count)
    )


class ManyApps:
    """``count`` WeChat simulators, one per app, behind one aiohttp application."""

    def __init__(self, count: int, secret: str, latency: float = 0.0) -> None:
        self.simulators = {
            app: WeChatSimulator(appid=appid_of(app), secret=secret, latency=latency)
            for app in app_ids(count)
        }

    def make_app(self) -> web.Application:
        routes = [sim.login_route(f"/{app}") for app, sim in self.simulators.items()]
        return application([*routes, ("GET", "/__sim/stats", self._stats)])

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"calls": sum(s.calls for s in self.simulators.values())})


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    simulators = ManyApps(args.apps, args.secret, args.latency)
    async with run_simulator(simulators, port=args.port) as url:
        print(f"{args.apps} WeChat apps' simulator listening on {url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve many WeChat apps' simulators.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--apps", type=int, required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
