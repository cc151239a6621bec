"""Where settings come from: the environment, over a ``.env`` file; a secret also from the file
named by ``<NAME>_FILE``. Errors name the variable and never quote a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import ConfigError, Settings
from settings.fields import SECRETS

SECRET = "file-secret-0123456789abcdef-0123456789"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory and an environment without the variables used here."""
    monkeypatch.chdir(tmp_path)
    for name in ("PORT", "WORKERS", "LOG_LEVEL", "REDIS_URL", *SECRETS,
                 *(f"{name}_FILE" for name in SECRETS)):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_a_dot_env_file_fills_what_the_environment_leaves_unset(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / ".env").write_text("PORT=9000\nLOG_LEVEL=debug\nNOT_OURS=1\n")
    monkeypatch.setenv("LOG_LEVEL", "warning")

    settings = Settings.from_env()

    assert (settings.port, settings.log_level) == (9000, "WARNING")


def test_a_bad_value_in_dot_env_names_its_variable(workdir: Path) -> None:
    (workdir / ".env").write_text("WORKERS=many\n")
    with pytest.raises(ConfigError, match=r"^WORKERS: expected a whole number"):
        Settings.from_env()


def test_a_given_mapping_is_read_alone(workdir: Path) -> None:
    (workdir / ".env").write_text("PORT=9000\n")
    assert Settings.from_env({}).port == 8000


@pytest.mark.parametrize("from_process", [False, True])
def test_a_secret_comes_from_its_file_without_the_trailing_newline(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, from_process: bool
) -> None:
    (workdir / "token").write_text(SECRET + "\n")
    environ = {"ADMIN_TOKEN_FILE": str(workdir / "token"),
               "SESSION_SECRET_FILE": str(workdir / "token")}
    if from_process:
        for name, value in environ.items():
            monkeypatch.setenv(name, value)

    settings = Settings.from_env() if from_process else Settings.from_env(environ)

    assert settings.admin_token == settings.session_secret == SECRET


def test_a_secret_file_may_be_named_in_dot_env(workdir: Path) -> None:
    (workdir / "wechat").write_text(SECRET)
    (workdir / ".env").write_text(f"WECHAT_APPID=wx1\nWECHAT_SECRET_FILE={workdir / 'wechat'}\n")
    assert Settings.from_env().wechat_secret == SECRET


@pytest.mark.parametrize("name", SECRETS)
def test_a_secret_and_its_file_together_are_refused(workdir: Path, name: str) -> None:
    (workdir / "secret").write_text(SECRET)
    environ = {name: "x" * 40, f"{name}_FILE": str(workdir / "secret")}

    with pytest.raises(ConfigError, match=f"^{name}: ") as refused:
        Settings.from_env(environ)
    assert SECRET not in str(refused.value)
    assert "x" * 40 not in str(refused.value)


def test_an_unreadable_secret_file_names_the_file_variable(workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SESSION_SECRET_FILE: cannot read"):
        Settings.from_env({"SESSION_SECRET_FILE": str(workdir / "missing")})


def test_a_bad_secret_from_a_file_is_refused_without_quoting_it(workdir: Path) -> None:
    (workdir / "token").write_text("not a token! " * 4)
    with pytest.raises(ConfigError, match=r"^ADMIN_TOKEN: ") as refused:
        Settings.from_env({"ADMIN_TOKEN_FILE": str(workdir / "token")})
    assert "not a token" not in str(refused.value)
