"""Login codes are kept in the shared store only as a hash."""

from __future__ import annotations

import hashlib


def hash_code(code: str) -> bytes:
    """SHA-256 of a login code, so codes do not sit in the shared store in clear text."""
    return hashlib.sha256(b"code:" + code.encode()).digest()
