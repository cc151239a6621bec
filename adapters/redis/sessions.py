"""Login sessions in Redis: one small binary hash per user, shared by every worker and instance.

The layout is packed, and that packing stays in this module: what outlives a login costs about
209 bytes for a user with one session and 105 a session with four, Redis's own cost of a key
included (docs/PERFORMANCE.md, "Sessions in Redis: bytes per session"). ``P`` is the key
prefix (``REDIS_KEY_PREFIX``), ``S`` is ``SESSION_SECRET``; times are Unix milliseconds in 6
bytes (signed, big-endian: ``struct.unpack('>i6', v)`` in the scripts).

- A token is ``<route>.<random>``: ``random`` is 256 bits from the OS; ``route`` is the first 10
  bytes (80 bits) of HMAC-SHA256(S, ``route:<user id>``) in URL-safe base64, 14 characters. It
  finds the user's hash from the token alone and says nothing of the user without S.
- ``P u<route, its 10 bytes>`` (14 bytes with the default prefix, so Redis allocates the key in
  16): one hash per user, a listpack while small, with the fields
  - ``""``, the user's meta: ``created`` (the user's creation time, 6 bytes), the user id's
    length (1 byte) and the user id (big-endian, 1 to 8 bytes), then one entry per app the user
    logged in with, in the order of their first login (an app's index never changes while the
    hash lives): the app id's length (1 byte, plus 128 when the ``session_key`` is the base64
    of 16 bytes, as WeChat's, QQ's and Douyin's are), the app id, then the app's newest
    ``session_key``: its 16 bytes, or its UTF-8 length (2 bytes) and UTF-8;
  - one field per session, named by the first 8 bytes of HMAC-SHA256(S, token) (the token is
    never stored), valued ``expires_at``, ``login_at``, ``max_expires_at`` (6 bytes each), the
    index of its app in the meta (1 byte), a kind byte (the platform's number in
    ``_PLATFORMS`` in bits 0-3, 0 when the platform's name follows, 1 byte of length and its
    UTF-8; the network's form in bits 4-5), the client's network (an IPv4 /24 as its 3 bytes,
    an IPv6 /48 as its 6, any other text as 1 byte of length and its UTF-8; nothing when
    unknown), then the user agent's UTF-8 to the end (nothing when unknown): 20 bytes and the
    network, about 33 bytes a session with the field's name. The session's id is the route
    followed by the field in URL-safe base64 (25 characters);
  - ``fence``: Unix ms (decimal) until which no session of the user is stored (a ban or a
    deletion, so that a login in flight gets no token);
  - ``out``: ``"<op id> <until ms>"`` of the last logout, so a logout repeated after a lost reply
    answers as the first did (below).

A user with one session of app ``default`` on WeChat from a known IPv4 network thus keeps a
listpack of 78 bytes (in an 80-byte allocation). A session value longer than 64 bytes (a user
agent of more than about 40 characters) turns the user's hash into a hash table, which costs
Redis about 300 bytes more. A user has at most 256 apps. Two users whose routes collide (80
bits: less than one chance in a million with a billion users) share no hash: the second's
logins are refused (a store error), and what concerns a user (its sessions, its
``session_key``s, ending them all) checks the user id in the meta first.

Expiry: Redis 7.0 has no per-field expiry, so each session's expiry is in its value and every
script judges it by Redis's own clock (``TIME``), never a process's. The KEY expires at the
latest ``expires_at`` of its sessions (moved on ``record_login`` and ``extend`` when later): a
user who logs in once and never returns leaves nothing after the session's TTL. The
``session_key`` lives as long as the hash. Dead session fields, a past ``fence`` and an ``out``
past its time are removed at the user's next login (all of a hash of up to 64 fields, else 32
random ones: bounded work).

Every operation touches one key (Cluster safe, and log out everywhere is one script), except
``record_login``, which also writes the code's registry entry: in the same script on one server
or through Sentinel, before the script on a Cluster (the code's key is in another slot).

Safe to repeat (the client repeats a command once after a lost reply): ``record_login`` and
``extend`` write the same values again; ``logout`` and ``revoke`` carry a random op id and leave
it in ``out`` for ``_OUT_MS``: the same call repeated finds its own op id and answers as the
first did, while a new logout or revoke of the dead session answers that it was not live.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterator
from functools import lru_cache
from typing import NamedTuple, cast

from redis.asyncio.cluster import RedisCluster

from adapters.redis.client import RedisClient, store_errors, to_ms
from adapters.redis.code_exchange import RedisCodeExchangeRegistry, done_value, ttl_ms
from adapters.redis.scripts import Script
from adapters.token_calls import TokenCallsById
from domain.accounts import SessionInfo
from domain.code_exchange import CODE_LIFETIME_SECONDS
from domain.entities import LoginSession
from domain.ports import NewLogin, SessionStore

_ROUTE_BYTES = 10
_FIELD_BYTES = 8
_ROUTE = re.compile(r"[A-Za-z0-9_-]{14}")
"""A route: its 10 bytes in unpadded URL-safe base64."""
_FIELD = re.compile(r"[A-Za-z0-9_-]{11}")
"""A session's field, in a session id: its 8 bytes in unpadded URL-safe base64."""
_OUT_MS = 60_000
_META = b""
_APP_INDEX = 18
"""Where a session's value keeps its app's index in the meta (after the three times)."""
_PLATFORMS = ("wechat", "qq", "douyin", "alipay", "wecom")
"""Numbered 1 to 5 in a session's kind byte: append only (a stored number never changes)."""
_PLATFORM_NUMBERS = {name: number for number, name in enumerate(_PLATFORMS, 1)}
_RAW_KEY = 0x80
_NETWORK_V4, _NETWORK_V6, _NETWORK_TEXT = 0x10, 0x20, 0x30

# Shared by the scripts: Redis's clock in ms, and what the fields hold (see the docstring).
_LUA = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function expiry(value) return (struct.unpack('>i6', value)) end
local function is_session(field) return string.len(field) == 8 end
local function end_sessions(key)
  local batch = {}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if is_session(field) then batch[#batch + 1] = field end
    if #batch == 1000 then redis.call('HDEL', key, unpack(batch)); batch = {} end
  end
  if #batch > 0 then redis.call('HDEL', key, unpack(batch)) end
end
"""

# KEYS: user hash [, code key]. ARGV: field, value (its app index left 0), the meta's head
# (created, user id), app id, the app's meta entry, expires ms [, code value, code TTL ms].
# Returns 0 (nothing but the code stored) when the user is fenced off.
_RECORD = _LUA + """
local key, now = KEYS[1], now_ms()
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[7], 'PX', ARGV[8]) end
local fence = redis.call('HGET', key, 'fence')
if fence and tonumber(fence) > now then return 0 end
local entries
if redis.call('HLEN', key) <= 64 then entries = redis.call('HGETALL', key)
else entries = redis.call('HRANDFIELD', key, 32, 'WITHVALUES') end
for i = 1, #entries, 2 do
  local field, value = entries[i], entries[i + 1]
  if (is_session(field) and expiry(value) <= now) or field == 'fence'
      or (field == 'out' and tonumber(string.match(value, ' (%d+)$')) <= now) then
    redis.call('HDEL', key, field)
  end
end
local head, meta, index = ARGV[3], redis.call('HGET', key, ''), 0
if meta then
  local pos = 8 + string.byte(meta, 7)
  if string.sub(meta, 7, pos - 1) ~= string.sub(head, 7) then
    return redis.error_reply('ERR another user has this route')
  end
  local found = false
  while pos <= #meta and not found do
    local size = string.byte(meta, pos)
    local name, last = string.sub(meta, pos + 1, pos + size % 128), pos + size % 128
    if size >= 128 then last = last + 16
    else last = last + 2 + struct.unpack('>I2', meta, last + 1) end
    if name == ARGV[4] then
      meta, found = string.sub(meta, 1, pos - 1) .. ARGV[5] .. string.sub(meta, last + 1), true
    else
      pos, index = last + 1, index + 1
    end
  end
  if not found then meta = meta .. ARGV[5] end
  if index > 255 then return redis.error_reply('ERR a user has at most 256 apps') end
else
  meta = head .. ARGV[5]
end
local value = string.sub(ARGV[2], 1, 18) .. string.char(index) .. string.sub(ARGV[2], 20)
redis.call('HSET', key, '', meta, ARGV[1], value)
if redis.call('PEXPIRETIME', key) < tonumber(ARGV[6]) then
  redis.call('PEXPIREAT', key, ARGV[6])
end
return 1
"""

# KEYS: user hash. ARGV: field. Returns {value, meta} of a live session.
_GET = _LUA + """
local found = redis.call('HMGET', KEYS[1], ARGV[1], '')
if not found[1] or expiry(found[1]) <= now_ms() then return false end
return found
"""

# KEYS: user hash. ARGV: field, new expires (6 bytes), the same in ms.
_EXTEND = _LUA + """
local key = KEYS[1]
local value = redis.call('HGET', key, ARGV[1])
if not value or expiry(value) <= now_ms() then return 0 end
redis.call('HSET', key, ARGV[1], ARGV[2] .. string.sub(value, 7))
if redis.call('PEXPIRETIME', key) < tonumber(ARGV[3]) then redis.call('PEXPIREAT', key, ARGV[3]) end
return 1
"""

# KEYS: user hash. ARGV: field, '1' for everywhere, op id, how long the op id is kept (ms).
# Returns the meta (the user's id) when the token was live (or this op ended it), else nil.
_LOGOUT = _LUA + """
local key, now = KEYS[1], now_ms()
local out = redis.call('HGET', key, 'out')
if out then
  local op, until_ms = string.match(out, '^(%S+) (%d+)$')
  if op == ARGV[3] and tonumber(until_ms) > now then return redis.call('HGET', key, '') end
end
local value = redis.call('HGET', key, ARGV[1])
if not value or expiry(value) <= now then return false end
if ARGV[2] == '1' then
  end_sessions(key)
else
  redis.call('HDEL', key, ARGV[1])
end
redis.call('HSET', key, 'out', ARGV[3] .. ' ' .. (now + tonumber(ARGV[4])))
return redis.call('HGET', key, '')
"""

# KEYS: user hash. Returns the meta, then the live sessions: {meta, field, value, ...}.
_SESSIONS = _LUA + """
local now, live = now_ms(), {redis.call('HGET', KEYS[1], '') or ''}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if is_session(entries[i]) and expiry(entries[i + 1]) > now then
    live[#live + 1] = entries[i]; live[#live + 1] = entries[i + 1]
  end
end
return live
"""

# KEYS: user hash. ARGV: field, op id, how long the op id is kept (ms). 1 when a live session
# was ended (or this op ended it: a repeat after a lost reply answers as the first did).
_REVOKE = _LUA + """
local key, now = KEYS[1], now_ms()
local out = redis.call('HGET', key, 'out')
if out then
  local op, until_ms = string.match(out, '^(%S+) (%d+)$')
  if op == ARGV[2] and tonumber(until_ms) > now then return 1 end
end
local value = redis.call('HGET', key, ARGV[1])
if not value or expiry(value) <= now then return 0 end
redis.call('HDEL', key, ARGV[1])
redis.call('HSET', key, 'out', ARGV[2] .. ' ' .. (now + tonumber(ARGV[3])))
return 1
"""

# KEYS: user hash. ARGV: fence until ms (0: no fence), the user id as the meta has it (its
# length byte and bytes). Another user's hash (a route collision) is left alone.
_REVOKE_ALL = _LUA + """
local key = KEYS[1]
local meta = redis.call('HGET', key, '')
if meta and string.sub(meta, 7, 7 + string.byte(meta, 7)) ~= ARGV[2] then return end
end_sessions(key)
if tonumber(ARGV[1]) > 0 then
  redis.call('HSET', key, 'fence', ARGV[1])
  if redis.call('PEXPIRETIME', key) < tonumber(ARGV[1]) then
    redis.call('PEXPIREAT', key, ARGV[1])
  end
end
"""


class _Stored(NamedTuple):
    """What a session's value holds (times in Unix seconds); ``origin`` is where its network
    and user agent start (read by ``_origin`` for the sessions' list only)."""

    expires_at: float
    login_at: float
    max_expires_at: float
    app_index: int
    platform: str
    origin: int


class RedisSessionStore(TokenCallsById, SessionStore):
    """``SessionStore`` on Redis (see the module's docstring for the layout)."""

    def __init__(
        self,
        client: RedisClient,
        *,
        session_secret: str,
        key_prefix: str = "wl:",
        registry: RedisCodeExchangeRegistry | None = None,
    ) -> None:
        self._client = client
        self._secret = session_secret.encode()
        self._users = key_prefix.encode() + b"u"
        self._registry = registry or RedisCodeExchangeRegistry(client, key_prefix=key_prefix)
        # A script's keys must share a cluster slot; a code's key and a user's hash do not.
        self._code_rides_along = not isinstance(client, RedisCluster)
        self._record = Script(client, _RECORD)
        self._get = Script(client, _GET)
        self._extend = Script(client, _EXTEND)
        self._logout = Script(client, _LOGOUT)
        self._sessions = Script(client, _SESSIONS)
        self._revoke = Script(client, _REVOKE)
        self._revoke_all = Script(client, _REVOKE_ALL)

    async def record_login(self, login: NewLogin) -> str | None:
        session = login.session
        route = self._route_bytes(session.user_id)
        token = f"{_b64(route)}.{secrets.token_urlsafe(32)}"
        expires_at = to_ms(session.expires_at)
        keys = [self._users + route]
        args: list[bytes | str | int] = [
            self._field(token),
            _pack_session(login),
            _pack_user(session.user_id, to_ms(session.user_created_at)),
            session.app,
            _pack_app(session.app, login.session_key),
            expires_at,
        ]
        code_ttl = CODE_LIFETIME_SECONDS
        if self._code_rides_along:
            keys.append(self._registry.key(login.code_hash))
            args += [done_value(login.exchanged), ttl_ms(code_ttl)]
        else:
            await self._registry.complete(login.code_hash, login.exchanged, ttl=code_ttl)
        with store_errors():
            stored = await self._record(keys=keys, args=args)
        return token if stored else None

    def session_id(self, token: str) -> str | None:
        route, dot, _ = token.partition(".")
        if not dot or _decode(route, _ROUTE) is None:
            return None
        return route + _b64(self._field(token))

    async def get_by_id(self, session_id: str) -> LoginSession | None:
        located = self._locate(session_id)
        return None if located is None else await self._get_at(*located)

    async def extend_by_id(self, session_id: str, expires_at: float) -> None:
        located = self._locate(session_id)
        if located is None:
            return
        key, field = located
        new_expiry = to_ms(expires_at)
        with store_errors():
            await self._extend(keys=[key], args=[field, _time(new_expiry), new_expiry])

    async def logout_by_id(self, session_id: str, *, everywhere: bool) -> int | None:
        located = self._locate(session_id)
        if located is None:
            return None
        op = secrets.token_urlsafe(12)
        with store_errors():
            meta = await self._logout(
                keys=[located[0]], args=[located[1], int(everywhere), op, _OUT_MS]
            )
        return None if meta is None else _user_of(meta)[0]

    async def sessions_of(self, user_id: int) -> list[SessionInfo]:
        route = self._route(user_id)
        with store_errors():
            meta, *found = await self._sessions(keys=[self._user_key(user_id)], args=[])
        if meta and _user_of(meta)[0] != user_id:
            return []  # another user's hash (a route collision)
        apps = [name for name, _ in _apps(meta)] if meta else []
        sessions = []
        for field, value in zip(found[::2], found[1::2], strict=True):
            stored = _unpack_session(value)
            ip, user_agent = _origin(value, stored.origin)
            sessions.append(
                SessionInfo(
                    id=route + _b64(field), app=apps[stored.app_index],
                    platform=stored.platform, created_at=stored.login_at,
                    expires_at=stored.expires_at, ip=ip, user_agent=user_agent,
                )
            )
        return sorted(sessions, key=lambda info: info.created_at, reverse=True)

    async def revoke(self, user_id: int, session_id: str) -> bool:
        located = self._locate(session_id)
        if located is None or located[0] != self._user_key(user_id):
            return False  # no session id, or another user's
        op = secrets.token_urlsafe(12)
        with store_errors():
            return bool(await self._revoke(keys=[located[0]], args=[located[1], op, _OUT_MS]))

    async def revoke_all(self, user_id: int, *, fence_until: float | None = None) -> None:
        fence = 0 if fence_until is None else to_ms(fence_until)
        with store_errors():
            await self._revoke_all(
                keys=[self._user_key(user_id)], args=[fence, _pack_user(user_id, 0)[6:]]
            )

    async def unfence(self, user_id: int) -> None:
        with store_errors():
            await self._client.hdel(self._user_key(user_id), "fence")

    async def session_key(self, user_id: int, app: str) -> str | None:
        with store_errors():
            meta = await self._client.hget(self._user_key(user_id), _META)
        if meta is None or _user_of(cast(bytes, meta))[0] != user_id:
            return None  # none, or another user's hash (a route collision)
        return next((key for name, key in _apps(cast(bytes, meta)) if name == app), None)

    async def ping(self) -> None:
        with store_errors():
            await self._client.ping()

    async def _get_at(self, key: bytes, field: bytes) -> LoginSession | None:
        with store_errors():
            found = await self._get(keys=[key], args=[field])
        if not found:
            return None
        value, meta = found
        stored = _unpack_session(value)
        user_id, created = _user_of(meta)
        return LoginSession(
            user_id=user_id,
            user_created_at=created / 1000,
            login_at=stored.login_at,
            expires_at=stored.expires_at,
            max_expires_at=stored.max_expires_at,
            app=_app_name(meta, stored.app_index),
            platform=stored.platform,
        )

    def _route_bytes(self, user_id: int) -> bytes:
        digest = hmac.digest(self._secret, f"route:{user_id}".encode(), hashlib.sha256)
        return digest[:_ROUTE_BYTES]

    def _route(self, user_id: int) -> str:
        """The route of the user's tokens and session ids (14 characters)."""
        return _b64(self._route_bytes(user_id))

    def _user_key(self, user_id: int) -> bytes:
        return self._users + self._route_bytes(user_id)

    def _field(self, token: str) -> bytes:
        return hmac.digest(self._secret, token.encode(), hashlib.sha256)[:_FIELD_BYTES]

    def _locate(self, session_id: str) -> tuple[bytes, bytes] | None:
        """The user's hash and the session's field; ``None`` for an id of another form."""
        if len(session_id) != 25:
            return None
        route, field = _decode(session_id[:14], _ROUTE), _decode(session_id[14:], _FIELD)
        if route is None or field is None:
            return None
        return self._users + route, field


def _b64(data: bytes) -> str:
    """Unpadded URL-safe base64 (routes and session ids)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _decode(text: str, form: re.Pattern[str]) -> bytes | None:
    """The bytes of a route or a field written as ``_b64`` writes them, else ``None`` (one
    spelling only: the unused bits of the last character are 0)."""
    if not form.fullmatch(text):
        return None
    data = base64.urlsafe_b64decode(text + "==")
    return data if _b64(data) == text else None


def _time(ms: int) -> bytes:
    return ms.to_bytes(6, "big", signed=True)


def _ms(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 6], "big", signed=True)


def _pack_user(user_id: int, created_ms: int) -> bytes:
    """The meta's head: the user's creation time and id."""
    size = max(1, (user_id.bit_length() + 7) // 8)
    return _time(created_ms) + bytes([size]) + user_id.to_bytes(size, "big")


def _user_of(meta: bytes) -> tuple[int, int]:
    """The user id and creation time (ms) in a meta."""
    return int.from_bytes(meta[7 : 7 + meta[6]], "big"), _ms(meta, 0)


def _pack_app(app: str, session_key: str) -> bytes:
    """An app's entry in the meta, with its newest ``session_key``."""
    name = app.encode()
    if not 0 < len(name) < _RAW_KEY:
        raise ValueError("an app id has 1 to 127 bytes")
    key = session_key.encode()
    if len(key) == 24 and key.endswith(b"=="):
        try:
            raw = binascii.a2b_base64(key, strict_mode=True)
        except binascii.Error:
            raw = b""
        if len(raw) == 16 and binascii.b2a_base64(raw, newline=False) == key:
            return bytes([len(name) | _RAW_KEY]) + name + raw
    return bytes([len(name)]) + name + len(key).to_bytes(2, "big") + key


def _apps(meta: bytes) -> Iterator[tuple[str, str]]:
    """The meta's apps in their order (their indexes), each with its newest ``session_key``."""
    pos = 7 + meta[6]
    while pos < len(meta):
        head = meta[pos]
        start = pos + 1 + (head & 0x7F)
        name = meta[pos + 1 : start].decode()
        if head & _RAW_KEY:
            pos = start + 16
            yield name, base64.b64encode(meta[start:pos]).decode()
        else:
            pos = start + 2 + int.from_bytes(meta[start : start + 2], "big")
            yield name, meta[start + 2 : pos].decode()


def _app_name(meta: bytes, index: int) -> str:
    """The app at ``index`` in a meta, without decoding the ``session_key``s."""
    pos = 7 + meta[6]
    for _ in range(index):
        head = meta[pos]
        pos += 1 + (head & 0x7F)
        pos += 16 if head & _RAW_KEY else 2 + int.from_bytes(meta[pos : pos + 2], "big")
    return meta[pos + 1 : pos + 1 + (meta[pos] & 0x7F)].decode()


def _pack_session(login: NewLogin) -> bytes:
    """A session's value; its app's index (0 here) is set by the script, which knows the
    meta."""
    session = login.session
    platform = _PLATFORM_NUMBERS.get(session.platform, 0)
    network_form, network = _pack_network(login.ip)
    parts = [
        _time(to_ms(session.expires_at)),
        _time(to_ms(session.login_at)),
        _time(to_ms(session.max_expires_at)),
        bytes([0, platform | network_form]),
    ]
    if not platform:
        parts.append(_with_length(session.platform))
    parts.append(network)
    if login.user_agent:
        parts.append(login.user_agent.encode())
    return b"".join(parts)


def _unpack_session(value: bytes) -> _Stored:
    kind, origin = value[_APP_INDEX + 1], _APP_INDEX + 2
    if kind & 0x0F:
        platform = _PLATFORMS[(kind & 0x0F) - 1]
    else:
        origin += 1 + value[origin]
        platform = value[_APP_INDEX + 3 : origin].decode()
    return _Stored(
        expires_at=_ms(value, 0) / 1000,
        login_at=_ms(value, 6) / 1000,
        max_expires_at=_ms(value, 12) / 1000,
        app_index=value[_APP_INDEX],
        platform=platform,
        origin=origin,
    )


@lru_cache(maxsize=4096)  # a network logs in again and again; parsing costs a login 2-5 µs
def _pack_network(ip: str | None) -> tuple[int, bytes]:
    """The network's form (for the kind byte) and bytes: ``network_of`` writes an IPv4 /24 or an
    IPv6 /48, kept as their 3 or 6 bytes; any other text as itself (with its length)."""
    if ip is None:
        return 0, b""
    head, _, tail = ip.rpartition(".")
    if tail == "0/24":  # IPv4, without ipaddress's 14 µs on each login
        try:
            packed = bytes(int(part) for part in head.split("."))
        except ValueError:
            packed = b""
        if len(packed) == 3 and _network(_NETWORK_V4, packed) == ip:
            return _NETWORK_V4, packed
    elif ip.endswith("::/48"):
        try:
            packed = ipaddress.IPv6Network(ip).network_address.packed[:6]
        except ValueError:
            packed = b""
        if len(packed) == 6 and _network(_NETWORK_V6, packed) == ip:
            return _NETWORK_V6, packed
    return _NETWORK_TEXT, _with_length(ip)


def _network(form: int, packed: bytes) -> str:
    if form == _NETWORK_V4:
        return "{}.{}.{}.0/24".format(*packed)
    return str(ipaddress.IPv6Network((packed + bytes(10), 48)))


def _origin(value: bytes, pos: int) -> tuple[str | None, str | None]:
    """The network and user agent of a session's value, from ``pos`` on."""
    form = value[_APP_INDEX + 1] & _NETWORK_TEXT
    if form == _NETWORK_TEXT:
        end = pos + 1 + value[pos]
        ip: str | None = value[pos + 1 : end].decode()
    elif form:
        end = pos + (3 if form == _NETWORK_V4 else 6)
        ip = _network(form, value[pos:end])
    else:
        end, ip = pos, None
    return ip, value[end:].decode(errors="replace") or None


def _with_length(text: str) -> bytes:
    data = text.encode()
    if len(data) > 255:
        raise ValueError("at most 255 bytes")
    return bytes([len(data)]) + data
