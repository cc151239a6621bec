"""The Ed25519 keys of the JWT mode, read and checked with ``cryptography`` once at start.

``JWT_SIGNING_KEY_FILE`` is a PEM private key (PKCS#8); ``JWT_VERIFY_KEY_FILES`` are PEM public
keys (SubjectPublicKeyInfo). In development, without a signing key file, one is made at the
first start under ``./var/`` and kept, so that tokens survive a restart. Every error names the
variable and the file, never the key.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from settings.fields import ConfigError

DEVELOPMENT_KEY_FILE = Path("var") / "jwt-signing-key.pem"


def _read(variable: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"{variable}: cannot read {path} ({error.strerror})") from None


def signing_key(path: str | None) -> str:
    """The signing key's PEM, from ``path`` or the development key (made when missing)."""
    if path is None:
        return _development_key()
    data = _read("JWT_SIGNING_KEY_FILE", path)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ConfigError(f"JWT_SIGNING_KEY_FILE: {path} is not a PEM Ed25519 private key "
                          "(unencrypted PKCS#8)")
    return data.decode("ascii")


def verify_keys(paths: str | None) -> tuple[str, ...]:
    """The PEM of each public key in the comma-separated ``paths``."""
    found = []
    for path in (p.strip() for p in (paths or "").split(",")):
        if not path:
            continue
        data = _read("JWT_VERIFY_KEY_FILES", path)
        try:
            key = serialization.load_pem_public_key(data)
        except ValueError:
            key = None
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise ConfigError(
                f"JWT_VERIFY_KEY_FILES: {path} is not a PEM Ed25519 public key")
        found.append(data.decode("ascii"))
    return tuple(found)


def _development_key() -> str:
    """The key under ``./var/``, made (owner-only) at the first start and kept."""
    path = DEVELOPMENT_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use that one
            pass
        else:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
    return signing_key(str(path))
