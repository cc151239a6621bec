"""The RSA keys of an Alipay app, loaded and checked with ``cryptography`` once at start.

A key is read from PEM (PKCS#1 or PKCS#8 for the app's private key; SubjectPublicKeyInfo or
PKCS#1 for Alipay's public key) or from the bare base64 of its DER form, which is how Alipay's
console and key tool hand keys out. Each is returned as PEM in one normal form, so whoever signs
or verifies with it later reads one format only. Every error is a ``ValueError`` whose message
never quotes the key.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

MIN_RSA_BITS = 2048
"""Alipay's RSA2 (SHA256withRSA) takes keys of 2048 bits or more."""
_Key = TypeVar("_Key", rsa.RSAPrivateKey, rsa.RSAPublicKey)


def _load(data: bytes, pem: Callable[[bytes], Any], der: Callable[[bytes], Any]) -> Any:
    """The key in ``data``: PEM when it has a ``-----BEGIN`` line, else base64 of DER."""
    if b"-----BEGIN" in data:
        return pem(data)
    try:
        raw = base64.b64decode(b"".join(data.split()), validate=True)
    except binascii.Error:
        raise ValueError("neither PEM nor base64") from None
    return der(raw)


def _check_size(key: _Key) -> _Key:
    if key.key_size < MIN_RSA_BITS:
        raise ValueError(f"is an RSA key of {key.key_size} bits; RSA2 needs {MIN_RSA_BITS} or more")
    return key


def load_private_key(data: bytes) -> rsa.RSAPrivateKey:
    """The app's own RSA private key, unencrypted, checked for consistency by ``cryptography``."""
    try:
        key = _load(
            data,
            lambda pem: serialization.load_pem_private_key(pem, password=None),
            lambda der: serialization.load_der_private_key(der, password=None),
        )
    except TypeError:  # cryptography's answer to an encrypted key without a password
        raise ValueError("is encrypted; give the key without a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if isinstance(key, rsa.RSAPrivateKey):
        return _check_size(key)
    raise ValueError("is not an RSA private key (PEM or base64, PKCS#1 or PKCS#8)")


def load_public_key(data: bytes) -> rsa.RSAPublicKey:
    """Alipay's RSA public key (SubjectPublicKeyInfo or PKCS#1)."""
    try:
        key = _load(data, serialization.load_pem_public_key, serialization.load_der_public_key)
    except (ValueError, UnsupportedAlgorithm):
        key = None
    if isinstance(key, rsa.RSAPublicKey):
        return _check_size(key)
    raise ValueError("is not an RSA public key (PEM or base64)")


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    """``key`` as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    """``key`` as SubjectPublicKeyInfo PEM."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def same_key(private: rsa.RSAPrivateKey, public: rsa.RSAPublicKey) -> bool:
    """Whether ``public`` is the public half of ``private`` (a key pasted into the wrong field)."""
    return private.public_key().public_numbers() == public.public_numbers()
