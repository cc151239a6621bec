"""Login sessions in Redis, shared by every worker and instance.

Layout (``P`` is the key prefix), two keys per user with one session, each expiring by Redis TTL:

- ``P s <h>`` -> the session, where ``<h>`` is the first 16 bytes of the token's SHA-256 (128 bits
  keep lookups collision-free and say nothing of the token). The value is 26 bytes: the user id
  (8 bytes, big-endian) then ``user_created_at``, ``login_at`` and ``max_expires_at`` in
  milliseconds (6 bytes each, signed). ``expires_at`` is the key's own expiry (PEXPIREAT).
- ``P u <user id, 8 bytes>`` -> the user's index, a sorted set: each token ``<h>`` scored by its
  session's ``max_expires_at`` in ms (so expired entries are pruned by score, and the set expires
  with its longest-lived token), plus ONE member holding the newest ``session_key``, scored by
  *minus* its expiry. The sign tells the two kinds apart, and ``ZREMRANGEBYSCORE -now now`` prunes
  both kinds at once. Keeping the ``session_key`` inside the index saves a key (about 130 bytes)
  per user.

Every operation is one round trip; those touching both keys are Lua scripts, hence atomic.
Expiry is judged by Redis's clock (``TIME``), the one that expires the keys.
"""

from __future__ import annotations

from redis.asyncio import Redis

from adapters.redis.client import store_errors, to_ms
from domain.entities import LoginSession

_HASH_BYTES = 16
_TIME_BYTES = 6
_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: session, user index. ARGV: value, expires_at ms, max_expires_at ms, token member,
# session_key, -max_expires_at ms.
_CREATE = (
    _NOW
    + """
redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], -now, now)
local previous = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(0')
if #previous > 0 then redis.call('ZREM', KEYS[2], unpack(previous)) end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4], ARGV[6], ARGV[5])
local longest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], longest[2])
"""
)

# KEYS: session. Returns {value, expires_at ms} or nil.
_GET = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
return {value, redis.call('PEXPIRETIME', KEYS[1])}
"""

# KEYS: session. ARGV: user index prefix, token member. Returns {value, expires_at ms} or nil.
_DELETE = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
local expires_at = redis.call('PEXPIRETIME', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. string.sub(value, 1, 8), ARGV[2])
return {value, expires_at}
"""

# KEYS: user index. ARGV: session key prefix. Returns how many live sessions ended.
_DELETE_ALL = """
local ended = 0
for _, token in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(0', '+inf')) do
  ended = ended + redis.call('DEL', ARGV[1] .. token)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '(0', '+inf')
return ended
"""

# KEYS: user index. Returns the live session_key or nil.
_SESSION_KEY = (
    _NOW
    + """
local found = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', -now),
                         'LIMIT', 0, 1)
return found[1] or false
"""
)


class RedisSessionStore:
    """``SessionStore`` on Redis; the token itself is never stored, only a hash of it."""

    def __init__(self, client: Redis, *, key_prefix: bytes = b"wl:") -> None:
        self._client = client
        self._sessions = key_prefix + b"s"
        self._users = key_prefix + b"u"
        self._create = client.register_script(_CREATE)
        self._get = client.register_script(_GET)
        self._delete = client.register_script(_DELETE)
        self._delete_all = client.register_script(_DELETE_ALL)
        self._session_key = client.register_script(_SESSION_KEY)

    async def create(self, token_hash: bytes, session: LoginSession, *, session_key: str) -> None:
        member = token_hash[:_HASH_BYTES]
        max_expires_at = to_ms(session.max_expires_at)
        with store_errors():
            await self._create(
                keys=[self._sessions + member, self._user_key(session.user_id)],
                args=[
                    _pack(session),
                    to_ms(session.expires_at),
                    max_expires_at,
                    member,
                    session_key.encode(),
                    -max_expires_at,
                ],
            )

    async def get(self, token_hash: bytes) -> LoginSession | None:
        with store_errors():
            found = await self._get(keys=[self._sessions + token_hash[:_HASH_BYTES]])
        return None if found is None else _unpack(*found)

    async def extend(self, token_hash: bytes, expires_at: float) -> None:
        with store_errors():
            await self._client.pexpireat(
                self._sessions + token_hash[:_HASH_BYTES], to_ms(expires_at)
            )

    async def delete(self, token_hash: bytes) -> LoginSession | None:
        member = token_hash[:_HASH_BYTES]
        with store_errors():
            found = await self._delete(keys=[self._sessions + member], args=[self._users, member])
        return None if found is None else _unpack(*found)

    async def delete_all(self, user_id: int) -> int:
        with store_errors():
            return int(
                await self._delete_all(keys=[self._user_key(user_id)], args=[self._sessions])
            )

    async def session_key(self, user_id: int) -> str | None:
        with store_errors():
            found = await self._session_key(keys=[self._user_key(user_id)])
        return None if found is None else bytes(found).decode()

    async def ping(self) -> None:
        with store_errors():
            await self._client.ping()

    def _user_key(self, user_id: int) -> bytes:
        return self._users + user_id.to_bytes(8, "big")


def _pack(session: LoginSession) -> bytes:
    times = (session.user_created_at, session.login_at, session.max_expires_at)
    return session.user_id.to_bytes(8, "big") + b"".join(
        to_ms(t).to_bytes(_TIME_BYTES, "big", signed=True) for t in times
    )


def _unpack(value: bytes, expires_at_ms: int) -> LoginSession:
    created, login, max_expires = (
        int.from_bytes(value[i : i + _TIME_BYTES], "big", signed=True) / 1000
        for i in (8, 8 + _TIME_BYTES, 8 + 2 * _TIME_BYTES)
    )
    return LoginSession(
        user_id=int.from_bytes(value[:8], "big"),
        user_created_at=created,
        login_at=login,
        expires_at=expires_at_ms / 1000,
        max_expires_at=max_expires,
    )
