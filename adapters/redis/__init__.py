"""Redis adapters: sessions, the code-exchange registry and the rate limiter, shared by every
worker and instance that uses the same Redis.

Needs Redis >= 7.0 (``PEXPIRETIME``, ``SET ... NX GET``). Works on one server, on a Redis Cluster
and through Sentinels (``open_redis``): every command and script touches one key, so no
operation ever spans two hash slots.
"""

from adapters.redis.client import open_redis
from adapters.redis.code_exchange import RedisCodeExchangeRegistry
from adapters.redis.rate_limit import RedisRateLimiter
from adapters.redis.sessions import RedisSessionStore

__all__ = ["RedisCodeExchangeRegistry", "RedisRateLimiter", "RedisSessionStore", "open_redis"]
