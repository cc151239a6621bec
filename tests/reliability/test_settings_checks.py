"""Settings that a client could not use, or that contradict each other, stop the service at
start with one line naming the variable (and never quoting a secret)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sanic.compat import Header

from domain.errors import Unauthorized
from entrypoints.http import token_of
from settings import ConfigError, Settings

TOKEN = "t" * 32
PRODUCTION = {"APP_ENV": "production", "WECHAT_APPID": "wx1", "WECHAT_SECRET": "s" * 32}


def refusal(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env(environ)
    [line] = str(refused.value).splitlines()
    return line


def sent_as_bearer_is_accepted(token: str) -> bool:
    request: Any = SimpleNamespace(headers=Header({"authorization": f"Bearer {token}"}))
    try:
        token_of(request)
    except Unauthorized:
        return False
    return True


# ---- Finding 5: a configured token is one a client can send ---------------------------------


@pytest.mark.parametrize("variable", ["ADMIN_TOKEN", "SERVICE_TOKEN"])
@pytest.mark.parametrize(
    "token",
    ["!" + "a" * 40, "a" * 20 + "#" + "a" * 20, "a" * 20 + " " + "a" * 20, "a" * 513, "é" * 40,
     "a" * 31],
)
def test_a_token_a_client_cannot_send_is_refused_without_quoting_it(
    variable: str, token: str
) -> None:
    line = refusal({variable: token})

    assert line.startswith(f"{variable}: ")
    assert "32 to 512" in line
    assert token.strip() not in line


@pytest.mark.parametrize(
    "token",
    ["a" * 32, "a" * 512, "A-z.0_9~+/=" * 3, "!" + "a" * 40, "a" * 20 + "#" + "a" * 20,
     "a" * 513, "a" * 31],
)
def test_the_settings_accept_a_token_exactly_when_the_authorization_parser_does(
    token: str
) -> None:
    try:
        configured = Settings.from_env({"ADMIN_TOKEN": token}).admin_token == token
    except ConfigError:
        configured = False

    # The parser also takes longer tokens (a signed access token may be up to 1024 characters);
    # a configured one is 32 to 512, so each accepted at start is one a client can send.
    assert configured == (sent_as_bearer_is_accepted(token) and 32 <= len(token) <= 512)


def test_a_service_token_reaches_the_container() -> None:
    config = Settings.from_env({"SERVICE_TOKEN": TOKEN}).as_config()
    assert (config["service_token"], config["admin_token"]) == (TOKEN, None)


# ---- Finding 7: contradictory settings --------------------------------------------------------


@pytest.mark.parametrize("timeout", ["14", "20", "29.9", "60"])
def test_a_wechat_timeout_that_outlasts_the_response_timeout_is_refused(timeout: str) -> None:
    assert refusal({"WECHAT_TIMEOUT_SECONDS": timeout}).startswith("WECHAT_TIMEOUT_SECONDS: ")


@pytest.mark.parametrize("timeout", ["0.05", "3", "13.9"])
def test_every_wait_on_wechat_fits_in_the_response_timeout(timeout: str) -> None:
    config = Settings.from_env({"WECHAT_TIMEOUT_SECONDS": timeout}).as_config()

    waits = [config["code_pending_seconds"],
             config["token"]["wait_seconds"] + config["wechat_timeout_seconds"]]
    assert max(waits) < config["response_timeout_seconds"] == 30


@pytest.mark.parametrize("variable", ["SESSION_MAX_AGE_SECONDS", "SESSION_TTL_SECONDS"])
@pytest.mark.parametrize("value", ["315360001", "140000000000", "9" * 40])
def test_a_session_lifetime_over_ten_years_is_refused(variable: str, value: str) -> None:
    assert refusal({variable: value}).startswith(f"{variable}: ")


def test_ten_years_is_allowed() -> None:
    settings = Settings.from_env({"SESSION_MAX_AGE_SECONDS": "315360000"})
    assert settings.session_max_age_seconds == 10 * 365 * 86_400


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"METRICS_PORT": "8000"}, "METRICS_PORT"),
        ({"PORT": "9100", "METRICS_PORT": "9100"}, "METRICS_PORT"),
        ({"METRICS_PORT": "0"}, "METRICS_PORT"),
        ({"METRICS_PORT": "65536"}, "METRICS_PORT"),
        ({"METRICS_HOST": "0.0.0.0"}, "METRICS_HOST"),
        ({"REDIS_SENTINEL_PASSWORD": "pw", "REDIS_URL": "redis://h:1/0"},
         "REDIS_SENTINEL_PASSWORD"),
        (PRODUCTION, "SESSION_SECRET"),
        ({"SESSION_SECRET": "s" * 31}, "SESSION_SECRET"),
        ({"REDIS_KEY_PREFIX": "wl staging:"}, "REDIS_KEY_PREFIX"),
        ({"REDIS_KEY_PREFIX": "é:"}, "REDIS_KEY_PREFIX"),
        ({"REDIS_KEY_PREFIX": "p" * 65}, "REDIS_KEY_PREFIX"),
    ],
)
def test_a_bad_or_contradictory_new_setting_is_refused_naming_it(
    environ: dict[str, str], variable: str
) -> None:
    assert refusal(environ).startswith(f"{variable}: ")


def test_a_short_session_secret_is_not_quoted() -> None:
    assert "short-secret" not in refusal({"SESSION_SECRET": "short-secret"})


# ---- The new settings reach the container -----------------------------------------------------


def test_the_new_settings_have_their_defaults() -> None:
    settings = Settings.from_env({})
    config = settings.as_config()

    assert settings.uses_development_session_secret
    assert len(config["session_secret"]) >= 32
    assert (config["redis_key_prefix"], config["metrics_port"], config["metrics_host"]) == (
        "wl:", None, "127.0.0.1"
    )
    assert (config["redis_sentinel_password"], config["service_token"]) == (None, None)
    assert "session_route_secret" not in config


def test_the_new_settings_reach_the_container() -> None:
    settings = Settings.from_env({
        **PRODUCTION, "SESSION_SECRET": "k" * 40, "REDIS_KEY_PREFIX": "staging:{app}:",
        "METRICS_PORT": "9100", "METRICS_HOST": "10.0.0.5",
        "REDIS_SENTINELS": "10.0.0.1:26379", "REDIS_SENTINEL_MASTER": "weapp",
        "REDIS_SENTINEL_PASSWORD": "sentinel-pw",
    })
    config = settings.as_config()

    assert not settings.uses_development_session_secret
    assert config["session_secret"] == "k" * 40
    assert (config["redis_key_prefix"], config["metrics_port"], config["metrics_host"]) == (
        "staging:{app}:", 9100, "10.0.0.5"
    )
    assert config["redis_sentinel_password"] == "sentinel-pw"


def test_no_secret_shows_in_the_settings_repr() -> None:
    shown = repr(Settings.from_env({
        "WECHAT_APPID": "wx1", "WECHAT_SECRET": "wechat-secret-value",
        "SESSION_SECRET": "session-secret-value-0123456789abcdef", "ADMIN_TOKEN": "a" * 32,
        "SERVICE_TOKEN": "b" * 32, "REDIS_SENTINELS": "h:1", "REDIS_SENTINEL_MASTER": "m",
        "REDIS_SENTINEL_PASSWORD": "sentinel-password-value",
    }))
    for value in ("wechat-secret-value", "session-secret-value", "a" * 32, "b" * 32,
                  "sentinel-password-value"):
        assert value not in shown


# ---- The JWT mode's keys ------------------------------------------------------------------------


def _pem_files(tmp_path: Path) -> tuple[Path, Path]:
    key = ed25519.Ed25519PrivateKey.generate()
    private = tmp_path / "signing.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public = tmp_path / "verify.pem"
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def test_jwt_mode_in_production_needs_a_signing_key_file() -> None:
    line = refusal({"TOKEN_FORMAT": "jwt", "APP_ENV": "production", "WECHAT_APPID": "wx1",
                    "WECHAT_SECRET": "s" * 32, "SESSION_SECRET": "x" * 32})
    assert line.startswith("JWT_SIGNING_KEY_FILE: required")


@pytest.mark.parametrize("variable", ["JWT_SIGNING_KEY_FILE", "JWT_VERIFY_KEY_FILES"])
def test_a_missing_or_wrong_key_file_is_refused_naming_the_variable(
    tmp_path: Path, variable: str
) -> None:
    private, public = _pem_files(tmp_path)
    wrong = public if variable == "JWT_SIGNING_KEY_FILE" else private  # the other half
    for given in (str(tmp_path / "missing.pem"), str(wrong)):
        env = {"TOKEN_FORMAT": "jwt", "JWT_SIGNING_KEY_FILE": str(private), variable: given}
        line = refusal(env)
        assert line.startswith(f"{variable}: ")
        assert "PRIVATE KEY" not in line


def test_jwt_keys_reach_the_container_and_opaque_mode_reads_none(tmp_path: Path) -> None:
    private, public = _pem_files(tmp_path)
    env = {"JWT_SIGNING_KEY_FILE": str(private), "JWT_VERIFY_KEY_FILES": f"{public},{public}"}
    config = Settings.from_env({**env, "TOKEN_FORMAT": "jwt"}).as_config()
    assert config["jwt"]["signing_key"] == private.read_text()
    assert config["jwt"]["verify_keys"] == [public.read_text()] * 2
    assert Settings.from_env(env).as_config()["jwt"] == {"signing_key": "", "verify_keys": []}


@pytest.mark.parametrize("value", ["has space", "x" * 201, "é"])
def test_an_issuer_or_audience_a_token_cannot_carry_is_refused(value: str) -> None:
    assert refusal({"TOKEN_ISSUER": value}).startswith("TOKEN_ISSUER: ")


def test_in_development_a_signing_key_is_made_once_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = Settings.from_env({"TOKEN_FORMAT": "jwt"}).as_config()["jwt"]["signing_key"]
    again = Settings.from_env({"TOKEN_FORMAT": "jwt"}).as_config()["jwt"]["signing_key"]

    made = tmp_path / "var" / "jwt-signing-key.pem"
    assert first == again == made.read_text()
    assert made.stat().st_mode & 0o777 == 0o600
    assert isinstance(serialization.load_pem_private_key(made.read_bytes(), None),
                      ed25519.Ed25519PrivateKey)
