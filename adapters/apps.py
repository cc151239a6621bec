"""Every configured app's own platform clients, and the directory the use cases find them in.

For each app (``settings.apps.AppConfig``, as the container's configuration dict):

- its platform's gateway (``adapters/wechat`` for WeChat, ``adapters/platforms`` for the
  others), with its own bound on calls in flight and waiting (``WeChatCallLimit``): one
  platform that hangs fills its own app's slots and answers ``platform_busy``, never the
  others' (they share only the keep-alive pool, sized for all of them);
- on WeChat, its platform calls (phone, checksession, subscribe messages) and its shared
  ``access_token``; on WeCom, the corp's shared token its logins need; each token cached per app
  (Redis: keyed by the appid) with one refresher at a time;
- an app with ``simulator = true`` gets a simulator of its platform served on loopback for its
  own appid (Alipay's with a key pair made here), so it runs the same gateway code as
  production;
- its own ``CodeExchange``: single flight and the codes' registry keyed by the app.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.instrumented import WECHAT_GATEWAY, WECHAT_PLATFORM
from adapters.memory.platform import InMemoryAccessTokenCache
from adapters.platforms.alipay import AiohttpAlipayGateway
from adapters.platforms.douyin import AiohttpDouyinGateway
from adapters.platforms.qq import AiohttpQQGateway
from adapters.platforms.wecom import AiohttpWeComGateway, WeComTokenIssuer
from adapters.port_metrics import PortMetrics
from adapters.redis.access_token import RedisAccessTokenCache
from adapters.redis.client import RedisClient
from adapters.simulator.alipay import AlipaySimulator
from adapters.simulator.codes import Route, application
from adapters.simulator.douyin import DouyinSimulator
from adapters.simulator.wecom import WeComSimulator
from adapters.wechat.gateway import AiohttpWeChatGateway
from adapters.wechat.http import WeChatCallLimit
from adapters.wechat.platform import AiohttpWeChatPlatform
from adapters.wechat.simulator import WeChatSimulator, run_simulator
from domain.access_token import AccessTokenProvider, TokenTimings
from domain.apps import AppDirectory, AppServices
from domain.code_exchange import CodeExchange, ExchangeTimings
from domain.entities import App
from domain.platform import AccessTokenCache, WeChatPlatform
from domain.ports import Clock, CodeExchangeRegistry, WeChatGateway


@dataclass(frozen=True, slots=True)
class PlatformClients:
    """What one app calls its platform with: its gateway, and on WeChat its platform calls
    and shared token."""

    gateway: WeChatGateway
    features: WeChatPlatform | None = None
    access_tokens: AccessTokenProvider | None = None


async def open_platforms(
    *,
    apps: list[dict[str, Any]],
    session: aiohttp.ClientSession,
    timeout: float,  # noqa: ASYNC109 - each call's deadline, handed to the gateways
    max_in_flight: int,
    backlog: int,
    redis: RedisClient | None,
    key_prefix: str,
    clock: Clock,
    token_timings: TokenTimings,
    metrics: PortMetrics,
) -> AsyncIterator[dict[str, PlatformClients]]:
    """Resource: each app's ``PlatformClients`` by app id; simulators stop at the end."""
    async with AsyncExitStack() as stack:
        clients: dict[str, PlatformClients] = {}
        for configured in apps:
            config = configured
            if configured["simulator"]:
                config = {**configured, **await stack.enter_async_context(_simulated(configured))}
            limit = WeChatCallLimit(max_in_flight=max_in_flight, backlog=backlog)
            common = {"session": session, "base_url": config["api_base"], "timeout": timeout,
                      "limit": limit}

            def shared_token(issuer: WeChatPlatform, key: str) -> AccessTokenProvider:
                cache: AccessTokenCache = (
                    InMemoryAccessTokenCache(clock=clock) if redis is None
                    else RedisAccessTokenCache(redis, appid=key, key_prefix=key_prefix)
                )
                return AccessTokenProvider(
                    platform=WECHAT_PLATFORM.wrap(issuer, metrics), cache=cache, clock=clock,
                    timings=token_timings,
                )

            platform, appid, secret = config["platform"], config["appid"], config["secret"]
            if platform == "wechat":
                features = AiohttpWeChatPlatform(appid=appid, secret=secret, **common)
                tokens = shared_token(features, appid)
                clients[config["id"]] = PlatformClients(
                    AiohttpWeChatGateway(appid=appid, secret=secret, **common),
                    WECHAT_PLATFORM.wrap(features, metrics), tokens,
                )
            elif platform == "wecom":
                issuer = WeComTokenIssuer(corpid=appid, secret=secret, **common)
                tokens = shared_token(issuer, f"wecom:{appid}")
                gateway = AiohttpWeComGateway(corpid=appid, tokens=tokens, **common)
                clients[config["id"]] = PlatformClients(gateway)
            elif platform == "alipay":
                clients[config["id"]] = PlatformClients(AiohttpAlipayGateway(
                    appid=appid, private_key=_pem(config["private_key"]),
                    alipay_public_key=_pem(config["alipay_public_key"]), **common,
                ))
            else:
                kind = AiohttpQQGateway if platform == "qq" else AiohttpDouyinGateway
                clients[config["id"]] = PlatformClients(kind(appid=appid, secret=secret, **common))
        yield clients


def app_directory(
    *,
    apps: list[dict[str, Any]],
    platforms: Mapping[str, PlatformClients],
    registry: CodeExchangeRegistry,
    timings: ExchangeTimings,
    metrics: PortMetrics,
) -> AppDirectory:
    """The apps with their services: each its own ``CodeExchange`` over its timed gateway."""
    services = []
    for config in apps:
        app = App(id=config["id"], platform=config["platform"], appid=config["appid"])
        clients = platforms[app.id]
        exchange = CodeExchange(
            gateway=WECHAT_GATEWAY.wrap(clients.gateway, metrics), registry=registry,
            timings=timings, scope=app.id,
        )
        services.append(AppServices(app, exchange, clients.features, clients.access_tokens))
    return AppDirectory(services)


def _pem(value: Any) -> Any:
    """A key from the settings (PEM text) as bytes; a key object (a simulator's) as it is."""
    return value.encode() if isinstance(value, str) else value


class _Served:
    """Routes served as one simulator application."""

    def __init__(self, routes: list[Route]) -> None:
        self._routes = routes

    def make_app(self) -> web.Application:
        return application(self._routes)


@asynccontextmanager
async def _simulated(config: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """Serve a simulator of the app's platform for its appid; yield what the app's
    configuration takes from it: ``api_base`` and made-up credentials."""
    platform, appid = config["platform"], config["appid"]
    secret = secrets.token_hex(16)
    credentials: dict[str, Any] = {"secret": secret}
    if platform == "alipay":
        # Key pairs are CPU work: made off the event loop.
        app_key = await asyncio.to_thread(rsa.generate_private_key, 65537, 2048)
        alipay = await asyncio.to_thread(
            AlipaySimulator, appid=appid, app_public_key=app_key.public_key()
        )
        credentials = {"private_key": app_key, "alipay_public_key": alipay.public_key_pem}
        served: Any = _Served(alipay.routes())
    elif platform == "douyin":
        served = _Served(DouyinSimulator(appid=appid, secret=secret).routes())
    elif platform == "wecom":
        served = _Served(WeComSimulator(corpid=appid, secret=secret).routes())
    else:  # WeChat, and QQ (WeChat's API in shape)
        served = WeChatSimulator(appid=appid, secret=secret)
    async with run_simulator(served) as url:
        yield {"api_base": url, **credentials}

