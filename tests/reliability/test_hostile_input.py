"""Garbage, oversized and slow requests: never a 500, never an error outside the documented shape,
never a connection held open by a client that trickles its request."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import orjson
import pytest
from dependency_injector import providers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.memory import InMemoryUserRepository
from entrypoints.app import create_app
from tests.serving import make_container, serve

ADMIN_TOKEN = "admin-token-0123456789abcdef-01234567"
SNAKE = re.compile(r"[a-z][a-z0-9_]*")
PLATFORMS = {"wechat", "qq", "douyin", "alipay", "wecom"}
DOCUMENTED = {200, 204, 400, 401, 403, 404, 405, 408, 413, 422, 429, 431, 502, 503, 504}


@dataclass(frozen=True)
class Raw:
    status: int
    headers: dict[str, str]
    body: bytes


async def raw_request(
    port: int, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> Raw:
    """One request written byte for byte (no client library to tidy it up), read to the end."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = [method + b" " + target + b" HTTP/1.1", b"Host: 127.0.0.1",
                b"Connection: close", b"Content-Length: " + str(len(body)).encode()]
        head += [name + b": " + value for name, value in headers]
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head_bytes, _, rest = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    parsed = dict(line.split(": ", 1) for line in header_lines)
    return Raw(int(status_line.split(" ")[1]), {k.lower(): v for k, v in parsed.items()}, rest)


def assert_documented(answer: Raw) -> None:
    """A documented status, a request id, and the documented error shape on every error."""
    assert answer.status in DOCUMENTED, answer
    assert "x-request-id" in answer.headers
    if answer.status == 204:
        assert answer.body == b""
        return
    body = orjson.loads(answer.body)
    assert isinstance(body, dict)
    if answer.status >= 400:
        assert set(body) <= {"error", "checks"}, body
        error = body["error"]
        # A platform's error also names the platform (a 504 when its call timed out, say).
        if error.get("code", "").startswith("platform_"):
            assert error.get("platform") in PLATFORMS, body
            assert set(error) == {"code", "message", "platform"}, body
        else:
            assert set(error) == {"code", "message"}, body
        assert SNAKE.fullmatch(body["error"]["code"]), body
        assert isinstance(body["error"]["message"], str), body


@dataclass
class Target:
    port: int
    url: str
    http: aiohttp.ClientSession

    async def fresh_token(self) -> str:
        async with self.http.post(f"{self.url}/api/v1/login", json={"code": "eve:1"}) as response:
            assert response.status == 200
            token: str = (await response.json())["token"]
            return token


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    """The service on its embedded defaults (simulator, memory sessions, users in memory)."""
    container = make_container({"LOGIN_RATE_PER_MINUTE": "0", "ADMIN_TOKEN": ADMIN_TOKEN,
                                "WECHAT_TIMEOUT_SECONDS": "0.5"})
    container.user_repository.override(providers.Object(InMemoryUserRepository()))
    async with serve(container) as url, aiohttp.ClientSession() as http:
        yield Target(port=urlsplit(url).port or 0, url=url, http=http)


ENDPOINTS = [
    (b"POST", "/api/v1/login"), (b"GET", "/api/v1/me"), (b"POST", "/api/v1/logout"),
    (b"POST", "/api/v1/me/phone"), (b"POST", "/api/v1/me/decrypt"),
    (b"GET", "/api/v1/me/session-key"), (b"POST", "/api/v1/admin/messages"),
    (b"GET", "/healthz"), (b"GET", "/readyz"),
]
FIELDS = ["code", "js_code", "all", "encrypted_data", "iv", "raw_data", "signature", "user_id",
          "template_id", "data", "page", "miniprogram_state", "lang"]
"""Every field some endpoint reads: each endpoint gets its own fields set to anything."""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6,
)
objects = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4)
bodies = st.binary(max_size=200) | (json_values | objects).map(
    lambda value: json.dumps(value).encode())
"""Arbitrary bytes, any JSON value, and objects with the endpoints' fields set to anything (the
JSON encoder lets NaN and huge integers through, as a hostile client would)."""

header_names = st.text(
    alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    min_size=1, max_size=16,
).filter(lambda name: name.lower() not in {
    "content-length", "transfer-encoding", "connection", "host", "expect", "upgrade"})
header_values = st.binary(max_size=60).map(
    lambda value: value.replace(b"\r", b"").replace(b"\n", b"").strip(b" \t"))
headers = st.lists(st.tuples(header_names.map(str.encode), header_values), max_size=3)
authorizations = st.one_of(
    st.sampled_from(["valid", "admin", "none"]),
    header_values.map(lambda value: b"Bearer " + value),
    header_values,
)

HYPOTHESIS = settings(
    max_examples=100, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS, ids=[p for _, p in ENDPOINTS])
@HYPOTHESIS
@given(body=bodies, extra_headers=headers, authorization=authorizations)
async def test_no_input_makes_an_endpoint_answer_500_or_outside_the_error_shape(
    target: Target, method: bytes, path: str, body: bytes,
    extra_headers: list[tuple[bytes, bytes]], authorization: str | bytes,
) -> None:
    sent = list(extra_headers)
    if authorization == "valid":
        sent.append((b"Authorization", b"Bearer " + (await target.fresh_token()).encode()))
    elif authorization == "admin":
        sent.append((b"Authorization", b"Bearer " + ADMIN_TOKEN.encode()))
    elif isinstance(authorization, bytes):
        sent.append((b"Authorization", authorization))
    assert_documented(await raw_request(target.port, method, path.encode(), sent, body))


targets = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=60
).map(lambda text: b"/" + text.encode())
methods = st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"HEAD", b"OPTIONS"]) | (
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=10).map(str.encode))


@settings(HYPOTHESIS, max_examples=200)
@given(method=methods, request_target=targets, body=st.binary(max_size=100))
async def test_no_path_or_method_makes_the_service_answer_500_or_outside_the_error_shape(
    target: Target, method: bytes, request_target: bytes, body: bytes
) -> None:
    answer = await raw_request(target.port, method, request_target, [], body)
    if method == b"HEAD":
        assert answer.status != 500
        assert answer.body == b""
        return
    assert_documented(answer)


async def test_a_declared_body_over_the_limit_is_413_before_it_is_sent(target: Target) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    try:
        writer.write(b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Length: 104857600\r\n\r\n{\"code\": \"")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)  # the service does not wait for 100 MB
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert orjson.loads(body)["error"]["code"] == "payload_too_large"


async def test_a_client_that_trickles_its_headers_is_cut_off_at_the_request_timeout() -> None:
    """Sanic alone restarts its request timer at every packet, so a byte every 0.2 s would hold
    the connection for as long as the client likes; the service's protocol does not (the
    shutdown test shows ``python -m entrypoints`` serves with that protocol too)."""
    container = make_container({"REQUEST_TIMEOUT_SECONDS": "1"})
    container.user_repository.override(providers.Object(InMemoryUserRepository()))
    request = b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 100 + b"\r\n\r\n"
    async with serve(container) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", urlsplit(url).port)

        async def trickle() -> None:
            for byte in request:  # about 25 s if nobody stops it
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.2)

        started = time.monotonic()
        trickler = asyncio.create_task(trickle())
        try:
            answer = await asyncio.wait_for(reader.read(), 10)
            cut_after = time.monotonic() - started
        finally:
            trickler.cancel()
            await asyncio.gather(trickler, return_exceptions=True)
            writer.close()
            await asyncio.gather(writer.wait_closed(), return_exceptions=True)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert orjson.loads(body)["error"]["code"] == "request_timeout"
    assert cut_after < 3.0
    print(f"slow client: cut off with 408 after {cut_after:.2f} s (REQUEST_TIMEOUT_SECONDS=1)")


async def test_the_request_and_keep_alive_timeouts_are_set_against_slow_clients() -> None:
    app = create_app(make_container({}), name="weapp_login_timeouts")
    assert app.config.REQUEST_TIMEOUT == 10
    assert 0 < app.config.KEEP_ALIVE_TIMEOUT <= 75
    assert 0 < app.config.RESPONSE_TIMEOUT <= 60

