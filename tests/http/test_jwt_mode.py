"""TOKEN_FORMAT=jwt over real HTTP: signed access tokens, the JWKS and discovery document,
rotating refresh tokens with their reuse window, and every forged or misused token refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import aiohttp
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dependency_injector import providers

from tests.fakes import FakeClock
from tests.http.conftest import SERVICE_ENV, Service
from tests.serving import make_container, serve

SERVICE_TOKEN = "service-token-0123456789abcdef-0123456789"
ACCESS_TTL = 300


def write_key(path: Path) -> ed25519.Ed25519PrivateKey:
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return key


@pytest.fixture
def signing_key(tmp_path: Path) -> ed25519.Ed25519PrivateKey:
    return write_key(tmp_path / "signing.pem")


@pytest.fixture
def rotated() -> bool:
    """Parametrised True: ``signing_key`` is the previous key, published as a verify key, and
    a new key signs."""
    return False


@pytest.fixture
def service_env(
    tmp_path: Path, signing_key: ed25519.Ed25519PrivateKey, rotated: bool
) -> dict[str, str]:
    env = {**SERVICE_ENV, "TOKEN_FORMAT": "jwt",
           "JWT_SIGNING_KEY_FILE": str(tmp_path / "signing.pem"),
           "ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TTL), "SERVICE_TOKEN": SERVICE_TOKEN}
    if rotated:
        (tmp_path / "old.pub").write_bytes(signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        write_key(tmp_path / "new.pem")
        env["JWT_SIGNING_KEY_FILE"] = str(tmp_path / "new.pem")
        env["JWT_VERIFY_KEY_FILES"] = f" {tmp_path / 'old.pub'} "
    return env


async def call(service: Service, method: str, path: str, token: str | None = None,
               **kwargs: Any) -> tuple[int, Any, Any]:
    headers = kwargs.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with service.http.request(method, f"{service.url}{path}", headers=headers,
                                    **kwargs) as response:
        text = await response.read()
        return response.status, json.loads(text) if text else None, response.headers


async def me(service: Service, token: str) -> int:
    return (await call(service, "GET", "/api/v1/me", token))[0]


async def refresh(service: Service, refresh_token: str) -> tuple[int, Any]:
    status, body, _ = await call(service, "POST", "/api/v1/token/refresh",
                                 json={"refresh_token": refresh_token})
    return status, body


async def jwks(service: Service) -> dict[str, Any]:
    status, body, headers = await call(service, "GET", "/.well-known/jwks.json")
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=300"
    return body  # type: ignore[no-any-return]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return pyjwt.decode(token, options={"verify_signature": False})  # type: ignore[no-any-return]


def sign(key: ed25519.Ed25519PrivateKey, claims: dict[str, Any], kid: str) -> str:
    return pyjwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


async def test_a_login_gets_a_signed_access_token_and_a_refresh_token(service: Service) -> None:
    login = await service.login("code-1")

    assert login["expires_in"] == ACCESS_TTL
    assert login["refresh_expires_in"] == 1000
    assert login["refresh_token"]
    assert login["refresh_token"] != login["token"]
    header = pyjwt.get_unverified_header(login["token"])
    [key] = (await jwks(service))["keys"]
    assert header["alg"] == "EdDSA"
    assert header["kid"] == key["kid"]
    assert {k: key[k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig"}
    verified = pyjwt.decode(login["token"], pyjwt.PyJWK(key).key, algorithms=["EdDSA"],
                            audience="weapp-login", issuer="weapp-login")
    now = int(service.clock.now())
    assert verified == {
        "iss": "weapp-login", "aud": "weapp-login", "sub": str(login["user"]["id"]),
        "sid": verified["sid"], "app": "default", "platform": "wechat", "iat": now,
        "exp": now + ACCESS_TTL}


async def test_the_access_token_works_here_and_me_reports_its_own_life(service: Service) -> None:
    login = await service.login("code-1")
    service.clock.advance(100)
    status, body, _ = await call(service, "GET", "/api/v1/me", login["token"])
    assert status == 200
    assert ACCESS_TTL - 101 <= body["expires_in"] <= ACCESS_TTL - 100  # whole seconds
    status, _, headers = await call(service, "GET", "/api/v1/auth", login["token"])
    assert status == 204
    assert headers["X-Session-Id"] == claims_of(login["token"])["sid"]


async def test_the_discovery_document_names_the_issuer_and_absolute_endpoints(
    service: Service,
) -> None:
    status, body, _ = await call(service, "GET", "/.well-known/openid-configuration",
                                 headers={"Host": "login.example.com"})
    assert status == 200
    assert body == {
        "issuer": "weapp-login",
        "jwks_uri": "http://login.example.com/.well-known/jwks.json",
        "token_endpoint": "http://login.example.com/api/v1/token/refresh",
        "introspection_endpoint": "http://login.example.com/api/v1/introspect",
        "id_token_signing_alg_values_supported": ["EdDSA"],
    }


@pytest.mark.parametrize(
    ("proxies", "forwarded", "scheme"),
    [(0, "https", "http"), (1, "https", "https"), (1, "gopher", "http"),
     (1, "http, https", "https")],
)
async def test_behind_a_trusted_proxy_the_discovery_document_uses_its_scheme(
    tmp_path: Path, signing_key: ed25519.Ed25519PrivateKey, clock: FakeClock, proxies: int,
    forwarded: str, scheme: str,
) -> None:
    env = {**SERVICE_ENV, "TOKEN_FORMAT": "jwt",
           "JWT_SIGNING_KEY_FILE": str(tmp_path / "signing.pem"),
           "TRUSTED_PROXY_COUNT": str(proxies)}
    container = make_container(env)
    container.clock.override(providers.Object(clock))
    async with serve(container) as url, aiohttp.ClientSession() as http, http.get(
        f"{url}/.well-known/openid-configuration",
        headers={"Host": "login.example.com", "X-Forwarded-Proto": forwarded},
    ) as response:
        body = await response.json()
    assert body["jwks_uri"] == f"{scheme}://login.example.com/.well-known/jwks.json"


async def test_a_refresh_gives_a_new_pair_of_the_same_session(service: Service) -> None:
    login = await service.login("code-1")
    service.clock.advance(ACCESS_TTL + 1)
    assert await me(service, login["token"]) == 401  # the access token expired

    status, body = await refresh(service, login["refresh_token"])

    assert status == 200
    assert body["user"] == {"id": login["user"]["id"], "created": False}
    assert body["refresh_token"] != login["refresh_token"]
    assert claims_of(body["token"])["sid"] == claims_of(login["token"])["sid"]
    assert await me(service, body["token"]) == 200


async def test_two_refreshes_inside_the_reuse_window_both_succeed(service: Service) -> None:
    login = await service.login("code-1")
    first = await refresh(service, login["refresh_token"])
    service.clock.advance(9)
    second = await refresh(service, login["refresh_token"])

    assert first[0] == second[0] == 200
    assert first[1]["refresh_token"] != second[1]["refresh_token"]
    assert await me(service, first[1]["token"]) == 200
    assert await me(service, second[1]["token"]) == 200


async def test_a_refresh_after_the_window_kills_the_session_for_replayer_and_owner(
    service: Service,
) -> None:
    login = await service.login("code-1")
    _, owner = await refresh(service, login["refresh_token"])
    service.clock.advance(11)

    status, body = await refresh(service, login["refresh_token"])

    assert (status, body["error"]["code"]) == (401, "refresh_token_reused")
    assert await me(service, owner["token"]) == 401
    assert await me(service, login["token"]) == 401
    status, body = await refresh(service, owner["refresh_token"])
    assert (status, body["error"]["code"]) == (401, "invalid_refresh_token")


async def test_logout_ends_the_access_and_the_refresh_token_at_once(service: Service) -> None:
    login = await service.login("code-1")
    assert (await call(service, "POST", "/api/v1/logout", login["token"]))[0] == 204

    assert await me(service, login["token"]) == 401
    status, body = await refresh(service, login["refresh_token"])
    assert (status, body["error"]["code"]) == (401, "invalid_refresh_token")


async def test_a_refresh_racing_a_logout_leaves_no_live_session(service: Service) -> None:
    login = await service.login("code-1")
    refreshed, logged_out = await asyncio.gather(
        refresh(service, login["refresh_token"]),
        call(service, "POST", "/api/v1/logout", login["token"]),
    )

    assert logged_out[0] == 204
    tokens = [login["token"]] + ([refreshed[1]["token"]] if refreshed[0] == 200 else [])
    for token in tokens:
        assert await me(service, token) == 401
    if refreshed[0] == 200:
        assert (await refresh(service, refreshed[1]["refresh_token"]))[0] == 401


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": 1}, []])
async def test_a_malformed_refresh_body_is_400(service: Service, body: Any) -> None:
    status, answer, _ = await call(service, "POST", "/api/v1/token/refresh", json=body)
    assert (status, answer["error"]["code"]) == (400, "invalid_request")


async def test_an_access_token_is_no_refresh_token(service: Service) -> None:
    login = await service.login("code-1")
    status, body = await refresh(service, login["token"])
    assert (status, body["error"]["code"]) == (401, "invalid_refresh_token")


async def test_a_refresh_token_is_no_access_token(service: Service) -> None:
    login = await service.login("code-1")
    assert await me(service, login["refresh_token"]) == 401
    status, _, _ = await call(service, "GET", "/api/v1/auth", login["refresh_token"])
    assert status == 401


def forgeries(login: dict[str, Any], key: ed25519.Ed25519PrivateKey, kid: str
              ) -> dict[str, str]:
    """Every bad access token of the issue, each made from a valid login's claims."""
    claims = claims_of(login["token"])
    header, payload, signature = login["token"].split(".")
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    hs_header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    hs_input = f"{hs_header}.{payload}".encode()
    other = ed25519.Ed25519PrivateKey.generate()
    changed = b64(json.dumps({**claims, "sub": "999"}).encode())
    return {
        "alg none": f"{b64(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{payload}.",
        "HS256 with the public key": f"{hs_header}.{payload}."
        + b64(hmac.digest(public_pem, hs_input, hashlib.sha256)),
        "unknown kid": sign(other, claims, "an-unknown-key-id"),
        "another key under the right kid": sign(other, claims, kid),
        "no kid": pyjwt.encode(claims, key, algorithm="EdDSA"),
        "wrong iss": sign(key, {**claims, "iss": "someone-else"}, kid),
        "wrong aud": sign(key, {**claims, "aud": "another-service"}, kid),
        "no exp": sign(key, {k: v for k, v in claims.items() if k != "exp"}, kid),
        "expired": sign(key, {**claims, "exp": claims["iat"] - 1}, kid),
        "sub not a string": sign(key, {**claims, "sub": 1}, kid),
        "changed claims": f"{header}.{changed}.{signature}",
        "truncated": f"{header}.{payload}",
        "bad base64": f"{header}.{payload}.!!!!{signature[4:]}",
    }


async def test_every_forged_or_misused_access_token_is_refused_never_a_500(
    service: Service, signing_key: ed25519.Ed25519PrivateKey
) -> None:
    login = await service.login("code-1")
    kid = pyjwt.get_unverified_header(login["token"])["kid"]
    caller = {"Authorization": f"Bearer {SERVICE_TOKEN}"}

    for name, token in forgeries(login, signing_key, kid).items():
        assert await me(service, token) == 401, name
        assert (await call(service, "GET", "/api/v1/auth", token))[0] == 401, name
        assert (await call(service, "POST", "/api/v1/logout", token))[0] == 401, name
        status, body, _ = await call(service, "POST", "/api/v1/introspect", headers=caller,
                                     json={"token": token})
        assert (status, body) == (200, {"active": False}), name
    assert await me(service, login["token"]) == 200  # the real one still works


async def test_introspection_of_an_access_token_reports_its_own_times(service: Service) -> None:
    login = await service.login("code-1")
    claims = claims_of(login["token"])
    status, body, _ = await call(
        service, "POST", "/api/v1/introspect",
        headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}, json={"token": login["token"]})
    assert status == 200
    assert body == {"active": True, "sub": claims["sub"], "sid": claims["sid"], "app": "default",
                    "platform": "wechat", "iat": claims["iat"], "exp": claims["exp"],
                    "token_type": "access_token", "iss": "weapp-login"}


@pytest.mark.parametrize("rotated", [True])
async def test_a_verify_key_is_published_and_its_tokens_accepted(
    service: Service, signing_key: ed25519.Ed25519PrivateKey
) -> None:
    """Rotation: the previous key, now a verify key, is published and its tokens still work."""
    keys = (await jwks(service))["keys"]
    login = await service.login("code-1")
    new_kid = pyjwt.get_unverified_header(login["token"])["kid"]
    old_kid = next(key["kid"] for key in keys if key["kid"] != new_kid)
    old_token = sign(signing_key, claims_of(login["token"]), old_kid)

    assert len(keys) == 2
    assert keys[0]["kid"] == new_kid  # the signing key first
    assert await me(service, old_token) == 200
