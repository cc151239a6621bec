"""The real clock and token generator."""

from __future__ import annotations

import secrets
import time


class SystemClock:
    def now(self) -> float:
        return time.time()


class SecretTokenGenerator:
    """256 random bits from the OS, URL-safe base64 (43 characters)."""

    def new_token(self) -> str:
        return secrets.token_urlsafe(32)
