"""The OpenAPI description at /openapi.json and /docs, checked against the running app."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp
from dependency_injector import providers

from adapters.memory import InMemorySessionStore, InMemoryUserRepository, InMemoryWeChatGateway
from domain.ports import NewLogin
from entrypoints.app import create_app
from tests.fakes import FakeClock
from tests.ops.conftest import ENV, FakedService
from tests.serving import make_container, serve

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SCHEMATHESIS_CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance", "negative_data_rejection",
    "missing_required_header", "unsupported_method", "ignored_auth",
])
"""Everything but ``positive_data_acceptance``: a well-formed code is still one WeChat rejects,
and a 4xx for it is the documented answer."""

SCHEMATHESIS_CONFIG = """
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "502", "503", "504"]

[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "413", "422", "429"]
"""
"""A 500 is a bug; 502/503/504 are the documented answers to WeChat's failures (the embedded
simulator refuses the fuzzer's made-up phone codes and openids). An over-long field can make the
body pass 64 KiB, and 413 is the documented refusal then."""

FUZZ_TOKEN = "fuzz-token-0123456789abcdef"
UNDOCUMENTED = {"/openapi.json", "/docs", "/docs/redoc", "/docs/openapi.json"}


async def fetch_spec(service: FakedService) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{service.url}/openapi.json") as reply:
        assert reply.status == 200
        spec: dict[str, Any] = await reply.json()
        return spec


async def test_the_spec_describes_every_route_its_bodies_errors_and_security(
    faked_service: FakedService,
) -> None:
    spec = await fetch_spec(faked_service)
    served = {
        (f"/{route.path}", method.lower())
        for route in create_app(make_container(ENV)).router.routes
        for method in route.methods
        if f"/{route.path}" not in UNDOCUMENTED
    }
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == described
    assert {path for path, _ in described} == {
        "/api/v1/login", "/api/v1/me", "/api/v1/logout", "/api/v1/me/phone",
        "/api/v1/me/decrypt", "/api/v1/me/session-key", "/api/v1/admin/messages",
        "/healthz", "/readyz", "/metrics",
    }
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = {int(status) for status in operation["responses"]}
            assert any(200 <= status < 300 for status in statuses), (path, method)
            for status in statuses - {200, 204, 503}:
                assert operation["responses"][str(status)]["content"]["application/json"][
                    "schema"] == error, (path, method, status)
            if method == "post" and path != "/api/v1/logout":
                assert operation["requestBody"]["required"] is True
    login = spec["paths"]["/api/v1/login"]["post"]
    assert set(login["responses"]) == {"200", "400", "401", "403", "413", "429", "502", "503",
                                       "504"}
    assert "wechat_busy" in login["responses"]["503"]["description"]
    assert spec["paths"]["/api/v1/me"]["get"]["security"] == [{"user": []}]
    assert spec["paths"]["/api/v1/admin/messages"]["post"]["security"] == [{"admin": []}]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["user"]["scheme"] == schemes["admin"]["scheme"] == "bearer"


async def test_the_docs_page_renders_the_spec(faked_service: FakedService) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{faked_service.url}/docs") as reply:
        assert reply.status == 200
        assert reply.content_type == "text/html"
        page = await reply.text()
    assert "<redoc" in page
    assert "openapi.json" in page


class UndyingSessions(InMemorySessionStore):
    """Every login gets the same token, which is also the admin token: one ``-H`` header then
    authenticates every operation. Logout answers as usual but keeps the session, so that the
    fuzzer's logouts do not turn the rest of the run into 401s (the stateful phase, which would
    notice, is off)."""

    async def record_login(self, login: NewLogin) -> str:
        await super().record_login(login)
        self._sessions.set(self._hash(FUZZ_TOKEN), login.session, login.session.expires_at)
        return FUZZ_TOKEN

    async def logout(self, token: str, *, everywhere: bool) -> bool:
        return await self.get(token) is not None


async def test_schemathesis_finds_no_server_error_and_no_response_outside_the_spec(
    clock: FakeClock, tmp_path: Path
) -> None:
    container = make_container({**ENV, "ADMIN_TOKEN": FUZZ_TOKEN})
    wechat = InMemoryWeChatGateway()
    wechat.add_code("alice-code-1", "openid-alice")
    container.wechat_gateway.override(providers.Object(wechat))
    container.user_repository.override(providers.Object(InMemoryUserRepository()))
    container.clock.override(providers.Object(clock))
    container.session_store.override(providers.Object(
        UndyingSessions(
            clock=clock,
            session_secret="fuzz session secret, 32 characters at least",
            registry=container.memory_code_registry(),
        )
    ))
    async with serve(container) as url:
        async with aiohttp.ClientSession() as http, http.post(
            f"{url}/api/v1/login", json={"code": "alice-code-1"}
        ) as reply:
            assert reply.status == 200
        (tmp_path / "schemathesis.toml").write_text(SCHEMATHESIS_CONFIG)
        report = tmp_path / "schemathesis.txt"
        with report.open("wb") as output:
            process = await asyncio.create_subprocess_exec(
                str(SCHEMATHESIS), "run", f"{url}/openapi.json",
                "--checks", SCHEMATHESIS_CHECKS, "--phases", "coverage,fuzzing",
                "--max-examples", "6", "--seed", "1", "--no-shrink", "--workers", "1",
                "--request-timeout", "5", "--header", f"Authorization: Bearer {FUZZ_TOKEN}",
                cwd=tmp_path, env={"PATH": os.environ.get("PATH", ""), "NO_COLOR": "1"},
                stdout=output, stderr=asyncio.subprocess.STDOUT,
            )
            await asyncio.wait_for(process.wait(), 60)
    assert process.returncode == 0, report.read_text(errors="replace")[-5000:]
