"""Refresh tokens in Redis, shared by every worker and instance.

One string key per token: ``P f:<URL-safe base64 of HMAC-SHA256(S, token)>`` (``P`` the key
prefix, ``S`` ``SESSION_SECRET``; the token itself, 256 random bits, is never stored), valued
``"<session id>"`` until its first use and ``"<session id> <first use, Unix ms>"`` after, and
expiring with its session's ``max_expires_at`` (Redis's own expiry judges it).

Recording the first use is one script: of concurrent uses exactly one time is written and all
read it back, and a use repeated after a lost reply finds the time it wrote and answers the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from adapters.redis.client import RedisClient, store_errors, to_ms
from adapters.redis.scripts import Script
from domain.ports import RefreshTokenStore, RefreshTokenUse

# KEYS: the token's key. ARGV: now ms. Returns {session id, first use ms} or false.
_USE = """
local value = redis.call('GET', KEYS[1])
if not value then return false end
local session, used = string.match(value, '^(%S+) (%d+)$')
if not session then
  session, used = value, ARGV[1]
  redis.call('SET', KEYS[1], session .. ' ' .. used, 'KEEPTTL')
end
return {session, used}
"""


class RedisRefreshTokenStore(RefreshTokenStore):
    """``RefreshTokenStore`` on Redis (see the module's docstring for the layout)."""

    def __init__(self, client: RedisClient, *, session_secret: str, key_prefix: str = "wl:"
                 ) -> None:
        self._client = client
        self._secret = session_secret.encode()
        self._prefix = key_prefix.encode() + b"f:"
        self._use = Script(client, _USE)

    async def issue(self, session_id: str, *, expires_at: float) -> str:
        token = secrets.token_urlsafe(32)
        with store_errors():
            await self._client.set(self._key(token), session_id, pxat=to_ms(expires_at))
        return token

    async def use(self, token: str, *, now: float) -> RefreshTokenUse | None:
        with store_errors():
            found = await self._use(keys=[self._key(token)], args=[to_ms(now)])
        if not found:
            return None
        session_id, first_used = found
        return RefreshTokenUse(session_id.decode(), int(first_used) / 1000)

    def _key(self, token: str) -> bytes:
        digest = hmac.digest(self._secret, token.encode(), hashlib.sha256)
        return self._prefix + base64.urlsafe_b64encode(digest).rstrip(b"=")
