"""Fixed-window rate limiting in Redis, shared by every worker and instance."""

from __future__ import annotations

from redis.asyncio import Redis

from adapters.redis.client import store_errors


class RedisRateLimiter:
    """``RateLimiter`` on Redis: one counter per key and window, ``P r <key>:<window index>``,
    expiring when its window ends (so ``now`` must be real time: the store's clock expires it)."""

    def __init__(self, client: Redis, *, key_prefix: bytes = b"wl:") -> None:
        self._client = client
        self._prefix = key_prefix + b"r"

    async def hit(self, key: str, *, limit: int, window: int, now: float) -> int | None:
        window_index = int(now // window)
        reset_at = (window_index + 1) * window
        slot = self._prefix + f"{key}:{window_index}".encode()
        with store_errors():
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(slot)
                pipe.pexpireat(slot, round(reset_at * 1000))
                count, _ = await pipe.execute()
        return None if count <= limit else max(1, int(reset_at - now + 0.999))
