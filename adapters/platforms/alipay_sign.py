"""Alipay's RSA2 signatures: the request's, made with the app's private key, and the answer's,
checked with Alipay's public key over the raw text it was made on. RSA through ``cryptography``.

- Request: every parameter but ``sign`` (``sign_type`` included), empty values dropped, keys in
  ASCII order, ``key=value`` joined by ``&`` with the raw (not URL-encoded) values, UTF-8;
  SHA256withRSA (PKCS#1 v1.5), base64.
- Answer: ``{"<method>_response": {...}, "sign": "..."}`` (or ``"error_response"``); the
  signature covers the bytes of the response value exactly as they are in the body, from its
  ``{`` to the matching ``}``, so those bytes are cut out of the body, never re-serialized.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_WHITESPACE = b" \t\r\n"


def load_private_key(pem: bytes | rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM (PKCS#1 ``RSA PRIVATE KEY`` or PKCS#8 ``PRIVATE KEY``)."""
    if isinstance(pem, rsa.RSAPrivateKey):
        return pem
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError("the key is not an RSA private key")
    return key


def load_public_key(pem: bytes | rsa.RSAPublicKey) -> rsa.RSAPublicKey:
    """An RSA public key from PEM (``PUBLIC KEY`` or PKCS#1 ``RSA PUBLIC KEY``)."""
    if isinstance(pem, rsa.RSAPublicKey):
        return pem
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise TypeError("the key is not an RSA public key")
    return key


def sign_content(params: Mapping[str, str]) -> str:
    """The text Alipay signs: ``k=v`` of the non-empty parameters but ``sign``, sorted, ``&``."""
    return "&".join(
        f"{key}={params[key]}" for key in sorted(params) if key != "sign" and params[key]
    )


def rsa2_sign(content: bytes, key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA (PKCS#1 v1.5) of ``content``, base64."""
    return base64.b64encode(key.sign(content, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa2_verify(content: bytes, signature: str, key: rsa.RSAPublicKey) -> bool:
    """Whether ``signature`` (base64) is ``key``'s SHA256withRSA signature of ``content``."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, content, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def top_level_values(body: bytes) -> dict[str, bytes]:
    """The raw text of each value of the JSON object ``body``, by key (``{}`` when ``body`` is
    not an object this scanner can read; the caller parses the values it trusts properly)."""
    values: dict[str, bytes] = {}
    i = _skip(body, 0)
    if i >= len(body) or body[i : i + 1] != b"{":
        return {}
    i = _skip(body, i + 1)
    while i < len(body) and body[i : i + 1] == b'"':
        key_end = _string_end(body, i)
        key = body[i + 1 : key_end - 1]
        i = _skip(body, key_end)
        if body[i : i + 1] != b":":
            return {}
        start = _skip(body, i + 1)
        end = _value_end(body, start)
        if end is None:
            return {}
        values[key.decode("utf-8", "replace")] = body[start:end]
        i = _skip(body, end)
        if body[i : i + 1] == b",":
            i = _skip(body, i + 1)
    return values


def _skip(body: bytes, i: int) -> int:
    while i < len(body) and body[i] in _WHITESPACE:
        i += 1
    return i


def _string_end(body: bytes, i: int) -> int:
    """The index after the string that starts at ``body[i] == '"'``."""
    i += 1
    while i < len(body):
        char = body[i : i + 1]
        if char == b"\\":
            i += 2
            continue
        if char == b'"':
            return i + 1
        i += 1
    return len(body)


def _value_end(body: bytes, i: int) -> int | None:
    """The index after the JSON value that starts at ``i``."""
    if body[i : i + 1] == b'"':
        return _string_end(body, i)
    depth = 0
    while i < len(body):
        char = body[i : i + 1]
        if char == b'"':
            i = _string_end(body, i)
            continue
        if char in (b"{", b"["):
            depth += 1
        elif char in (b"}", b"]"):
            if depth == 0:
                return i
            depth -= 1
            if depth == 0:
                return i + 1
        elif char == b"," and depth == 0:
            return i
        i += 1
    return None if depth else i
