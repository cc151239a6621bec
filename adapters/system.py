"""The real clock."""

from __future__ import annotations

import time

from domain.ports import Clock


class SystemClock(Clock):
    def now(self) -> float:
        return time.time()
