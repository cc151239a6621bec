"""The conventions: error shape, request ids, limits, unknown paths and methods, probes."""

from __future__ import annotations

import asyncio
import re

import pytest

from adapters.memory import (
    InMemoryCodeExchangeRegistry,
    InMemorySessionStore,
    InMemoryUserRepository,
)
from domain.errors import StoreUnavailable
from tests.fakes import FakeClock
from tests.http.conftest import Service

SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/api/v1/me"), ("GET", "/nowhere"),
     ("POST", "/api/v1/login")],
)
async def test_every_response_carries_a_request_id(service: Service, method: str, path: str
                                                   ) -> None:
    async with service.http.request(method, f"{service.url}{path}") as response:
        assert SANE_ID.fullmatch(response.headers["X-Request-ID"])


async def test_a_sane_client_request_id_is_echoed(service: Service) -> None:
    async with service.http.get(
        f"{service.url}/nowhere", headers={"X-Request-ID": "abc.DEF_123-x"}
    ) as response:
        assert response.headers["X-Request-ID"] == "abc.DEF_123-x"


@pytest.mark.parametrize("given", ["", "a b", "x" * 129, "id/with/slashes", "ünïcode", "a;b"])
async def test_an_insane_client_request_id_is_replaced(service: Service, given: str) -> None:
    async with service.http.get(
        f"{service.url}/healthz", headers={"X-Request-ID": given}
    ) as response:
        echoed = response.headers["X-Request-ID"]
        assert echoed != given
        assert SANE_ID.fullmatch(echoed)


async def test_an_unknown_path_is_404_not_found(service: Service) -> None:
    async with service.http.get(f"{service.url}/api/v1/nope") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/v1/login"), ("PATCH", "/api/v1/me"),
                                              ("POST", "/healthz"), ("PUT", "/api/v1/logout")])
async def test_a_wrong_method_is_405_method_not_allowed(service: Service, method: str, path: str
                                                       ) -> None:
    async with service.http.request(method, f"{service.url}{path}") as response:
        assert response.status == 405
        assert (await response.json())["error"]["code"] == "method_not_allowed"


async def test_a_body_over_64_kib_is_413_payload_too_large(service: Service) -> None:
    body = b'{"code": "' + b"a" * (64 * 1024) + b'"}'
    async with service.http.post(f"{service.url}/api/v1/login", data=body) as response:
        assert response.status == 413
        assert (await response.json())["error"]["code"] == "payload_too_large"
        assert "X-Request-ID" in response.headers


async def test_headers_over_8_kib_are_refused_with_the_error_body(service: Service) -> None:
    headers = {"X-Padding": "p" * (9 * 1024)}
    async with service.http.get(f"{service.url}/healthz", headers=headers) as response:
        assert response.status in (413, 431)
        assert (await response.json())["error"]["code"] in ("payload_too_large",
                                                            "headers_too_large")


async def test_healthz_says_ok(service: Service) -> None:
    async with service.http.get(f"{service.url}/healthz") as response:
        assert response.status == 200
        body = await response.json()
        assert body["status"] == "ok"
        assert set(body) == {"status", "version"}  # tests/ops/test_health.py: which version


async def test_readyz_says_ok_when_both_stores_answer(service: Service) -> None:
    async with service.http.get(f"{service.url}/readyz") as response:
        assert response.status == 200
        assert await response.json() == {
            "status": "ok", "checks": {"sessions": "ok", "users": "ok"}
        }


class _Down(InMemoryUserRepository):
    async def ping(self) -> None:
        await asyncio.sleep(0)
        raise StoreUnavailable()


@pytest.mark.parametrize("service_overrides", [{"user_repository": _Down()}])
async def test_readyz_is_503_and_names_the_store_that_is_down(service: Service) -> None:
    async with service.http.get(f"{service.url}/readyz") as response:
        assert response.status == 503
        body = await response.json()
        assert body["error"]["code"] == "unavailable"
        assert body["checks"] == {"sessions": "ok", "users": "down"}


class _Broken(InMemorySessionStore):
    async def ping(self) -> None:
        raise RuntimeError("secret-internal-detail")


_BROKEN = _Broken(clock=FakeClock(), session_secret="s" * 32,
                  registry=InMemoryCodeExchangeRegistry(clock=FakeClock()))


@pytest.mark.parametrize("service_overrides", [{"session_store": _BROKEN}])
async def test_an_unexpected_failure_is_a_bare_500_without_detail(service: Service) -> None:
    async with service.http.get(f"{service.url}/readyz") as response:
        assert response.status == 500
        text = await response.text()
        assert "secret-internal-detail" not in text
        assert "Traceback" not in text
        assert (await response.json())["error"]["code"] == "internal_error"
