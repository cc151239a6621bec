"""The app's shared ``access_token`` and its refresh lock in Redis.

Two keys per app (``P`` is the key prefix), each touched alone (Redis Cluster safe):

- ``P t <appid>`` -> ``expires_at`` and ``refresh_at`` in milliseconds (8 bytes each, big-endian)
  followed by the token; the key expires at ``expires_at`` (``PXAT``), so Redis drops a dead token
  by itself.
- ``P l <appid>`` -> the lock holder's random owner value, ``SET NX PX GET``: it lapses if the
  holder dies. A take that finds its own owner value holds the lock (the client repeats a
  command once after a lost reply: the repeat must not think someone else holds it). It is
  released, and a token dropped, only by a compare-and-delete script, so nobody ever deletes
  another holder's lock or a newer token.
"""

from __future__ import annotations

import struct

from adapters.redis.client import RedisClient, store_errors, to_ms
from domain.platform import AccessToken, AccessTokenCache

_TIMES = struct.Struct(">qq")

# KEYS: the key. ARGV: the expected value's tail, from byte ARGV[2] on (1-based).
_DELETE_IF_TAIL = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, tonumber(ARGV[2])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisAccessTokenCache(AccessTokenCache):
    """``AccessTokenCache`` on Redis, shared by every worker and instance of the app ``appid``."""

    def __init__(self, client: RedisClient, *, appid: str, key_prefix: str = "wl:") -> None:
        self._client = client
        self._token_key = key_prefix.encode() + b"t" + appid.encode()
        self._lock_key = key_prefix.encode() + b"l" + appid.encode()
        self._delete_if_tail = client.register_script(_DELETE_IF_TAIL)

    async def get(self) -> AccessToken | None:
        with store_errors():
            value = await self._client.get(self._token_key)
        if not isinstance(value, bytes) or len(value) <= _TIMES.size:
            return None
        expires_at, refresh_at = _TIMES.unpack_from(value)
        return AccessToken(
            value=value[_TIMES.size :].decode(),
            expires_at=expires_at / 1000,
            refresh_at=refresh_at / 1000,
        )

    async def set(self, token: AccessToken) -> None:
        expires_at = to_ms(token.expires_at)
        value = _TIMES.pack(expires_at, to_ms(token.refresh_at)) + token.value.encode()
        with store_errors():
            await self._client.set(self._token_key, value, pxat=max(1, expires_at))

    async def delete(self, value: str) -> None:
        with store_errors():
            await self._delete_if_tail(
                keys=[self._token_key], args=[value.encode(), _TIMES.size + 1]
            )

    async def try_lock(self, owner: str, *, ttl: float) -> bool:
        with store_errors():
            held_by = await self._client.set(
                self._lock_key, owner.encode(), nx=True, px=max(1, to_ms(ttl)), get=True
            )
        return held_by is None or held_by == owner.encode()

    async def unlock(self, owner: str) -> None:
        with store_errors():
            await self._delete_if_tail(keys=[self._lock_key], args=[owner.encode(), 1])
