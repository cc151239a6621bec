"""Redis found through Sentinels when no Sentinel answers, and Sentinels that need a password.

With Sentinels that refuse connections or accept them and never answer, a request that needs
Redis answers 503 ``unavailable`` within 2 s (the contract), however many Sentinels are listed:
every Redis command has one deadline, discovery included, and a Sentinel is not asked ten times.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import aiohttp
import pytest
from dependency_injector import providers

from adapters.apps import PlatformClients
from adapters.memory import InMemoryUserRepository, InMemoryWeChatGateway
from adapters.redis.client import open_redis, store_errors
from domain.errors import StoreUnavailable
from tests.fixtures.redis_sentinel import (
    MASTER_NAME,
    MASTER_PASSWORD,
    SENTINEL_PASSWORD,
    SentinelSetup,
)
from tests.serving import make_container, serve

pytestmark = pytest.mark.integration

BOUND = 2.0
"""The contract: a store that cannot be reached answers 503 within 2 s."""


@contextmanager
def unreachable_sentinels() -> Iterator[str]:
    """``REDIS_SENTINELS`` of four addresses where no Sentinel answers: two ports where nothing
    listens (refused) and two sockets that accept connections but never answer."""
    silent = []
    for _ in range(2):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)  # the kernel completes the handshakes; nobody reads
        silent.append(listener)
    refused = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            refused.append(probe.getsockname()[1])
    ports = [refused[0], silent[0].getsockname()[1], refused[1], silent[1].getsockname()[1]]
    try:
        yield ",".join(f"127.0.0.1:{port}" for port in ports)
    finally:
        for listener in silent:
            listener.close()


@asynccontextmanager
async def service(environ: dict[str, str]) -> AsyncIterator[aiohttp.ClientSession]:
    container = make_container(environ)
    container.platforms.override(
        providers.Object({"default": PlatformClients(InMemoryWeChatGateway())})
    )
    container.user_repository.override(providers.Object(InMemoryUserRepository()))
    async with serve(container) as url, aiohttp.ClientSession(base_url=url) as http:
        yield http


async def _post_login(http: aiohttp.ClientSession) -> tuple[int, Any]:
    async with http.post("/api/v1/login", json={"code": "0a1b2c3d4e5f"}) as response:
        return response.status, await response.json(content_type=None)


async def test_a_request_answers_503_within_2_s_when_no_sentinel_answers() -> None:
    with unreachable_sentinels() as sentinels:
        environ = {"REDIS_SENTINELS": sentinels, "REDIS_SENTINEL_MASTER": MASTER_NAME}
        async with service(environ) as http:
            for _ in range(2):  # the first request, and one after a failed discovery
                started = time.monotonic()
                status, body = await _post_login(http)
                elapsed = time.monotonic() - started

                assert status == 503, body
                assert body["error"]["code"] == "unavailable"
                assert elapsed < BOUND


async def test_the_client_fails_as_store_unavailable_when_no_sentinel_answers() -> None:
    with unreachable_sentinels() as sentinels:
        async with asynccontextmanager(open_redis)(
            sentinels=sentinels, sentinel_master=MASTER_NAME
        ) as client:
            with pytest.raises(StoreUnavailable), store_errors():
                await client.set(b"key", b"value")


async def test_sentinels_are_asked_with_their_password_and_the_master_with_the_urls(
    redis_sentinel_with_password: SentinelSetup,
) -> None:
    setup = redis_sentinel_with_password
    master_url = f"redis://:{MASTER_PASSWORD}@master.invalid:1/0"  # its host is not used
    async with asynccontextmanager(open_redis)(
        master_url,
        sentinels=setup.sentinels,
        sentinel_master=setup.master_name,
        sentinel_password=SENTINEL_PASSWORD,
    ) as client:
        await client.set(b"sentinel-password-test", b"1")
        assert await client.get(b"sentinel-password-test") == b"1"

    for url, password in (
        (master_url, None),
        (master_url, "not-the-password"),
        (None, SENTINEL_PASSWORD),
    ):
        async with asynccontextmanager(open_redis)(
            url,
            sentinels=setup.sentinels,
            sentinel_master=setup.master_name,
            sentinel_password=password,
        ) as client:
            with pytest.raises(StoreUnavailable), store_errors():
                await client.get(b"sentinel-password-test")


async def test_the_service_reads_the_sentinel_password_from_its_setting(
    redis_sentinel_with_password: SentinelSetup,
) -> None:
    setup = redis_sentinel_with_password
    environ = {
        "REDIS_SENTINELS": setup.sentinels,
        "REDIS_SENTINEL_MASTER": setup.master_name,
        "REDIS_URL": f"redis://:{MASTER_PASSWORD}@master.invalid:1/0",
    }

    with_password = {**environ, "REDIS_SENTINEL_PASSWORD": SENTINEL_PASSWORD}
    async with service(with_password) as http, http.get("/readyz") as response:
        assert response.status == 200, await response.text()
    async with service(environ) as http, http.get("/readyz") as response:
        assert response.status == 503
