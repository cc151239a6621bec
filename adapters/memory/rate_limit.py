"""Fixed-window rate limiting in process memory."""

from __future__ import annotations

from adapters.memory.expiring import ExpiringDict
from domain.ports import Clock, RateLimiter


class InMemoryRateLimiter(RateLimiter):
    def __init__(self, *, clock: Clock) -> None:
        self._counts: ExpiringDict[str, int] = ExpiringDict(clock.now)

    async def hit(self, key: str, *, limit: int, window: int, now: float) -> int | None:
        window_index = int(now // window)
        slot = f"{key}:{window_index}"
        count = (self._counts.get(slot) or 0) + 1
        reset_at = (window_index + 1) * window
        self._counts.set(slot, count, reset_at)
        return None if count <= limit else max(1, int(reset_at - now + 0.999))
