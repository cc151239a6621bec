"""The OpenAPI description at /openapi.json and /docs, checked against the running app."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import orjson
from dependency_injector import providers

from adapters.apps import PlatformClients
from adapters.memory import InMemorySessionStore, InMemoryWeChatGateway
from adapters.sqlalchemy.migrate import upgrade_to_head
from domain.ports import NewLogin
from entrypoints.app import create_app
from entrypoints.openapi import openapi_path
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

FUZZ_TOKEN = "fuzz-token-0123456789abcdef-0123456789"
UNDOCUMENTED = {"/openapi.json", "/docs"}
OPTIONAL_BODIES = {"/api/v1/logout", "/api/v1/admin/users/{user_id}/ban"}


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
        (openapi_path(f"/{route.path}"), method.lower())
        for route in create_app(make_container(ENV)).router.routes
        for method in route.methods
        if f"/{route.path}" not in UNDOCUMENTED
    }
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == described
    assert {path for path, _ in described} == {
        "/api/v1/login", "/api/v1/me", "/api/v1/auth", "/api/v1/logout", "/api/v1/me/phone",
        "/api/v1/me/decrypt", "/api/v1/me/session-key", "/api/v1/admin/messages",
        "/api/v1/me/sessions", "/api/v1/me/sessions/{session_id}", "/api/v1/admin/users",
        "/api/v1/admin/users/{user_id}", "/api/v1/admin/users/{user_id}/ban",
        "/api/v1/admin/users/{user_id}/unban", "/api/v1/admin/users/{user_id}/sessions",
        "/api/v1/admin/users/{user_id}/events", "/api/v1/admin/events",
        "/healthz", "/readyz", "/metrics", "/api/v1/introspect", "/api/v1/token/refresh",
        "/.well-known/jwks.json", "/.well-known/openid-configuration",
    }
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            statuses = {int(status) for status in operation["responses"]}
            assert any(200 <= status < 300 for status in statuses), (path, method)
            for status in statuses - {200, 204, 503}:
                assert operation["responses"][str(status)]["content"]["application/json"][
                    "schema"] == error, (path, method, status)
            if "requestBody" in operation:
                assert operation["requestBody"]["required"] is (path not in OPTIONAL_BODIES)
    login = spec["paths"]["/api/v1/login"]["post"]
    assert set(login["responses"]) == {"200", "400", "401", "403", "413", "429", "502", "503",
                                       "504"}
    assert "platform_busy" in login["responses"]["503"]["description"]
    assert spec["paths"]["/api/v1/me"]["get"]["security"] == [{"user": []}]
    assert spec["paths"]["/api/v1/admin/messages"]["post"]["security"] == [{"admin": []}]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["user"]["scheme"] == schemes["admin"]["scheme"] == "bearer"


REFERENCES = re.compile(
    r"""(?:\b(?:src|href|action|poster|srcset)\s*=\s*["']?|url\(\s*["']?|@import\s+["']|"""
    r"""\b(?:fetch|import)\(\s*["'])([^"')\s>]+)""", re.IGNORECASE,
)
"""Every way a page can make the browser load something: attributes, CSS, scripts."""
OFF_HOST = re.compile(r"""(?:https?:)?//[^\s"'<>]*[a-z0-9]""", re.IGNORECASE)


async def docs_page(service: FakedService) -> tuple[str, str]:
    async with aiohttp.ClientSession() as http, http.get(f"{service.url}/docs") as reply:
        assert reply.status == 200
        assert reply.content_type == "text/html"
        return await reply.text(), reply.headers.get("Content-Security-Policy", "")


def inline(tag: str, page: str) -> list[str]:
    return re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.DOTALL)


async def test_the_docs_page_loads_nothing_from_another_host(
    faked_service: FakedService,
) -> None:
    page, policy = await docs_page(faked_service)
    assert [url for url in OFF_HOST.findall(page) if not url.startswith("// ")] == []
    references = REFERENCES.findall(page)
    assert "openapi.json" in references
    async with aiohttp.ClientSession() as http:
        for reference in references:
            url = urljoin(f"{faked_service.url}/docs", reference)
            assert urlsplit(url).netloc == urlsplit(faked_service.url).netloc, reference
            async with http.get(url) as reply:
                assert reply.status == 200, reference
    # The browser enforces it too: nothing but the page's own script and style, and fetches
    # to this service only.
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["connect-src"] == "'self'"
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        hashes = {f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
                  for block in inline(tag, page)}
        assert hashes
        assert set(directives[directive].split()) == hashes


RENDER = """
const texts = [];
class Node {
  constructor(tag) { this.tag = tag; this.children = []; }
  setAttribute() {}
  append(...children) { children.forEach((c) => { if (typeof c === "string") texts.push(c); }); }
  replaceChildren(...children) { this.append(...children); }
}
globalThis.document = { getElementById: () => new Node("main"), createElement: (t) => new Node(t) };
const spec = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
globalThis.fetch = async (url) => {
  if (url !== "openapi.json") throw new Error("fetched " + url);
  return { ok: true, json: async () => spec };
};
eval(require("fs").readFileSync(process.argv[3], "utf8"));
setTimeout(() => console.log(JSON.stringify(texts)), 0);  // after every promise has settled
"""
"""The page's script run by Node against a stand-in DOM that records every text it writes."""


async def test_the_docs_page_shows_every_operation_its_body_and_its_responses(
    faked_service: FakedService, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node is not None, "Node.js runs the page's script here (make system-deps)"
    page, _ = await docs_page(faked_service)
    spec = await fetch_spec(faked_service)
    (tmp_path / "spec.json").write_bytes(orjson.dumps(spec))
    (tmp_path / "page.js").write_text(inline("script", page)[0])
    (tmp_path / "render.js").write_text(RENDER)
    process = await asyncio.create_subprocess_exec(
        node, "render.js", "spec.json", "page.js", cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, err.decode()
    texts = set(orjson.loads(out))
    for path, operations in spec["paths"].items():
        assert path in texts
        for method, operation in operations.items():
            assert method.upper() in texts
            assert operation["summary"] in texts
            for status, response in operation["responses"].items():
                assert {status, response["description"]} <= texts, (path, method, status)
    login = spec["components"]["schemas"]["LoginRequest"]["properties"]
    assert {"code", "js_code"} <= texts
    assert any(login["code"]["description"] in text for text in texts)


class UndyingSessions(InMemorySessionStore):
    """Every login gets the same token, which is also the admin token: one ``-H`` header then
    authenticates every operation. Logout answers as usual but keeps the session, so that the
    fuzzer's logouts do not turn the rest of the run into 401s (the stateful phase, which would
    notice, is off)."""

    async def record_login(self, login: NewLogin) -> str | None:
        token = await super().record_login(login)
        if token is None:
            return None
        stored = self._sessions.get(self.session_id(token))
        assert stored is not None
        self._sessions.set(self.session_id(FUZZ_TOKEN), stored, login.session.expires_at)
        return FUZZ_TOKEN

    async def logout_by_id(self, session_id: str, *, everywhere: bool) -> int | None:
        session = await self.get_by_id(session_id)
        return None if session is None else session.user_id


async def test_schemathesis_finds_no_server_error_and_no_response_outside_the_spec(
    clock: FakeClock, tmp_path: Path
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
    await upgrade_to_head(database)  # users and their accounts in one store, as in production
    container = make_container({
        **ENV, "ADMIN_TOKEN": FUZZ_TOKEN, "SERVICE_TOKEN": FUZZ_TOKEN, "DATABASE_URL": database,
    })
    wechat = InMemoryWeChatGateway()
    wechat.add_code("alice-code-1", "openid-alice")
    container.platforms.override(providers.Object({"default": PlatformClients(wechat)}))
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
