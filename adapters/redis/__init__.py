"""Redis adapters: sessions, the code-exchange registry and the rate limiter, shared by every
worker and instance that uses the same Redis.

Needs Redis >= 7.0 (``PEXPIRETIME``, ``SET ... NX GET``). Not Redis Cluster-safe yet: the session
scripts reach keys they derive from stored values (a user's index from a session, sessions from
an index), which a cluster only allows within one hash slot.
"""

from adapters.redis.client import open_redis
from adapters.redis.code_exchange import RedisCodeExchangeRegistry
from adapters.redis.rate_limit import RedisRateLimiter
from adapters.redis.sessions import RedisSessionStore

__all__ = ["RedisCodeExchangeRegistry", "RedisRateLimiter", "RedisSessionStore", "open_redis"]
