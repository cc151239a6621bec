"""No secret reaches a log line: the redacting filter on its own, then every error path of the
service driven at ``LOG_LEVEL=DEBUG`` through ``configure_logging`` with the captured output
scanned for the app secret, session_keys, tokens, the access token and encryptedData."""

from __future__ import annotations

import base64
import io
import logging
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from dependency_injector import providers

from adapters.redis.sessions import RedisSessionStore
from entrypoints.logs import JsonFormatter, configure_logging
from entrypoints.redaction import REDACTED, RedactingFilter
from settings import Settings
from tests.fixtures.redis_server import RedisServer
from tests.fixtures.wechat_simulator import SIM_SECRET
from tests.reliability.conftest import Simulated, call, login, service_env
from tests.serving import make_container, serve

ADMIN_TOKEN = "admin-token-0123456789abcdef-01234567"


def random_session_key() -> str:
    return base64.b64encode(secrets.token_bytes(16)).decode()


def record(msg: Any, *args: Any, exc: BaseException | None = None, **extra: Any
           ) -> logging.LogRecord:
    made = logging.makeLogRecord({"msg": msg, "args": args or None, "levelno": logging.ERROR})
    if exc is not None:
        made.exc_info = (type(exc), exc, exc.__traceback__)
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def rendered(made: logging.LogRecord) -> str:
    """The record as the service's handler would write it, after the filter."""
    assert RedactingFilter(["app-secret-value"]).filter(made) is True
    return JsonFormatter().format(made) + str(made.exc_text) + str(made.stack_info)


class TestTheFilter:
    key = random_session_key()
    token = secrets.token_urlsafe(32)
    access_token = secrets.token_urlsafe(96)
    encrypted = base64.b64encode(secrets.token_bytes(96)).decode()

    def assert_clean(self, text: str) -> None:
        for secret in (self.key, self.token, self.access_token, self.encrypted, "app-secret-value"):
            assert secret not in text
        assert REDACTED in text

    def test_it_masks_the_formatted_message_whatever_the_notation(self) -> None:
        url = "https://api.weixin.qq.com/sns/jscode2session?appid=wx1&secret=app-secret-value"
        self.assert_clean(rendered(record(
            "%s %s %r Authorization: Bearer %s access_token=%s",
            url, {"session_key": self.key}, {"encryptedData": self.encrypted}, self.token,
            self.access_token,
        )))

    def test_it_masks_secrets_that_carry_no_label(self) -> None:
        self.assert_clean(rendered(record(
            f"lost {self.key} {self.token} {self.access_token} {self.encrypted} app-secret-value"
        )))

    def test_it_masks_extra_fields_by_name_and_by_shape_however_nested(self) -> None:
        self.assert_clean(rendered(record(
            "call", session_key="short", body={"params": [{"token": "x"}, self.encrypted]},
            raw=self.access_token.encode(), obj=ValueError(self.key),
        )))

    def test_it_masks_the_exception_text_and_the_stack(self) -> None:
        try:
            raise RuntimeError(f"boom {self.token} {self.key}") from KeyError(self.access_token)
        except RuntimeError as error:
            made = record("failed", exc=error)
        made.stack_info = f"Stack (most recent call last): {self.encrypted}"
        text = rendered(made)
        self.assert_clean(text)
        assert "RuntimeError" in text  # the traceback itself stays

    def test_it_leaves_what_is_not_secret_alone(self) -> None:
        plain = ("POST /api/v1/me/session-key 503 request_id=9f86d081884c7d659a2feaa0c55ad015 "
                 "code=invalid_request WeChat jscode2session answered errcode 40029 "
                 'File "/work/main/.venv/lib/python3.11/site-packages/sanic/app.py", line 1385')
        made = record(plain, event="request", route="/api/v1/me/session-key", status=503)
        assert RedactingFilter().filter(made)
        assert made.getMessage() == plain
        assert (made.event, made.route, made.status) == ("request", "/api/v1/me/session-key", 503)

    def test_masking_twice_changes_nothing_more(self) -> None:
        masking = RedactingFilter(["app-secret-value"])
        once = masking.redact(f"secret=app-secret-value {{'session_key': '{self.key}'}}")
        assert masking.redact(once) == once

    def test_it_knows_the_configured_secrets_and_passwords(self) -> None:
        masking = RedactingFilter.from_environ({
            "WECHAT_SECRET": "0123456789abcdef0123456789abcdef", "ADMIN_TOKEN": ADMIN_TOKEN,
            "DATABASE_URL": "mysql+aiomysql://weapp:db-password-1@db/weapp",
            "REDIS_URL": "redis://:redis-password-1@cache:6379/0",
        })
        text = masking.redact(f"0123456789abcdef0123456789abcdef {ADMIN_TOKEN} "
                              "db-password-1 redis-password-1")
        assert text == " ".join([REDACTED] * 4)

    def test_it_knows_the_session_secret(self) -> None:
        masking = RedactingFilter.from_environ({"SESSION_SECRET": "correct horse battery staple"})

        assert masking.redact("using correct horse battery staple") == f"using {REDACTED}"


@pytest.fixture
def captured_logs(monkeypatch: pytest.MonkeyPatch, redis_url: str, mariadb_url: str
                  ) -> Iterator[io.StringIO]:
    """What ``configure_logging("DEBUG")`` writes, as the service configures it; the logging
    set-up of the test run is restored afterwards."""
    for name, value in {"WECHAT_SECRET": SIM_SECRET, "ADMIN_TOKEN": ADMIN_TOKEN,
                        "REDIS_URL": redis_url, "DATABASE_URL": mariadb_url}.items():
        monkeypatch.setenv(name, value)
    output = io.StringIO()
    monkeypatch.setattr(sys, "stdout", output)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    sanic_loggers = [logging.getLogger(name) for name in
                     ("sanic.root", "sanic.error", "sanic.access", "sanic.server")]
    saved_sanic = [(each.handlers[:], each.propagate) for each in sanic_loggers]
    configure_logging("DEBUG")
    try:
        yield output
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        for each, (handlers, propagate) in zip(sanic_loggers, saved_sanic, strict=True):
            each.handlers[:] = handlers
            each.propagate = propagate


class LeakySessionStore(RedisSessionStore):
    """The Redis store, made careless on demand: it logs what it holds and fails with it."""

    leak: list[str] = []

    async def session_key(self, user_id: int, app: str) -> str | None:
        key = await super().session_key(user_id, app)
        if self.leak:
            logging.getLogger("adapters.careless").debug(
                "state %s", {"session_key": key, "secrets": self.leak},
                extra={"dump": {"key": key, "all": self.leak}},
            )
            raise RuntimeError(f"cannot use {key} with {' '.join(self.leak)}")
        return key


def encrypt(key: str, data: Any) -> dict[str, str]:
    iv = secrets.token_bytes(16)
    padder = padding.PKCS7(128).padder()
    plain = padder.update(orjson.dumps(data)) + padder.finalize()
    encryptor = Cipher(algorithms.AES(base64.b64decode(key)), modes.CBC(iv)).encryptor()
    sealed = encryptor.update(plain) + encryptor.finalize()
    return {"encrypted_data": base64.b64encode(sealed).decode(),
            "iv": base64.b64encode(iv).decode()}


@pytest.mark.integration
async def test_no_error_path_writes_a_secret_to_the_logs_at_debug_level(
    captured_logs: io.StringIO, redis_server: RedisServer, redis_url: str, mariadb_url: str,
    simulator: Simulated,
) -> None:
    sim = simulator.sim
    sim.templates["tmpl-1"] = {"thing1"}
    env = service_env(wechat=simulator.base_url, redis_url=redis_url, database_url=mariadb_url,
                      WECHAT_TIMEOUT_SECONDS="0.5", ADMIN_TOKEN=ADMIN_TOKEN, LOG_LEVEL="DEBUG")
    container = make_container(env)
    container.session_store.override(providers.Singleton(
        LeakySessionStore,
        container.redis_client,
        session_secret=container.config.session_secret,
        registry=container.redis_code_registry,
    ))
    tokens: list[str] = []
    async with serve(container) as url, aiohttp.ClientSession() as http:
        # WeChat's failures at login.
        for code in ["invalid-1", "blocked-1", "busy-1", "quota-1", "error-1", "garbage-1",
                     "http500-1", "nokey-1", "hang-1"]:
            assert (await login(http, url, code)).status >= 400
        alice = await login(http, url, "alice:1")
        tokens.append(alice.body["token"])
        key = sim.session_keys[sim.openid_for("alice")]

        # The platform's: a code WeChat refuses, a busy WeChat, a refused access token.
        for code in ["invalid-phone", "busy-phone"]:
            await call(http, "POST", f"{url}/api/v1/me/phone", token=tokens[0],
                       json={"code": code})
        assert (await call(http, "GET", f"{url}/api/v1/me/session-key",
                           token=tokens[0])).status == 200
        access_tokens = list(sim._access_tokens)
        refuse = sim._token_error
        sim._token_error = lambda request: 40001
        assert (await call(http, "POST", f"{url}/api/v1/admin/messages", token=ADMIN_TOKEN,
                           json={"user_id": alice.body["user"]["id"], "template_id": "tmpl-1",
                                 "data": {"thing1": {"value": "x"}}})).status == 502
        sim._token_error = refuse
        access_tokens += list(sim._access_tokens)

        # Decryption: bad padding, a stale key, another app's data, a wrong signature.
        garbage = base64.b64encode(secrets.token_bytes(64)).decode()
        other_key = random_session_key()
        sealed = [
            {"encrypted_data": garbage, "iv": base64.b64encode(secrets.token_bytes(16)).decode()},
            encrypt(other_key, {"watermark": {"appid": "wx-test-app"}}),
            encrypt(key, {"watermark": {"appid": "wx-other"}}),
            {**encrypt(key, {"watermark": {"appid": "wx-test-app"}}), "raw_data": "{}",
             "signature": "0" * 40},
        ]
        for body in sealed:
            answer = await call(http, "POST", f"{url}/api/v1/me/decrypt", token=tokens[0],
                                json=body)
            assert answer.status == 422

        # An unhandled error whose message and log call carry every secret there is.
        encrypted = sealed[1]["encrypted_data"]
        LeakySessionStore.leak = [tokens[0], *access_tokens, SIM_SECRET, encrypted, other_key]
        try:
            answer = await call(http, "POST", f"{url}/api/v1/me/decrypt", token=tokens[0],
                                json=sealed[1])
        finally:
            LeakySessionStore.leak = []
        assert answer.status == 500

        # The stores' failures.
        redis_server.stop()
        try:
            for path in ["/api/v1/me", "/readyz"]:
                await call(http, "GET", f"{url}{path}", token=tokens[0])
            await login(http, url, "alice:2")
        finally:
            redis_server.start()

    logs = captured_logs.getvalue()
    lines = [orjson.loads(line) for line in logs.splitlines()]
    assert any(line.get("event") == "unhandled_error" for line in lines)
    leaked = {
        "app secret": [SIM_SECRET], "admin token": [ADMIN_TOKEN],
        "tokens (their random part)": [token.rpartition(".")[2] for token in tokens],
        "access tokens": access_tokens, "session keys": [key, other_key],
        "encryptedData": [garbage, *(body["encrypted_data"] for body in sealed)],
    }
    assert access_tokens
    found = {kind: [v for v in values if v in logs] for kind, values in leaked.items()}
    assert found == {kind: [] for kind in leaked}
    assert REDACTED in logs
    print(f"redaction: {len(lines)} log lines at DEBUG, {logs.count(REDACTED)} masks, "
          "no secret", file=sys.__stdout__)  # sys.stdout is the captured log here


def test_the_service_installs_the_filter_on_its_log_handler(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("INFO")
        assert any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)



def test_secrets_read_from_files_are_masked_too(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    """A secret that came from ``*_FILE`` (or ``.env``) is not in the environment: the filter
    learns it from the settings, as ``python -m entrypoints`` passes them."""
    secret_file = tmp_path / "session-secret"
    secret_file.write_text("file-session-secret-0123456789abcdef\n")
    settings = Settings.from_env({"SESSION_SECRET_FILE": str(secret_file),
                                  "DATABASE_URL": "mysql+aiomysql://u:file-db-password@db/w"})
    output = io.StringIO()
    monkeypatch.setattr(sys, "stdout", output)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging("INFO", settings.secret_values())
        logging.getLogger("weapp_login").warning(
            "leaked file-session-secret-0123456789abcdef and file-db-password")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    line = output.getvalue()
    assert "file-session-secret" not in line
    assert "file-db-password" not in line
    assert line.count(REDACTED) == 2
