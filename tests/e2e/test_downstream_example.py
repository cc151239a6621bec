"""examples/downstream.py, run as a process against ``python -m entrypoints`` in the JWT mode:
it checks access tokens offline from the service's JWKS, through a key rotation (the old key
published as a verify key beside the new signing key: old tokens still pass until they expire,
new ones pass with the new key), and refuses forged, expired and unknown-key tokens."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.e2e.conftest import ROOT, free_port, run_service

pytestmark = pytest.mark.e2e


def write_keys(directory: Path, name: str) -> ed25519.Ed25519PrivateKey:
    key = ed25519.Ed25519PrivateKey.generate()
    (directory / f"{name}.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (directory / f"{name}.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key


@asynccontextmanager
async def run_downstream(weapp_login: str, log: Path) -> AsyncIterator[str]:
    port = free_port()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "examples" / "downstream.py"),
            "--weapp-login", weapp_login, "--port", str(port), "--refetch-cooldown", "0",
            stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                assert process.returncode is None, log.read_text()
                try:
                    async with http.get(f"{url}/whoami"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()


async def whoami(url: str, token: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(
        f"{url}/whoami", headers={"Authorization": f"Bearer {token}"}
    ) as reply:
        return reply.status, await reply.json()


async def login(url: str, code: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.post(
        f"{url}/api/v1/login", json={"code": code}
    ) as reply:
        assert reply.status == 200, await reply.text()
        body: dict[str, Any] = await reply.json()
        return body


async def test_the_example_verifies_tokens_offline_through_a_key_rotation(tmp_path: Path) -> None:
    old_key = write_keys(tmp_path, "old")
    write_keys(tmp_path, "new")
    port = free_port()
    base = {"PORT": str(port), "TOKEN_FORMAT": "jwt", "LOGIN_RATE_PER_MINUTE": "0",
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/weapp.db"}
    before_rotation = {**base, "JWT_SIGNING_KEY_FILE": str(tmp_path / "old.pem")}
    # The rotation: the new key signs, the old one is still published and accepted.
    during_rotation = {**base, "JWT_SIGNING_KEY_FILE": str(tmp_path / "new.pem"),
                       "JWT_VERIFY_KEY_FILES": str(tmp_path / "old.pub")}

    # One downstream process throughout, as in production: it keeps the keys it fetched.
    async with run_downstream(f"http://127.0.0.1:{port}", tmp_path / "downstream.log"
                              ) as downstream:
        async with run_service(before_rotation, tmp_path / "before.log") as service:
            old = await login(service.url, "dana:1")
            status, who = await whoami(downstream, old["token"])
        assert (status, who["user_id"], who["app"]) == (200, old["user"]["id"], "default")

        async with run_service(during_rotation, tmp_path / "during.log") as service:
            old_status, _ = await whoami(downstream, old["token"])  # a key it holds
            new = await login(service.url, "dana:2")
            new_status, who = await whoami(downstream, new["token"])  # unseen kid: refetched

            claims = jwt.decode(old["token"], options={"verify_signature": False})
            kid = jwt.get_unverified_header(old["token"])["kid"]
            head, signature = old["token"].rsplit(".", 1)
            forged = f"{head[:-4]}AAAA.{signature}"
            expired = jwt.encode({**claims, "exp": int(time.time()) - 1}, old_key,
                                 algorithm="EdDSA", headers={"kid": kid})
            unknown = jwt.encode(claims, ed25519.Ed25519PrivateKey.generate(),
                                 algorithm="EdDSA", headers={"kid": "a-key-nobody-published"})
            refused = [(await whoami(downstream, t))[0] for t in (forged, expired, unknown)]

    assert jwt.get_unverified_header(new["token"])["kid"] != kid
    assert (old_status, new_status) == (200, 200)
    assert who["user_id"] == old["user"]["id"]
    assert refused == [401, 401, 401]
