"""Tokens issued by release 0.1.0 keep working after the upgrade, until they expire.

0.1.0's Redis layout is FROZEN here (it is what a deployment upgraded from 0.1.0 still holds; no
code writes it any more). ``P`` is the key prefix: 0.1.0 always used ``wl:``; it is read under
``REDIS_KEY_PREFIX``, so a deployment sharing a Redis under another prefix never sees them.

- A token is ``<route>.<random>``. The route (22 characters) is URL-safe base64, unpadded, of
  AES-128-ECB of (8 zero bytes, the user id as 8 bytes big-endian) under the first 16 bytes of
  SHA-256(``"weapp-login token route\\0"`` + R), where R, the route secret, is
  SHA-256(``"session routes\\0"`` + the WeChat app's secret), or ``DEVELOPMENT_ROUTE_SECRET``
  when that WeChat app had no secret (the simulator). So the route finds the user from the token
  alone, and a route that does not decrypt to 8 zero bytes is none of 0.1.0's.
- ``P h <user id, 8 bytes big-endian>``: one hash per user, expiring (``PEXPIREAT``) at the
  latest ``max_expires_at`` of its sessions:

  - field ``<first 8 bytes of SHA-256(token)>`` -> ``expires_at``, ``login_at``,
    ``max_expires_at`` in Unix ms, 6 bytes each, signed, big-endian;
  - field ``""`` -> a flags byte, ``user_created_at`` in ms (6 bytes), with flag 1 the
    ``session_key``'s own expiry in ms (6 bytes; else it expires with the hash), then the
    ``session_key``: its 16 raw bytes with flag 2 (it was the base64 of 16 bytes), else UTF-8.

0.1.0 judged expiry by its process's clock; these scripts judge it by Redis's (``TIME``), as the
current store does. What this module adds to the layout: ``out`` -> ``"<op id> <until ms>"`` of
the last logout, so a logout repeated after a lost reply answers as the first did (as the
current store's ``out``).

``LegacySessionReader`` reads, extends and ends those sessions; it never creates one. Their ids
are ``v1.<route>.<field in URL-safe base64>``: a ``.`` never appears in the current store's
ids (URL-safe base64), so the two never collide. They are the logins of the deployment's WeChat
app (``legacy_app``), platform ``wechat``. ``LegacyAwareSessionStore`` puts the reader beside the
current store: tokens and ids go to the store whose form they have, and what concerns a user
(sessions, ending them all, the ``session_key``) concerns both.

Ending all of a user's sessions is one step per layout (their keys may be in different Cluster
slots). Logging out everywhere ends the layout of the token last: the other layout's sessions
first (ending them is safe to repeat), then the token's own script, which answers the client.
A failure on the way leaves the token working for the client's retry, never a 204 with tokens
left alive. ``revoke_all`` (ban, deletion) raises if either step fails: it is safe to repeat.

Since the routes are keyed by the WeChat app's secret, that secret must stay what 0.1.0 had
until the last 0.1.0 token has expired (``SESSION_MAX_AGE_SECONDS`` of 0.1.0 after the upgrade);
a new one ends them all (their routes then decrypt to garbage and are refused), nothing else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from adapters.redis.client import RedisClient, store_errors, to_ms
from adapters.redis.scripts import Script
from adapters.token_calls import TokenCallsById
from domain.accounts import SessionInfo
from domain.entities import LoginSession
from domain.ports import NewLogin, SessionStore

DEVELOPMENT_ROUTE_SECRET = b"weapp-login development route secret"
"""0.1.0's route secret when its WeChat app had no secret (the simulator)."""
ID_PREFIX = "v1."
_ID = re.compile(r"v1\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{11})")
_OUT_MS = 60_000

# Redis's clock in ms, and a session's expiry (the first 6 bytes of its value).
_LUA = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function expiry(value) return struct.unpack('>i6', value) end
"""

# KEYS: user hash. ARGV: field. Returns {value, meta} of a live session.
_GET = _LUA + """
local found = redis.call('HMGET', KEYS[1], ARGV[1], '')
if not found[1] or not found[2] or expiry(found[1]) <= now_ms() then return false end
return found
"""

# KEYS: user hash. ARGV: field, new expires ms, the same packed (6 bytes). As 0.1.0 extended: a
# later expiry than the hash's moves the hash's, and the session_key keeps its own.
_EXTEND = _LUA + """
local key = KEYS[1]
local value = redis.call('HGET', key, ARGV[1])
if not value or expiry(value) <= now_ms() then return 0 end
local expires_at = tonumber(ARGV[2])
local key_expires_at = redis.call('PEXPIRETIME', key)
if key_expires_at < expires_at then
  local meta = redis.call('HGET', key, '')
  if meta and string.byte(meta, 1) % 2 == 0 then
    redis.call('HSET', key, '', string.char(string.byte(meta, 1) + 1) .. string.sub(meta, 2, 7)
               .. struct.pack('>i6', key_expires_at) .. string.sub(meta, 8))
  end
  redis.call('PEXPIREAT', key, expires_at)
end
redis.call('HSET', key, ARGV[1], ARGV[3] .. string.sub(value, 7))
return 1
"""

# KEYS: user hash. ARGV: field ('' for none: end every session without asking), '1' to end
# every session, op id, how long it is kept (ms). Answers 1 when the field's session was live
# (or this op, repeated, ended it), else 0. Keeps the session_key, as 0.1.0 did.
_END = _LUA + """
local key, now = KEYS[1], now_ms()
local out = redis.call('HGET', key, 'out')
if out then
  local op, until_ms = string.match(out, '^(%S+) (%d+)$')
  if op == ARGV[3] and tonumber(until_ms) > now then return 1 end
end
if ARGV[1] ~= '' then
  local value = redis.call('HGET', key, ARGV[1])
  if not value or expiry(value) <= now then return 0 end
end
if ARGV[2] == '1' then
  local batch = {}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if string.len(field) == 8 then batch[#batch + 1] = field end
    if #batch == 1000 then redis.call('HDEL', key, unpack(batch)); batch = {} end
  end
  if #batch > 0 then redis.call('HDEL', key, unpack(batch)) end
else
  redis.call('HDEL', key, ARGV[1])
end
if ARGV[1] ~= '' then
  redis.call('HSET', key, 'out', ARGV[3] .. ' ' .. (now + tonumber(ARGV[4])))
end
return 1
"""

# KEYS: user hash. Returns the live sessions as {field, value, ...}.
_SESSIONS = _LUA + """
local now, live = now_ms(), {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if string.len(entries[i]) == 8 and expiry(entries[i + 1]) > now then
    live[#live + 1] = entries[i]; live[#live + 1] = entries[i + 1]
  end
end
return live
"""

# KEYS: user hash. Returns {meta, now ms, the hash's expiry ms} or nil.
_SESSION_KEY = _LUA + """
local meta = redis.call('HGET', KEYS[1], '')
if not meta then return false end
return {meta, now_ms(), redis.call('PEXPIRETIME', KEYS[1])}
"""


class LegacyRoutes:
    """User id <-> 0.1.0's route (see the module's docstring); decrypting only."""

    def __init__(self, wechat_secret: str | None) -> None:
        route_secret = (
            DEVELOPMENT_ROUTE_SECRET
            if wechat_secret is None
            else hashlib.sha256(b"session routes\0" + wechat_secret.encode()).digest()
        )
        key = hashlib.sha256(b"weapp-login token route\0" + route_secret).digest()[:16]
        # 0.1.0's construction: one block, no IV (a keyed permutation of 128-bit blocks).
        cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305
        self._decrypt = cipher.decryptor().update
        self._encrypt = cipher.encryptor().update
        self.user_id = lru_cache(maxsize=65_536)(self._user_id)

    def route(self, user_id: int) -> str:
        """The route of 0.1.0's tokens of this user (for the ids of its sessions)."""
        block = self._encrypt(bytes(8) + user_id.to_bytes(8, "big"))
        return base64.urlsafe_b64encode(block).rstrip(b"=").decode()

    def _user_id(self, route: str) -> int | None:
        """The user id a route was made for, or ``None`` for anything else."""
        if len(route) != 22:
            return None
        try:
            block = base64.urlsafe_b64decode(route + "==")
        except (binascii.Error, ValueError):
            return None
        if base64.urlsafe_b64encode(block).rstrip(b"=").decode() != route:  # one spelling
            return None
        plain = self._decrypt(block)
        return int.from_bytes(plain[8:], "big") if plain[:8] == bytes(8) else None


class LegacySessionReader:
    """0.1.0's sessions in Redis: read, extend and end them (by session id, as the port does)."""

    def __init__(
        self,
        client: RedisClient,
        *,
        wechat_secret: str | None,
        legacy_app: str,
        key_prefix: str = "wl:",
    ) -> None:
        self._routes = LegacyRoutes(wechat_secret)
        self.app = legacy_app
        """The app 0.1.0's logins are (the deployment's WeChat app)."""
        self._users = key_prefix.encode() + b"h"
        self._get = Script(client, _GET)
        self._extend = Script(client, _EXTEND)
        self._end = Script(client, _END)
        self._sessions = Script(client, _SESSIONS)
        self._session_key = Script(client, _SESSION_KEY)

    def session_id(self, token: str) -> str | None:
        """The id of a 0.1.0 token's session; ``None`` (no I/O) for any other token."""
        route, dot, rest = token.partition(".")
        if not dot or not rest or self._routes.user_id(route) is None:
            return None
        return f"{ID_PREFIX}{route}.{_b64(hashlib.sha256(token.encode()).digest()[:8])}"

    def user_of(self, session_id: str) -> int | None:
        """The user of a legacy session id, or ``None`` when it is none (no I/O)."""
        located = self._locate(session_id)
        return None if located is None else located[0]

    async def get_by_id(self, session_id: str) -> LoginSession | None:
        located = self._locate(session_id)
        if located is None:
            return None
        user_id, field = located
        with store_errors():
            found = await self._get(keys=[self._user_key(user_id)], args=[field])
        if not found:
            return None
        value, meta = found
        return LoginSession(
            user_id=user_id,
            user_created_at=_time(meta, 1) / 1000,
            login_at=_time(value, 6) / 1000,
            expires_at=_time(value, 0) / 1000,
            max_expires_at=_time(value, 12) / 1000,
            app=self.app,
            platform="wechat",
        )

    async def extend_by_id(self, session_id: str, expires_at: float) -> None:
        located = self._locate(session_id)
        if located is None:
            return
        user_id, field = located
        ms = to_ms(expires_at)
        with store_errors():
            await self._extend(
                keys=[self._user_key(user_id)], args=[field, ms, _pack_time(ms)]
            )

    async def end(self, session_id: str, *, everywhere: bool = False) -> int | None:
        """End the session (``everywhere``: every 0.1.0 session of its user) in one step; its
        user's id when it was live (or this call, repeated, ended it), else ``None``."""
        located = self._locate(session_id)
        if located is None:
            return None
        user_id, field = located
        op = secrets.token_urlsafe(12)
        with store_errors():
            ended = await self._end(
                keys=[self._user_key(user_id)], args=[field, int(everywhere), op, _OUT_MS]
            )
        return user_id if ended else None

    async def end_all(self, user_id: int) -> None:
        """End every 0.1.0 session of the user; keeps the ``session_key`` (as 0.1.0 did)."""
        with store_errors():
            await self._end(keys=[self._user_key(user_id)], args=["", 1, "-", 0])

    async def sessions_of(self, user_id: int) -> list[SessionInfo]:
        with store_errors():
            found = await self._sessions(keys=[self._user_key(user_id)], args=[])
        route = self._routes.route(user_id)
        return [
            SessionInfo(
                id=f"{ID_PREFIX}{route}.{_b64(field)}", app=self.app, platform="wechat",
                created_at=_time(value, 6) / 1000, expires_at=_time(value, 0) / 1000,
                ip=None, user_agent=None,
            )
            for field, value in zip(found[::2], found[1::2], strict=True)
        ]

    async def session_key(self, user_id: int) -> str | None:
        """The ``session_key`` 0.1.0 kept for the user, while it lives."""
        with store_errors():
            found = await self._session_key(keys=[self._user_key(user_id)], args=[])
        if not found:
            return None
        meta, now, expires_at = found
        flags = meta[0]
        if flags & 1:
            expires_at, key = _time(meta, 7), meta[13:]
        else:
            key = meta[7:]
        if expires_at <= now:
            return None
        return base64.b64encode(key).decode() if flags & 2 else bytes(key).decode()

    def _user_key(self, user_id: int) -> bytes:
        return self._users + user_id.to_bytes(8, "big")

    def _locate(self, session_id: str) -> tuple[int, bytes] | None:
        match = _ID.fullmatch(session_id)
        if match is None:
            return None
        user_id = self._routes.user_id(match[1])
        if user_id is None:
            return None
        return user_id, base64.urlsafe_b64decode(match[2] + "=")


class LegacyAwareSessionStore(TokenCallsById, SessionStore):
    """The current store, and 0.1.0's sessions beside it (see the module's docstring)."""

    def __init__(self, current: SessionStore, legacy: LegacySessionReader) -> None:
        self._current = current
        self._legacy = legacy

    async def record_login(self, login: NewLogin) -> str | None:
        return await self._current.record_login(login)  # 0.1.0's sessions are never created

    def session_id(self, token: str) -> str | None:
        return self._current.session_id(token) or self._legacy.session_id(token)

    async def get_by_id(self, session_id: str) -> LoginSession | None:
        if session_id.startswith(ID_PREFIX):
            return await self._legacy.get_by_id(session_id)
        return await self._current.get_by_id(session_id)

    async def extend_by_id(self, session_id: str, expires_at: float) -> None:
        if session_id.startswith(ID_PREFIX):
            await self._legacy.extend_by_id(session_id, expires_at)
        else:
            await self._current.extend_by_id(session_id, expires_at)

    async def logout_by_id(self, session_id: str, *, everywhere: bool) -> int | None:
        """Everywhere ends both layouts' sessions (the module's docstring says in which order)."""
        if not session_id.startswith(ID_PREFIX):
            if everywhere:
                session = await self._current.get_by_id(session_id)
                if session is None:
                    return None
                await self._legacy.end_all(session.user_id)
            return await self._current.logout_by_id(session_id, everywhere=everywhere)
        if everywhere:
            session = await self._legacy.get_by_id(session_id)
            if session is None:
                return None
            await self._current.revoke_all(session.user_id)
        return await self._legacy.end(session_id, everywhere=everywhere)

    async def sessions_of(self, user_id: int) -> list[SessionInfo]:
        sessions = await self._current.sessions_of(user_id)
        sessions += await self._legacy.sessions_of(user_id)
        return sorted(sessions, key=lambda info: info.created_at, reverse=True)

    async def revoke(self, user_id: int, session_id: str) -> bool:
        if session_id.startswith(ID_PREFIX):
            if self._legacy.user_of(session_id) != user_id:
                return False  # no session id, or another user's
            return await self._legacy.end(session_id) is not None
        return await self._current.revoke(user_id, session_id)

    async def revoke_all(self, user_id: int, *, fence_until: float | None = None) -> None:
        await self._legacy.end_all(user_id)
        await self._current.revoke_all(user_id, fence_until=fence_until)

    async def unfence(self, user_id: int) -> None:
        await self._current.unfence(user_id)

    async def session_key(self, user_id: int, app: str) -> str | None:
        found = await self._current.session_key(user_id, app)
        if found is None and app == self._legacy.app:
            found = await self._legacy.session_key(user_id)
        return found

    async def ping(self) -> None:
        await self._current.ping()


def _b64(field: bytes) -> str:
    return base64.urlsafe_b64encode(field).rstrip(b"=").decode()


def _pack_time(ms: int) -> bytes:
    return ms.to_bytes(6, "big", signed=True)


def _time(value: bytes, offset: int) -> int:
    return int.from_bytes(value[offset : offset + 6], "big", signed=True)
