"""Fixed-window rate limiting in Redis, shared by every worker and instance."""

from __future__ import annotations

from adapters.redis.client import RedisClient, store_errors
from domain.ports import RateLimiter

# KEYS: the counter. ARGV: when its window ends, in ms. Returns the count with this hit.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return count
"""


class RedisRateLimiter(RateLimiter):
    """``RateLimiter`` on Redis: one counter per key and window, ``P r <key>:<window index>``,
    expiring when its window ends (so ``now`` must be real time: the store's clock expires it).
    One script on one key: atomic, one round trip, Redis Cluster safe."""

    def __init__(self, client: RedisClient, *, key_prefix: str = "wl:") -> None:
        self._prefix = key_prefix.encode() + b"r"
        self._hit = client.register_script(_HIT)

    async def hit(self, key: str, *, limit: int, window: int, now: float) -> int | None:
        window_index = int(now // window)
        reset_at = (window_index + 1) * window
        counter = self._prefix + f"{key}:{window_index}".encode()
        with store_errors():
            count = int(await self._hit(keys=[counter], args=[round(reset_at * 1000)]))
        return None if count <= limit else max(1, int(reset_at - now + 0.999))
