"""Login tokens are opaque to clients and stored only as a hash."""

from __future__ import annotations

import hashlib


def hash_token(token: str) -> bytes:
    """SHA-256 of the token: what the session store keys by (the token itself is never stored).

    A fast hash is right here: tokens carry 256 random bits, so there is nothing to brute-force.
    """
    return hashlib.sha256(token.encode()).digest()


def hash_code(code: str) -> bytes:
    """SHA-256 of a login code, so codes do not sit in the shared store in clear text."""
    return hashlib.sha256(b"code:" + code.encode()).digest()
