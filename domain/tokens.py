"""Login codes are kept in the shared store only as a hash."""

from __future__ import annotations

import hashlib


def hash_code(code: str, *, scope: str = "") -> bytes:
    """SHA-256 of a login code (of the app ``scope``, its id), so codes do not sit in the shared
    store in clear text, and one app's code never finds another app's login."""
    scoped = f"{scope}\0{code}" if scope else code
    return hashlib.sha256(b"code:" + scoped.encode()).digest()
