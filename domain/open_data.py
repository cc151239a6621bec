"""WeChat's open data: ``encryptedData`` decryption, ``rawData`` and login-state signatures.

The rules live here; only the AES block cipher is an adapter (``Cipher``), so the domain keeps to
the standard library and hand-written AES is never needed.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from base64 import b64decode
from typing import Any, Protocol

from domain.errors import InvalidRequest
from domain.platform_errors import DecryptFailed, SignatureMismatch, WatermarkMismatch

BLOCK_SIZE = 16


class Cipher(Protocol):
    """AES-128 in CBC mode, nothing more: no padding is added or removed."""

    def decrypt_aes128_cbc(self, key: bytes, iv: bytes, data: bytes) -> bytes:
        """Decrypt whole blocks; ``ValueError`` when the key, IV or data sizes are wrong."""
        ...


def decode_base64(text: str, *, field: str) -> bytes:
    """Standard base64, repaired: ``+`` turned into spaces on the way (a common client bug) is
    put back (so every space is a ``+``, at the ends too), surrounding line breaks and tabs and
    missing ``=`` padding are forgiven. ``InvalidRequest`` names ``field`` when it is not base64."""
    cleaned = text.strip("\t\r\n").replace(" ", "+")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"`{field}` is not valid base64.") from None


def unpad_pkcs7(padded: bytes) -> bytes:
    """Strict PKCS#7 (1..16 bytes, all equal to their count), else ``DecryptFailed``.

    The strictness matters: with a stale ``session_key`` a lax unpadding would hand garbage to
    the JSON parser more often than not, and a clear error is what the client needs.
    """
    if not padded or len(padded) % BLOCK_SIZE:
        raise DecryptFailed()
    count = padded[-1]
    if not 1 <= count <= BLOCK_SIZE or padded[-count:] != bytes([count]) * count:
        raise DecryptFailed()
    return padded[:-count]


def decrypt_open_data(
    cipher: Cipher, *, session_key: str, encrypted_data: str, iv: str, appid: str
) -> dict[str, Any]:
    """Decrypt ``encryptedData`` (AES-128-CBC, PKCS#7) and check that it was issued for ``appid``.

    ``InvalidRequest``: not base64, IV not 16 bytes, ciphertext not whole blocks.
    ``DecryptFailed``: bad padding, not a JSON object (usually a stale ``session_key``).
    ``WatermarkMismatch``: no ``watermark.appid`` or another app's.
    """
    vector = decode_base64(iv, field="iv")
    if len(vector) != BLOCK_SIZE:
        raise InvalidRequest("`iv` must be 16 bytes once base64-decoded.")
    ciphertext = decode_base64(encrypted_data, field="encrypted_data")
    if not ciphertext or len(ciphertext) % BLOCK_SIZE:
        raise InvalidRequest("`encrypted_data` must be whole 16-byte AES blocks.")
    key = _session_key_bytes(session_key)
    try:
        padded = cipher.decrypt_aes128_cbc(key, vector, ciphertext)
    except ValueError:
        raise DecryptFailed() from None
    try:
        data = json.loads(unpad_pkcs7(padded).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise DecryptFailed() from None
    if not isinstance(data, dict):
        raise DecryptFailed()
    watermark = data.get("watermark")
    if not isinstance(watermark, dict) or watermark.get("appid") != appid:
        raise WatermarkMismatch()
    return data


def raw_data_signature(raw_data: str, session_key: str) -> str:
    """``sha1(rawData + session_key)`` in hex, as ``wx.getUserInfo`` signs ``rawData``."""
    return hashlib.sha1((raw_data + session_key).encode()).hexdigest()  # noqa: S324 - WeChat's


def check_raw_data_signature(raw_data: str, signature: str, session_key: str) -> None:
    """``SignatureMismatch`` unless ``signature`` signs ``raw_data``; compared in constant time."""
    expected = raw_data_signature(raw_data, session_key).encode()
    if not hmac.compare_digest(expected, signature.strip().lower().encode()):
        raise SignatureMismatch()


def session_signature(session_key: str, message: bytes = b"") -> str:
    """Hex HMAC-SHA256 of ``message`` keyed with the ``session_key``'s base64 text: the login-state
    signature of ``checksession`` (message ``b""``) and of POST bodies."""
    return hmac.new(session_key.encode(), message, hashlib.sha256).hexdigest()


def _session_key_bytes(session_key: str) -> bytes:
    try:
        key = b64decode(session_key, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptFailed() from None
    if len(key) != BLOCK_SIZE:
        raise DecryptFailed()
    return key
