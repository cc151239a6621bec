"""Login sessions in Redis: one hash per user, shared by every worker and instance.

Layout (``P`` is the key prefix), ONE key per user, so every operation touches one key (Redis
Cluster safe without hash tags; logging out everywhere is one atomic script on one key):

- ``P h <user id, 8 bytes>`` -> a hash of the user's sessions and newest ``session_key``:

  - field ``<first 8 bytes of the token's SHA-256>`` -> ``expires_at``, ``login_at``,
    ``max_expires_at`` in milliseconds (6 bytes each, signed, big-endian);
  - field ``""`` -> a flags byte, ``user_created_at`` in ms (6 bytes), the ``session_key``'s
    expiry in ms (6 bytes, only with flag 1) and the ``session_key`` (its 16 bytes when it is
    the base64 of 16 bytes, as WeChat's are: flag 2; else its UTF-8).

  The key expires (``PEXPIREAT``) at the latest ``max_expires_at`` of the sessions it held. The
  ``session_key`` expires with the max age of the newest session, which is the key's own expiry
  unless that session's max age was shorter than an older one's (then it is written: flag 1).

- A token is ``<route>.<random>``: the route (22 characters) is URL-safe base64 of AES-128 of
  (8 zero bytes, the user id) under a key derived from ``route_secret``. ``get`` finds the user's
  key from the token alone: ``/me`` is one ``HMGET``. Without the secret a token says nothing of
  its user; a route that does not decrypt to 8 zero bytes is refused without asking Redis; and
  after a change of secret old routes decrypt to garbage, so old tokens stop working (users log
  in again) instead of reaching another user's key. The field of a token is found only with
  the token's own hash, so a right route with a wrong random part finds nothing.

Why: the per-key overhead of Redis (~120 bytes: dict entries, key, object, TTL entry) is paid
once per user rather than once per session and once more for an index; a small hash is a
listpack on the default configuration (up to 512 fields of up to 64 bytes), so 10,000 users with
one session each cost ~186 bytes per session, the logout-everywhere index included.

Redis 7.0 has no per-field expiry: each session's ``expires_at`` is in its value, judged against
this process's clock (the one the domain uses too); a dead field is invisible and is removed at
the user's next login (every field of a hash of up to 64, 32 random ones of a bigger one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from redis.asyncio.cluster import RedisCluster

from adapters.redis.client import RedisClient, store_errors, to_ms
from adapters.redis.code_exchange import RedisCodeExchangeRegistry
from domain.entities import LoginSession
from domain.ports import CodeReceipt, SessionStore

_FIELD_BYTES = 8
_DIGEST_BYTES = 32
_TIME_BYTES = 6
_SEPARATOR = ord(".")
_EXPLICIT_KEY_EXPIRY = 1
_BASE64_KEY = 2
DEVELOPMENT_ROUTE_SECRET = b"weapp-login development route secret"
"""Used without a ``route_secret``: routes then hide nothing from whoever reads this file (fine
for development and the simulator, where every worker must still agree)."""

# KEYS: the user's hash [, a code's registry key]. ARGV: field, session value, max_expires_at
# ms, meta without the key expiry, max_expires_at ms packed (6 bytes), now ms [, the code's
# registry value, its TTL ms].
_CREATE = """
local key, now = KEYS[1], tonumber(ARGV[6])
local entries
if redis.call('HLEN', key) <= 64 then
  entries = redis.call('HGETALL', key)
else
  entries = redis.call('HRANDFIELD', key, 32, 'WITHVALUES')
end
for i = 1, #entries, 2 do
  if entries[i] ~= '' and struct.unpack('>i6', entries[i + 1]) <= now then
    redis.call('HDEL', key, entries[i])
  end
end
local max_expires_at, meta = tonumber(ARGV[3]), ARGV[4]
local key_expires_at = redis.call('PEXPIRETIME', key)
if key_expires_at >= max_expires_at then
  meta = string.char(string.byte(meta, 1) + 1) .. string.sub(meta, 2, 7) .. ARGV[5]
         .. string.sub(meta, 8)
end
redis.call('HSET', key, ARGV[1], ARGV[2], '', meta)
if key_expires_at < max_expires_at then redis.call('PEXPIREAT', key, max_expires_at) end
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[7], 'PX', ARGV[8]) end
"""

# KEYS: the user's hash. ARGV: field, new expires_at ms, the same packed (6 bytes), now ms.
_EXTEND = """
local key = KEYS[1]
local value = redis.call('HGET', key, ARGV[1])
if not value or struct.unpack('>i6', value) <= tonumber(ARGV[4]) then return 0 end
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

# KEYS: the user's hash. ARGV: field, now ms. Returns {session, meta} when it was live.
_DELETE = """
local found = redis.call('HMGET', KEYS[1], ARGV[1], '')
if not found[1] then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
if struct.unpack('>i6', found[1]) <= tonumber(ARGV[2]) then return false end
return {found[1], found[2] or ''}
"""

# KEYS: the user's hash. ARGV: now ms. Ends every session, keeps the session_key; returns how
# many were live.
_DELETE_ALL = """
local key, now = KEYS[1], tonumber(ARGV[1])
local ended, batch = 0, {}
local entries = redis.call('HGETALL', key)
for i = 1, #entries, 2 do
  if entries[i] ~= '' then
    if struct.unpack('>i6', entries[i + 1]) > now then ended = ended + 1 end
    batch[#batch + 1] = entries[i]
    if #batch == 1000 then
      redis.call('HDEL', key, unpack(batch))
      batch = {}
    end
  end
end
if #batch > 0 then redis.call('HDEL', key, unpack(batch)) end
return ended
"""

# KEYS: the user's hash. Returns {meta, the key's expiry in ms} or nil.
_SESSION_KEY = """
local meta = redis.call('HGET', KEYS[1], '')
if not meta then return false end
return {meta, redis.call('PEXPIRETIME', KEYS[1])}
"""


class TokenRoutes:
    """User id <-> the route a user's tokens start with (see the module's docstring)."""

    def __init__(self, secret: bytes) -> None:
        key = hashlib.sha256(b"weapp-login token route\0" + secret).digest()[:16]
        # One block, no IV: a keyed permutation of 128-bit blocks is exactly what is wanted.
        cipher = Cipher(algorithms.AES(key), modes.ECB())  # noqa: S305
        self._encrypt = cipher.encryptor().update
        self._decrypt = cipher.decryptor().update
        self.user_id = lru_cache(maxsize=65_536)(self._user_id)

    def route(self, user_id: int) -> str:
        block = self._encrypt(bytes(8) + user_id.to_bytes(8, "big"))
        return base64.urlsafe_b64encode(block).rstrip(b"=").decode()

    def _user_id(self, route: bytes) -> int | None:
        """The user id a route was made for, or ``None`` for anything else."""
        if len(route) != 22:
            return None
        try:
            block = base64.urlsafe_b64decode(route + b"==")
        except (binascii.Error, ValueError):
            return None
        if base64.urlsafe_b64encode(block).rstrip(b"=") != route:  # one spelling per route
            return None
        plain = self._decrypt(block)
        return int.from_bytes(plain[8:], "big") if plain[:8] == bytes(8) else None


class RedisSessionStore(SessionStore):
    """``SessionStore`` on Redis; the token itself is never stored, only 8 bytes of its hash."""

    def __init__(
        self,
        client: RedisClient,
        *,
        route_secret: bytes | None = None,
        key_prefix: bytes = b"wl:",
        registry: RedisCodeExchangeRegistry | None = None,
    ) -> None:
        self._client = client
        self._registry = registry
        # A script's keys must share a cluster slot; a code's key and a user's hash do not.
        self._receipts_ride_along = not isinstance(client, RedisCluster)
        self._routes = TokenRoutes(route_secret or DEVELOPMENT_ROUTE_SECRET)
        self._users = key_prefix + b"h"
        self._create = client.register_script(_CREATE)
        self._extend = client.register_script(_EXTEND)
        self._delete = client.register_script(_DELETE)
        self._delete_all = client.register_script(_DELETE_ALL)
        self._session_key = client.register_script(_SESSION_KEY)

    def token_route(self, user_id: int) -> str:
        return self._routes.route(user_id)

    async def create(
        self,
        token_hash: bytes,
        session: LoginSession,
        *,
        session_key: str,
        receipt: CodeReceipt | None = None,
    ) -> None:
        """One script: the session, the user's meta and, on one server or through Sentinel, the
        receipt's registry entry too. A cluster writes the entry first, as ``complete`` (its
        slot is not the user's), so a failed entry leaves no session behind."""
        user_id = self._user_of(token_hash)
        if user_id != session.user_id:
            raise ValueError("the token does not carry its user's route (see token_route)")
        registry = self._registry
        if receipt is not None and registry is None:
            raise ValueError("this store was given no registry to record receipts in")
        max_expires_at = to_ms(session.max_expires_at)
        keys: list[bytes] = [self._user_key(user_id)]
        args: list[bytes | int] = [
            _field(token_hash),
            _pack_session(session),
            max_expires_at,
            _pack_meta(session.user_created_at, session_key),
            _pack_time(max_expires_at),
            _now_ms(),
        ]
        if receipt is not None and registry is not None:
            if self._receipts_ride_along:
                code_key, code_value, code_px = registry.entry(receipt)
                keys.append(code_key)
                args += [code_value, code_px]
            else:
                await registry.complete(receipt.code_hash, receipt.session, ttl=receipt.ttl)
        with store_errors():
            await self._create(keys=keys, args=args)

    async def get(self, token_hash: bytes) -> LoginSession | None:
        user_id = self._user_of(token_hash)
        if user_id is None:
            return None
        with store_errors():
            value, meta = await self._client.hmget(
                self._user_key(user_id), [_field(token_hash), b""]
            )
        if value is None or meta is None or _unpack_time(value, 0) <= _now_ms():
            return None
        return _unpack_session(user_id, value, meta)

    async def extend(self, token_hash: bytes, expires_at: float) -> None:
        user_id = self._user_of(token_hash)
        if user_id is None:
            return
        new_expiry = to_ms(expires_at)
        with store_errors():
            await self._extend(
                keys=[self._user_key(user_id)],
                args=[_field(token_hash), new_expiry, _pack_time(new_expiry), _now_ms()],
            )

    async def delete(self, token_hash: bytes) -> LoginSession | None:
        user_id = self._user_of(token_hash)
        if user_id is None:
            return None
        with store_errors():
            found = await self._delete(
                keys=[self._user_key(user_id)], args=[_field(token_hash), _now_ms()]
            )
        return None if found is None else _unpack_session(user_id, *found)

    async def delete_all(self, user_id: int) -> int:
        with store_errors():
            return int(await self._delete_all(keys=[self._user_key(user_id)], args=[_now_ms()]))

    async def session_key(self, user_id: int) -> str | None:
        with store_errors():
            found = await self._session_key(keys=[self._user_key(user_id)])
        if found is None:
            return None
        meta, key_expires_at = found
        flags = meta[0]
        if flags & _EXPLICIT_KEY_EXPIRY:
            key_expires_at, session_key = _unpack_time(meta, 7), meta[13:]
        else:
            session_key = meta[7:]
        if key_expires_at <= _now_ms():
            return None
        if flags & _BASE64_KEY:
            return base64.b64encode(session_key).decode()
        return bytes(session_key).decode()

    async def ping(self) -> None:
        with store_errors():
            await self._client.ping()

    def _user_of(self, token_hash: bytes) -> int | None:
        """The user id from the route that ``hash_token`` keeps before the digest."""
        if len(token_hash) <= _DIGEST_BYTES + 1 or token_hash[-_DIGEST_BYTES - 1] != _SEPARATOR:
            return None
        user_id: int | None = self._routes.user_id(token_hash[: -_DIGEST_BYTES - 1])
        return user_id

    def _user_key(self, user_id: int) -> bytes:
        return self._users + user_id.to_bytes(8, "big")


def _now_ms() -> int:
    return to_ms(time.time())


def _field(token_hash: bytes) -> bytes:
    return token_hash[-_DIGEST_BYTES:][:_FIELD_BYTES]


def _pack_time(ms: int) -> bytes:
    return ms.to_bytes(_TIME_BYTES, "big", signed=True)


def _unpack_time(value: bytes, offset: int) -> int:
    return int.from_bytes(value[offset : offset + _TIME_BYTES], "big", signed=True)


def _pack_session(session: LoginSession) -> bytes:
    """``expires_at`` first: the scripts read it with ``struct.unpack('>i6', value)``."""
    times = (session.expires_at, session.login_at, session.max_expires_at)
    return b"".join(_pack_time(to_ms(t)) for t in times)


def _pack_meta(user_created_at: float, session_key: str) -> bytes:
    flags, key = 0, session_key.encode()
    if len(key) == 24:
        try:
            raw = base64.b64decode(key, validate=True)
        except binascii.Error:
            raw = b""
        if len(raw) == 16 and base64.b64encode(raw) == key:
            flags, key = _BASE64_KEY, raw
    return bytes([flags]) + _pack_time(to_ms(user_created_at)) + key


def _unpack_session(user_id: int, value: bytes, meta: bytes) -> LoginSession:
    return LoginSession(
        user_id=user_id,
        user_created_at=_unpack_time(meta, 1) / 1000,
        login_at=_unpack_time(value, 6) / 1000,
        expires_at=_unpack_time(value, 0) / 1000,
        max_expires_at=_unpack_time(value, 12) / 1000,
    )
