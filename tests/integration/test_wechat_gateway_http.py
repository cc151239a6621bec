"""The aiohttp gateway over real HTTP: against the simulator, tiny scripted servers, TLS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import logging
import re
import socket
import ssl
import sys
import time
import traceback
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.wechat.gateway import AiohttpWeChatGateway
from adapters.wechat.http import open_client_session
from adapters.wechat.simulator import WeChatSimulator, run_simulator
from domain.errors import (
    InvalidCode,
    UserBlocked,
    WeChatBusy,
    WeChatError,
    WeChatFailure,
    WeChatRateLimited,
    WeChatTimeout,
)
from tests.fixtures.wechat_simulator import SIM_APPID, SIM_SECRET, RunningSimulator

pytestmark = pytest.mark.integration

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"
SESSION_KEY = "SeSsIoNkEy+/0123456789=="


@asynccontextmanager
async def open_gateway(
    base_url: str, *, secret: str = SIM_SECRET, timeout: float = 1.0
) -> AsyncIterator[AiohttpWeChatGateway]:
    async with asynccontextmanager(open_client_session)(timeout=timeout) as session:
        yield AiohttpWeChatGateway(
            session, base_url=base_url, appid=SIM_APPID, secret=secret, timeout=timeout
        )


# ---- a tiny server that answers exactly what a test scripts --------------------------------


@dataclass
class ScriptedWeChat:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "text/plain"
    queries: list[dict[str, str]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.queries.append(dict(request.query))
        response = web.Response(status=self.status, body=self.body)
        response.headers["Content-Type"] = self.content_type
        return response


@asynccontextmanager
async def serve(
    app: web.Application, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
        scheme = "https" if ssl_context else "http"
        yield f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[ScriptedWeChat, AiohttpWeChatGateway]]:
    wechat = ScriptedWeChat()
    app = web.Application()
    app.router.add_get("/sns/jscode2session", wechat.handle)
    async with serve(app) as base_url, open_gateway(base_url) as gateway:
        yield wechat, gateway


def body(**fields: object) -> bytes:
    return orjson.dumps(fields)


# ---- lenient reading ---------------------------------------------------------------------


async def test_the_simulator_labels_its_json_text_plain_and_the_gateway_reads_it(
    wechat_simulator: RunningSimulator, wechat_gateway: AiohttpWeChatGateway
) -> None:
    params = {
        "appid": SIM_APPID,
        "secret": SIM_SECRET,
        "js_code": "probe:1",
        "grant_type": "authorization_code",
    }
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{wechat_simulator.base_url}/sns/jscode2session", params=params) as resp,
    ):
        assert resp.content_type == "text/plain"
        with pytest.raises(aiohttp.ContentTypeError):
            await resp.json()

    session = await wechat_gateway.code_to_session("alice:1")

    assert session.openid == wechat_simulator.sim.openid_for("alice")


@pytest.mark.parametrize(
    "answer",
    [
        body(openid=OPENID, session_key=SESSION_KEY),
        body(errcode=0, openid=OPENID, session_key=SESSION_KEY),
        body(errcode="0", errmsg="ok", openid=OPENID, session_key=SESSION_KEY),
        body(errcode=None, openid=OPENID, session_key=SESSION_KEY, unionid=""),
        b"\xef\xbb\xbf" + body(openid=OPENID, session_key=SESSION_KEY),
    ],
    ids=["no-errcode", "errcode-0", "errcode-string-0", "errcode-null", "utf8-bom"],
)
async def test_every_form_of_success_is_read(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatGateway], answer: bytes
) -> None:
    wechat, gateway = scripted
    wechat.body = answer

    session = await gateway.code_to_session("alice:1")

    assert (session.openid, session.session_key, session.unionid) == (OPENID, SESSION_KEY, None)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json; encoding=utf-8", ""])
async def test_json_is_read_whatever_the_content_type(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatGateway], content_type: str
) -> None:
    wechat, gateway = scripted
    wechat.content_type = content_type
    wechat.body = body(openid=OPENID, session_key=SESSION_KEY, unionid="oU-union")

    session = await gateway.code_to_session("alice:1")

    assert session.unionid == "oU-union"


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (body(errcode="40029", errmsg="invalid code, rid: 1-2-3"), InvalidCode),
        (body(errcode=40163, errmsg="code been used, rid: 1-2-3"), InvalidCode),
        (body(errcode=" 40226 ", errmsg="code blocked"), UserBlocked),
        (body(errcode="-1", errmsg="system error"), WeChatBusy),
        (body(errcode=45011, errmsg="api minute-quota reach limit"), WeChatRateLimited),
        (body(errcode=40125, errmsg="invalid appsecret"), WeChatError),
        (body(errcode="abc", openid=OPENID, session_key=SESSION_KEY), WeChatError),
        (body(errcode=True, openid=OPENID, session_key=SESSION_KEY), WeChatError),
        (body(openid=OPENID), WeChatError),
        (body(openid="", session_key=SESSION_KEY), WeChatError),
        (body(openid=42, session_key=SESSION_KEY), WeChatError),
        (b"[]", WeChatError),
        (b"null", WeChatError),
        (b"<html>busy</html>", WeChatError),
        (b"", WeChatError),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
async def test_each_answer_maps_to_its_domain_error(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatGateway],
    answer: bytes,
    expected: type[WeChatFailure],
) -> None:
    wechat, gateway = scripted
    wechat.body = answer

    with pytest.raises(expected):
        await gateway.code_to_session("alice:1")


@pytest.mark.parametrize("status", [301, 404, 500, 502])
async def test_an_http_error_status_is_a_wechat_error_even_with_a_good_body(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatGateway], status: int
) -> None:
    wechat, gateway = scripted
    wechat.status = status
    wechat.body = body(openid=OPENID, session_key=SESSION_KEY)

    with pytest.raises(WeChatError):
        await gateway.code_to_session("alice:1")


async def test_the_query_carries_the_app_credentials_and_the_code_url_encoded(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatGateway],
) -> None:
    wechat, gateway = scripted
    wechat.body = body(openid=OPENID, session_key=SESSION_KEY)
    code = "a+b&c=d#e%/?;:1"

    await gateway.code_to_session(code)

    assert wechat.queries == [
        {
            "appid": SIM_APPID,
            "secret": SIM_SECRET,
            "js_code": code,
            "grant_type": "authorization_code",
        }
    ]


async def test_a_code_with_url_special_characters_reaches_the_simulator_intact(
    wechat_simulator: RunningSimulator, wechat_gateway: AiohttpWeChatGateway
) -> None:
    session = await wechat_gateway.code_to_session("a+b&c=d#e%/?;:1")

    assert session.openid == wechat_simulator.sim.openid_for("a+b&c=d#e%/?;")


# ---- the simulator's failure codes through the gateway -------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("invalid-x", InvalidCode),
        ("blocked-x", UserBlocked),
        ("busy-x", WeChatBusy),
        ("quota-x", WeChatRateLimited),
        ("error-x", WeChatError),
        ("garbage-x", WeChatError),
        ("http500-x", WeChatError),
        ("nokey-x", WeChatError),
        ("has space", InvalidCode),
        ("x" * 129, InvalidCode),
    ],
)
async def test_each_failure_costs_exactly_one_call_to_wechat(
    wechat_simulator: RunningSimulator,
    wechat_gateway: AiohttpWeChatGateway,
    code: str,
    expected: type[WeChatFailure],
) -> None:
    with pytest.raises(expected):
        await wechat_gateway.code_to_session(code)

    assert wechat_simulator.sim.code_calls[code] == 1
    assert wechat_simulator.sim.calls == 1


async def test_a_busy_answer_does_not_use_the_code_up(
    wechat_simulator: RunningSimulator, wechat_gateway: AiohttpWeChatGateway
) -> None:
    wechat_simulator.sim.fail_next("alice:1", -1)

    with pytest.raises(WeChatBusy) as raised:
        await wechat_gateway.code_to_session("alice:1")
    session = await wechat_gateway.code_to_session("alice:1")

    assert raised.value.retry_after == 1
    assert session.openid == wechat_simulator.sim.openid_for("alice")
    assert wechat_simulator.sim.code_calls["alice:1"] == 2


async def test_a_wrong_secret_is_a_wechat_error(wechat_simulator: RunningSimulator) -> None:
    async with open_gateway(wechat_simulator.base_url, secret="wrong-secret") as gateway:
        with pytest.raises(WeChatError, match="40125"):
            await gateway.code_to_session("alice:1")


async def test_a_silent_wechat_times_out_after_the_configured_time(
    wechat_simulator: RunningSimulator,
) -> None:
    async with open_gateway(wechat_simulator.base_url, timeout=0.3) as gateway:
        started = time.monotonic()
        with pytest.raises(WeChatTimeout):
            await gateway.code_to_session("hang-1")
        elapsed = time.monotonic() - started

    assert 0.25 <= elapsed < 0.8
    assert wechat_simulator.sim.calls == 1


async def test_a_closed_port_is_a_wechat_error_at_once() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with open_gateway(f"http://127.0.0.1:{port}", timeout=2.0) as gateway:
        started = time.monotonic()
        with pytest.raises(WeChatError):
            await gateway.code_to_session("alice:1")

    assert time.monotonic() - started < 0.5


# ---- TLS -----------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
async def tls_simulator(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """The simulator behind a self-signed certificate; yields its https URL and the cert."""
    cert_path, key_path = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    sim = WeChatSimulator(appid=SIM_APPID, secret=SIM_SECRET)
    async with serve(sim.make_app(), context) as base_url:
        yield base_url, cert_path


async def test_a_certificate_that_does_not_verify_is_refused(
    tls_simulator: tuple[str, Path],
) -> None:
    base_url, cert_path = tls_simulator
    trusting = ssl.create_default_context(cafile=str(cert_path))
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{base_url}/__sim/stats", ssl=trusting) as resp,
    ):
        assert resp.status == 200  # the server is sound: only trust is missing

    async with open_gateway(base_url) as gateway:
        with pytest.raises(WeChatError, match="Certificate"):
            await gateway.code_to_session("alice:1")


# ---- nothing secret in errors or logs ------------------------------------------------------


def exposed_text(error: BaseException) -> str:
    """What a log of the error shows (pass codes as variables: tracebacks quote source lines)."""
    return str(error) + repr(error) + "".join(traceback.format_exception(error))


@pytest.mark.parametrize(
    "code",
    [
        "invalid-S1",
        "blocked-S1",
        "busy-S1",
        "quota-S1",
        "error-S1",
        "garbage-S1",
        "http500-S1",
        "nokey-S1",
        "hang-S1",
        "alice:S1",
    ],
)
async def test_no_error_from_the_simulator_shows_the_secret_or_the_code(
    wechat_simulator: RunningSimulator, caplog: pytest.LogCaptureFixture, code: str
) -> None:
    caplog.set_level(logging.DEBUG)
    async with open_gateway(wechat_simulator.base_url, timeout=0.3) as gateway:
        if code.startswith("alice"):
            await gateway.code_to_session(code)  # used up: the second try fails
        with pytest.raises(WeChatFailure) as raised:
            await gateway.code_to_session(code)

    text = exposed_text(raised.value) + caplog.text
    assert SIM_SECRET not in text
    assert code not in text
    assert wechat_simulator.sim.openid_for("nokey-S1") not in text
    assert raised.value.__cause__ is None


@pytest.mark.parametrize(
    "answer",
    [
        body(errcode=99999, openid=OPENID, session_key=SESSION_KEY, errmsg=f"x {SESSION_KEY}"),
        body(openid=OPENID, session_key=SESSION_KEY, errcode="zero"),
        body(session_key=SESSION_KEY),
    ],
)
async def test_no_error_from_a_bad_answer_shows_the_session_key_or_the_openid(
    scripted: tuple[ScriptedWeChat, AiohttpWeChatGateway],
    caplog: pytest.LogCaptureFixture,
    answer: bytes,
) -> None:
    caplog.set_level(logging.DEBUG)
    wechat, gateway = scripted
    wechat.body = answer
    code = "secret-code-77"

    with pytest.raises(WeChatError) as raised:
        await gateway.code_to_session(code)

    text = exposed_text(raised.value) + caplog.text
    for secret in (SESSION_KEY, OPENID, SIM_SECRET, code):
        assert secret not in text


async def test_no_error_from_an_unreachable_wechat_shows_the_secret_or_the_code(
    tls_simulator: tuple[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    secret, code = "S3cr3t-never-shown", "code-never-shown"
    errors: list[WeChatFailure] = []
    for base_url in (closed, tls_simulator[0]):
        async with open_gateway(base_url, secret=secret) as gateway:
            with pytest.raises(WeChatError) as raised:
                await gateway.code_to_session(code)
            errors.append(raised.value)

    text = "".join(exposed_text(error) for error in errors) + caplog.text
    assert secret not in text
    assert code not in text


# ---- the simulator itself ------------------------------------------------------------------


async def sim_get(base_url: str, **params: str) -> dict[str, object]:
    query = {
        "appid": SIM_APPID,
        "secret": SIM_SECRET,
        "js_code": "alice:1",
        "grant_type": "authorization_code",
        **params,
    }
    query = {key: value for key, value in query.items() if value != "-"}
    async with (
        aiohttp.ClientSession() as client,
        client.get(f"{base_url}/sns/jscode2session", params=query) as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "text/plain"
        answer: dict[str, object] = orjson.loads(await resp.read())
        return answer


@pytest.mark.parametrize(
    ("params", "errcode"),
    [
        ({"appid": "-"}, 41002),
        ({"appid": "wx-other"}, 40013),
        ({"secret": "-"}, 41004),
        ({"secret": "nope"}, 40125),
        ({"grant_type": "client_credential"}, 40002),
        ({"js_code": "-"}, 41008),
        ({"js_code": "invalid"}, 40029),
    ],
)
async def test_the_simulator_checks_requests_like_wechat(
    wechat_simulator: RunningSimulator, params: dict[str, str], errcode: int
) -> None:
    answer = await sim_get(wechat_simulator.base_url, **params)

    assert int(answer["errcode"]) == errcode  # type: ignore[call-overload]
    assert re.search(r", rid: [0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$", str(answer["errmsg"]))


async def test_the_simulator_varies_its_bodies_like_wechat(
    wechat_simulator: RunningSimulator,
) -> None:
    successes = [await sim_get(wechat_simulator.base_url, js_code=f"u{i}:1") for i in range(24)]
    errors = [await sim_get(wechat_simulator.base_url, js_code=f"invalid{i}") for i in range(24)]

    assert {type(answer.get("errcode")) for answer in successes} == {type(None), int}
    assert {type(answer["errcode"]) for answer in errors} == {int, str}


async def test_the_simulator_derives_openids_and_rotates_session_keys(
    wechat_simulator: RunningSimulator, wechat_gateway: AiohttpWeChatGateway
) -> None:
    first = await wechat_gateway.code_to_session("u-dave:1")
    second = await wechat_gateway.code_to_session("u-dave:2")
    other_app = WeChatSimulator(appid="wx-other-app")

    assert first.openid == second.openid == wechat_simulator.sim.openid_for("u-dave")
    assert len(first.openid) == 28
    assert first.openid != other_app.openid_for("u-dave")
    assert first.unionid == second.unionid
    assert first.unionid is not None
    assert first.unionid.startswith("oU")
    assert len(first.unionid) == 28
    assert len(first.session_key) == 24
    assert first.session_key != second.session_key


async def test_the_simulator_counts_calls_and_resets_over_http(
    wechat_simulator: RunningSimulator, wechat_gateway: AiohttpWeChatGateway
) -> None:
    await wechat_gateway.code_to_session("alice:1")
    async with aiohttp.ClientSession(base_url=wechat_simulator.base_url) as client:
        async with client.get("/__sim/stats") as resp:
            stats = await resp.json()
        async with client.post("/__sim/reset") as resp:
            assert resp.status == 200

    await wechat_gateway.code_to_session("alice:1")  # usable again after the reset

    assert stats == {"calls": 1}
    assert wechat_simulator.sim.calls == 1


async def test_the_simulator_adds_its_latency(
    wechat_simulator: RunningSimulator, wechat_gateway: AiohttpWeChatGateway
) -> None:
    wechat_simulator.sim.latency = 0.1
    started = time.monotonic()

    await wechat_gateway.code_to_session("alice:1")

    assert time.monotonic() - started >= 0.1


async def test_the_simulator_stops_promptly_while_a_call_hangs() -> None:
    sim = WeChatSimulator(appid=SIM_APPID, secret=SIM_SECRET)
    async with asynccontextmanager(open_client_session)(timeout=5.0) as session:
        async with run_simulator(sim) as base_url:
            gateway = AiohttpWeChatGateway(
                session, base_url=base_url, appid=SIM_APPID, secret=SIM_SECRET, timeout=5.0
            )
            call = asyncio.ensure_future(gateway.code_to_session("hang-forever"))
            while sim.calls == 0:
                await asyncio.sleep(0.01)
            started = time.monotonic()
        stopped_in = time.monotonic() - started
        with pytest.raises(WeChatFailure):
            await call

    assert stopped_in < 1.5


async def test_the_simulator_runs_as_a_program() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.wechat.simulator",
        "--port",
        "0",
        "--appid",
        SIM_APPID,
        "--secret",
        SIM_SECRET,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode()
        base_url = re.search(r"http://127\.0\.0\.1:\d+$", line.strip())
        assert base_url is not None, line
        async with open_gateway(base_url.group()) as gateway:
            session = await gateway.code_to_session("alice:1")
        assert session.openid == WeChatSimulator(appid=SIM_APPID).openid_for("alice")
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 5) == 0


# ---- the client session resource ----------------------------------------------------------


async def test_the_client_session_is_closed_at_the_end() -> None:
    async with asynccontextmanager(open_client_session)(timeout=1.0, limit=7) as session:
        assert not session.closed
        assert session.connector is not None
        assert session.connector.limit == 7
        assert session.timeout.total == 1.0

    assert session.closed
