"""The apps of ``APPS_FILE`` (TOML), each on one platform: read and checked once at start. Every
mistake stops the start with one line naming the file, the app and the field, never a secret."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from settings import ConfigError, Settings
from settings.apps import DEFAULT_API_BASES, SIMULATOR_APPID

WECHAT_SECRET = "wechat-secret-0123456789abcdef"
DOUYIN_SECRET = "douyin-secret-0123456789abcdef"
WECOM_SECRET = "wecom-secret-0123456789abcdef"
SECRETS = (WECHAT_SECRET, DOUYIN_SECRET, WECOM_SECRET)
Apps = dict[str, dict[str, Any]]


def _key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


APP_KEY, ALIPAY_KEY = _key(), _key()


def private_pem(key: rsa.RSAPrivateKey, form: serialization.PrivateFormat) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


def public_pem(key: rsa.RSAPrivateKey, form: serialization.PublicFormat) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, form)


PKCS8, PKCS1 = serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL
SPKI, RSA_PUBLIC = serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1


def render(apps: Apps) -> str:
    """TOML of ``[apps.<id>]`` tables (JSON strings are TOML basic strings)."""
    lines = []
    for name, fields in apps.items():
        lines.append(f"[apps.{json.dumps(name)}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """Beside the apps file: the credentials its apps name (relative names are found here)."""
    (tmp_path / "shop.secret").write_text(WECHAT_SECRET + "\n")
    (tmp_path / "staff.secret").write_text(WECOM_SECRET + "\r\n")
    (tmp_path / "app-private.pem").write_bytes(private_pem(APP_KEY, PKCS8))
    (tmp_path / "alipay-public.pem").write_bytes(public_pem(ALIPAY_KEY, SPKI))
    return tmp_path


@pytest.fixture
def five(directory: Path) -> Apps:
    return {
        "shop": {"platform": "wechat", "appid": "wx0123456789abcdef", "secret_file": "shop.secret"},
        "shop-douyin": {"platform": "douyin", "appid": "tt0123456789abcdef",
                        "secret": DOUYIN_SECRET},
        "shop-alipay": {"platform": "alipay", "appid": "2021000000000000",
                        "private_key_file": "app-private.pem",
                        "alipay_public_key_file": str(directory / "alipay-public.pem")},
        "staff": {"platform": "wecom", "corpid": "ww0123456789abcdef",
                  "secret_file": str(directory / "staff.secret")},
        "demo": {"platform": "qq", "simulator": True},
    }


def settings_of(directory: Path, apps: Apps | str, **environ: str) -> Settings:
    path = directory / "apps.toml"
    path.write_text(apps if isinstance(apps, str) else render(apps))
    return Settings.from_env({"APPS_FILE": str(path), **environ})


def refusal(directory: Path, apps: Apps | str, **environ: str) -> str:
    with pytest.raises(ConfigError) as refused:
        settings_of(directory, apps, **environ)
    [line] = str(refused.value).splitlines()
    for secret in SECRETS:
        assert secret not in line
    assert "PRIVATE" not in line
    assert "PUBLIC" not in line
    return line


def test_a_five_platform_file_gives_its_apps_in_file_order(directory: Path, five: Apps) -> None:
    apps = settings_of(directory, five).apps

    assert [(app.id, app.platform, app.appid, app.simulator) for app in apps] == [
        ("shop", "wechat", "wx0123456789abcdef", False),
        ("shop-douyin", "douyin", "tt0123456789abcdef", False),
        ("shop-alipay", "alipay", "2021000000000000", False),
        ("staff", "wecom", "ww0123456789abcdef", False),
        ("demo", "qq", "simulator-demo", True),
    ]
    assert [app.api_base for app in apps] == [
        DEFAULT_API_BASES[platform] for platform in ("wechat", "douyin", "alipay", "wecom", "qq")
    ]
    assert [app.secret for app in apps] == [WECHAT_SECRET, DOUYIN_SECRET, None, WECOM_SECRET, None]
    alipay = apps[2]
    assert alipay.private_key == private_pem(APP_KEY, PKCS8).decode()
    assert alipay.alipay_public_key == public_pem(ALIPAY_KEY, SPKI).decode()


def test_the_container_gets_the_apps_as_plain_dicts(directory: Path, five: Apps) -> None:
    settings = settings_of(directory, five)
    config = settings.as_config()

    assert [app["id"] for app in config["apps"]] == list(five)
    assert config["apps"][0] == {
        "id": "shop", "platform": "wechat", "appid": "wx0123456789abcdef",
        "api_base": "https://api.weixin.qq.com", "simulator": False, "secret": WECHAT_SECRET,
        "private_key": None, "alipay_public_key": None,
    }
    # The first WeChat app is the deployment's: the users and tokens of before apps are its.
    assert config["wechat"] == {"appid": "wx0123456789abcdef"}
    assert config["legacy_app"] == "shop"
    # Release 0.1.0's tokens are routed by that app's secret: read beside the new ones.
    assert (config["legacy_sessions"], config["legacy_wechat_secret"]) == ("on", WECHAT_SECRET)
    assert {WECHAT_SECRET, DOUYIN_SECRET, WECOM_SECRET} <= set(settings.secret_values())


def test_secrets_and_keys_stay_out_of_repr(directory: Path, five: Apps) -> None:
    shown = repr(settings_of(directory, five).apps)
    assert "shop-alipay" in shown
    for secret in SECRETS:
        assert secret not in shown
    assert "PRIVATE KEY" not in shown


def test_a_secret_file_loses_its_trailing_newline_only(directory: Path, five: Apps) -> None:
    (directory / "shop.secret").write_text(f"  {WECHAT_SECRET}\n\n")
    assert settings_of(directory, five).apps[0].secret == f"  {WECHAT_SECRET}"


@pytest.mark.parametrize(
    ("private_form", "public_form"),
    [(PKCS8, SPKI), (PKCS1, RSA_PUBLIC), (PKCS1, SPKI), ("base64", "base64")],
)
def test_alipay_keys_are_read_in_either_format(
    directory: Path, five: Apps, private_form: Any, public_form: Any
) -> None:
    """PEM, PKCS#1 or PKCS#8; or the bare base64 of the DER form that Alipay's tools show."""
    if private_form == "base64":
        der = serialization.Encoding.DER
        private = APP_KEY.private_bytes(der, PKCS1, serialization.NoEncryption())
        public = ALIPAY_KEY.public_key().public_bytes(der, SPKI)
        five["shop-alipay"].pop("private_key_file")
        five["shop-alipay"]["private_key"] = base64.b64encode(private).decode()
        (directory / "alipay-public.pem").write_bytes(base64.b64encode(public) + b"\n")
    else:
        (directory / "app-private.pem").write_bytes(private_pem(APP_KEY, private_form))
        (directory / "alipay-public.pem").write_bytes(public_pem(ALIPAY_KEY, public_form))

    alipay = settings_of(directory, five).apps[2]

    assert alipay.private_key == private_pem(APP_KEY, PKCS8).decode()
    assert alipay.alipay_public_key == public_pem(ALIPAY_KEY, SPKI).decode()


def _set(app: str, **fields: Any) -> Callable[[Apps, Path], None]:
    def change(apps: Apps, directory: Path) -> None:
        for key, value in fields.items():
            if value is None:
                apps[app].pop(key, None)
            else:
                apps[app][key] = value

    return change


def _write(name: str, content: bytes) -> Callable[[Apps, Path], None]:
    def change(apps: Apps, directory: Path) -> None:
        (directory / name).write_bytes(content)

    return change


ENCRYPTED = APP_KEY.private_bytes(
    serialization.Encoding.PEM, PKCS8, serialization.BestAvailableEncryption(b"passphrase")
)
MISTAKES: list[tuple[str, Callable[[Apps, Path], None], str]] = [
    ("platform missing", _set("shop", platform=None), "apps.shop.platform: missing"),
    ("platform unknown", _set("shop", platform="weixin"), "apps.shop.platform: unknown platform"),
    ("field unknown", _set("shop", secrte="x"), "apps.shop.secrte: unknown field for wechat"),
    ("corpid on wechat", _set("shop", corpid="ww1"), "apps.shop.corpid: unknown field"),
    ("appid on wecom", _set("staff", appid="ww1"), "apps.staff.appid: unknown field"),
    ("key on wechat", _set("shop", private_key="k"), "apps.shop.private_key: unknown field"),
    ("secret on alipay", _set("shop-alipay", secret="s"), "apps.shop-alipay.secret: unknown"),
    ("appid missing", _set("shop", appid=None), "apps.shop.appid: missing"),
    ("corpid missing", _set("staff", corpid=None), "apps.staff.corpid: missing"),
    ("appid with spaces", _set("shop", appid="wx 1"), "apps.shop.appid: must be 1-64"),
    ("appid not text", _set("shop", appid=12), "apps.shop.appid: must be a string"),
    ("secret missing", _set("shop", secret_file=None), "apps.shop.secret: missing; set secret"),
    ("secret twice", _set("shop", secret=WECHAT_SECRET), "apps.shop.secret: set either secret"),
    ("secret empty", _set("shop-douyin", secret=" "), "apps.shop-douyin.secret: is empty"),
    ("secret file missing", _set("shop", secret_file="nowhere"),
     "apps.shop.secret_file: cannot be read ('nowhere': No such file or directory)"),
    ("secret file empty", _write("shop.secret", b"\n"), "apps.shop.secret_file: is empty"),
    ("secret file binary", _write("shop.secret", b"\xff\xfe"), "apps.shop.secret_file: is not UTF"),
    ("private key missing", _set("shop-alipay", private_key_file=None),
     "apps.shop-alipay.private_key: missing"),
    ("public key missing", _set("shop-alipay", alipay_public_key_file=None),
     "apps.shop-alipay.alipay_public_key: missing"),
    ("private key unreadable", _set("shop-alipay", private_key_file="gone.pem"),
     "apps.shop-alipay.private_key_file: cannot be read"),
    ("private key invalid", _write("app-private.pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"),
     "apps.shop-alipay.private_key_file: is not an RSA private key"),
    ("private key is public", _write("app-private.pem", public_pem(APP_KEY, SPKI)),
     "apps.shop-alipay.private_key_file: is not an RSA private key"),
    ("private key encrypted", _write("app-private.pem", ENCRYPTED),
     "apps.shop-alipay.private_key_file: is encrypted"),
    ("private key short", _write("app-private.pem", private_pem(_key(1024), PKCS8)),
     "apps.shop-alipay.private_key_file: is an RSA key of 1024 bits"),
    ("private key inline junk", _set("shop-alipay", private_key_file=None, private_key="x!"),
     "apps.shop-alipay.private_key: is not an RSA private key"),
    ("public key invalid", _write("alipay-public.pem", b"not a key"),
     "apps.shop-alipay.alipay_public_key_file: is not an RSA public key"),
    ("public key is the app's", _write("alipay-public.pem", public_pem(APP_KEY, SPKI)),
     "apps.shop-alipay.alipay_public_key_file: is the app's own public key"),
    ("api_base not a URL", _set("shop", api_base="api.weixin.qq.com"),
     "apps.shop.api_base: expected an https URL"),
    ("api_base with a query", _set("shop", api_base="https://a.example/?x=1"),
     "apps.shop.api_base: expected"),
    ("api_base bad port", _set("shop", api_base="https://a.example:99999"),
     "apps.shop.api_base: expected"),
    ("simulator not bool", _set("demo", simulator="yes"),
     "apps.demo.simulator: must be true or false"),
    ("simulator with a secret", _set("demo", secret="s"),
     "apps.demo.secret: a simulator app takes no credentials"),
    ("same appid twice", _set("demo", simulator=None, appid="wx0123456789abcdef",
                              platform="wechat", secret="s"),
     "apps.demo.appid: the same wechat app as apps.shop"),
]


@pytest.mark.parametrize(("change", "expected"), [m[1:] for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])
def test_a_mistake_in_an_app_stops_the_start_with_one_line(
    directory: Path, five: Apps, change: Callable[[Apps, Path], None], expected: str
) -> None:
    change(five, directory)
    line = refusal(directory, five)
    assert line.startswith(f"APPS_FILE {directory / 'apps.toml'}: {expected}")


def test_the_same_appid_on_two_platforms_is_two_apps(directory: Path, five: Apps) -> None:
    five["demo"] = {"platform": "qq", "appid": "wx0123456789abcdef", "secret": "s"}
    assert len(settings_of(directory, five).apps) == 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[apps.shop\nplatform = 1\n", "is not valid TOML: "),
        ("[other]\n", "other: unknown field"),
        ("", "apps: no app"),
        ("apps = 3\n", "apps: no app"),
        ('[apps.Shop]\nplatform = "qq"\n', "apps.Shop: an app id is 1-32 of a-z 0-9 _ -"),
        ('[apps."-shop"]\nplatform = "qq"\n', "apps.-shop: an app id is"),
        (f'[apps.{"a" * 33}]\nplatform = "qq"\n', f"apps.{'a' * 33}: an app id is"),
        ('[apps."a b"]\nplatform = "qq"\n', "apps.'a b': an app id is"),
        ("[apps]\nshop = 1\n", "apps.shop: must be a table"),
    ],
)
def test_a_file_that_is_not_a_list_of_apps_stops_the_start(
    directory: Path, text: str, expected: str
) -> None:
    assert refusal(directory, text).startswith(f"APPS_FILE {directory / 'apps.toml'}: {expected}")


@pytest.mark.parametrize("name", ["missing.toml", "."])
def test_a_file_that_cannot_be_read_stops_the_start(directory: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=rf"^APPS_FILE {directory / name}: cannot be read: "):
        Settings.from_env({"APPS_FILE": str(directory / name)})


@pytest.mark.parametrize(
    "shorthand",
    [{"WECHAT_APPID": "wx1", "WECHAT_SECRET": WECHAT_SECRET}, {"WECHAT_SECRET": WECHAT_SECRET},
     {"WECHAT_API_BASE": "https://a.example"}],
)
def test_apps_file_and_the_one_app_shorthand_together_stop_the_start(
    directory: Path, five: Apps, shorthand: dict[str, str]
) -> None:
    line = refusal(directory, five, **shorthand)
    assert line.startswith(f"APPS_FILE {directory / 'apps.toml'}: {next(iter(shorthand))}: ")


def test_the_shorthand_secret_from_its_file_counts_too(directory: Path, five: Apps) -> None:
    line = refusal(directory, five, WECHAT_SECRET_FILE=str(directory / "shop.secret"))
    assert ": WECHAT_SECRET: the one-app shorthand" in line


def test_production_refuses_a_simulator_app(directory: Path, five: Apps) -> None:
    line = refusal(directory, five, APP_ENV="production", SESSION_SECRET="s" * 32)
    assert line.endswith(": apps.demo.simulator: refused when APP_ENV=production "
                         "(it is for development)")


def test_production_refuses_plain_http_but_development_takes_it(
    directory: Path, five: Apps
) -> None:
    del five["demo"]
    five["shop-douyin"]["api_base"] = "http://127.0.0.1:9000/"
    production = {"APP_ENV": "production", "SESSION_SECRET": "s" * 32}

    assert settings_of(directory, five).apps[1].api_base == "http://127.0.0.1:9000"
    line = refusal(directory, five, **production)
    assert line.endswith(": apps.shop-douyin.api_base: must be https when APP_ENV=production")
    five["shop-douyin"]["api_base"] = "https://sandbox.example/"
    assert settings_of(directory, five, **production).apps[1].api_base == "https://sandbox.example"


def test_without_apps_file_the_shorthand_is_the_one_app_default() -> None:
    settings = Settings.from_env({"WECHAT_APPID": "wx1", "WECHAT_SECRET": WECHAT_SECRET,
                                  "WECHAT_API_BASE": "http://127.0.0.1:9000/"})

    [app] = settings.apps
    assert (app.id, app.platform, app.appid, app.secret) == ("default", "wechat", "wx1",
                                                            WECHAT_SECRET)
    assert (app.api_base, app.simulator) == ("http://127.0.0.1:9000", False)
    config = settings.as_config()
    assert config["wechat"] == {"appid": "wx1"}
    assert config["legacy_app"] == "default"
    assert (config["legacy_sessions"], config["legacy_wechat_secret"]) == ("on", WECHAT_SECRET)
    assert config["apps"] == [app.as_config()]


def test_without_any_credentials_the_default_app_is_the_simulator() -> None:
    settings = Settings.from_env({})

    [app] = settings.apps
    assert (app.id, app.appid, app.simulator, app.secret) == ("default", SIMULATOR_APPID, True,
                                                             None)
    assert settings.uses_simulator
    config = settings.as_config()
    assert config["wechat"] == {"appid": SIMULATOR_APPID}
    # 0.1.0 on the simulator routed its tokens with its development secret (no WeChat secret).
    assert (config["legacy_sessions"], config["legacy_wechat_secret"]) == ("on", None)


def test_without_a_wechat_app_no_token_can_be_release_0_1_s(directory: Path, five: Apps) -> None:
    del five["shop"]

    assert settings_of(directory, five).as_config()["legacy_sessions"] == "off"


def test_the_readme_example_is_a_valid_apps_file(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    example = readme.split("### Apps\n", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "secrets").mkdir()
    for name in ("shop", "shop-qq", "shop-douyin", "staff"):
        (tmp_path / "secrets" / name).write_text(WECHAT_SECRET)
    (tmp_path / "secrets" / "alipay-app-private.pem").write_bytes(private_pem(APP_KEY, PKCS1))
    (tmp_path / "secrets" / "alipay-public.pem").write_bytes(public_pem(ALIPAY_KEY, SPKI))

    apps = settings_of(tmp_path, example.replace("/run/secrets/", f"{tmp_path}/secrets/")).apps

    assert {app.platform for app in apps} == {"wechat", "qq", "douyin", "alipay", "wecom"}
