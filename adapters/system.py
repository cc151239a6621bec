"""The real clock and token generator."""

from __future__ import annotations

import secrets
import time

from domain.ports import Clock, TokenGenerator


class SystemClock(Clock):
    def now(self) -> float:
        return time.time()


class SecretTokenGenerator(TokenGenerator):
    """256 random bits from the OS, URL-safe base64 (43 characters)."""

    def new_token(self) -> str:
        return secrets.token_urlsafe(32)
