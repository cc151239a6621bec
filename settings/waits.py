"""How long requests wait on the platforms' calls, derived from the timeout of one call."""

from __future__ import annotations

from typing import Any


def wechat_waits(timeout: float) -> dict[str, Any]:
    """How long requests wait on WeChat's calls, from the timeout of one call."""
    # A claim on a code is held while WeChat may still answer and the login then reaches its
    # session write: the user store's deadline (1.5 s), a Redis connection and command (1 s
    # each), and a margin. Another login with the same code waits for it that long.
    pending = timeout + 5.0
    # Waiters outlast one refresh; a refresh's lock outlasts one WeChat call.
    token = {"wait_seconds": timeout + 2.0, "lock_seconds": max(10.0, 2 * timeout + 4.0)}
    return {"code_pending_seconds": pending, "token": token}
