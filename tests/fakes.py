"""A deterministic stand-in for the clock port."""

from __future__ import annotations

import time


class FakeClock:
    """Starts at the real time (so real stores with their own expiry agree) and moves on demand."""

    def __init__(self, start: float | None = None) -> None:
        self.current = time.time() if start is None else start

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds
