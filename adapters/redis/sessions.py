"""Login sessions in Redis: one hash per user, shared by every worker and instance.

Layout (``P`` is the key prefix, ``REDIS_KEY_PREFIX``; ``S`` is ``SESSION_SECRET``):

- A token is ``<route>.<random>``: ``random`` is 256 bits from the OS; ``route`` is the first 16
  characters of URL-safe base64 of HMAC-SHA256(S, ``route:<user id>``). The route finds the
  user's hash from the token alone and says nothing of the user without S.
- ``P u:<route>``: one hash per user, with the fields
  - ``id``: the user id; ``created``: the user's creation time (Unix ms); ``keys``: the newest
    ``session_key`` of each of the user's apps, a JSON object by app id;
  - one field per session, named by the first 16 bytes of HMAC-SHA256(S, token) (the token is
    never stored), valued
    ``"<expires_at> <login_at> <max_expires_at> <app> <platform> <network> <user agent>"``
    (times in Unix ms; the client's network cut to /24 or /48, or ``-`` before a user agent;
    the user agent, at most 256 characters; both left out when unknown): about 100 bytes a
    session and its user agent; the session's id is the
    route followed by that field in URL-safe base64 (38 characters);
  - ``fence``: Unix ms until which no session of the user is stored (a ban or a deletion, so
    that a login in flight gets no token);
  - ``out``: ``"<op id> <until ms>"`` of the last logout, so a logout repeated after a lost reply
    answers as the first did (below).

Expiry: Redis 7.0 has no per-field expiry, so each session's expiry is in its value and every
script judges it by Redis's own clock (``TIME``), never a process's. The KEY expires at the
latest ``expires_at`` of its sessions (moved on ``record_login`` and ``extend`` when later): a
user who logs in once and never returns leaves nothing after the session's TTL. The
``session_key`` lives as long as the hash. Dead session fields are removed at the user's next
login (all of a hash of up to 64 fields, else 32 random ones: bounded work).

Before apps, the store wrote no ``<app> <platform>`` in a session's value and kept one ``key``
field (the one app's): both are still read, as the deployment's WeChat app (``legacy_app``), so
tokens issued before the upgrade keep working, with their ``session_key``.

Every operation touches one key (Cluster safe, and log out everywhere is one script), except
``record_login``, which also writes the code's registry entry: in the same script on one server
or through Sentinel, before the script on a Cluster (the code's key is in another slot).

Safe to repeat (the client repeats a command once after a lost reply): ``record_login`` and
``extend`` write the same values again; ``logout`` carries a random op id and leaves it in ``out``
for ``_OUT_MS``: the same call repeated finds its own op id and answers the user's id again,
while a new logout of the dead token answers ``None``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import cast

import orjson
from redis.asyncio.cluster import RedisCluster

from adapters.redis.client import RedisClient, store_errors, to_ms
from adapters.redis.code_exchange import RedisCodeExchangeRegistry, done_value, ttl_ms
from adapters.redis.scripts import Script
from domain.accounts import SessionInfo
from domain.code_exchange import CODE_LIFETIME_SECONDS
from domain.entities import LoginSession
from domain.ports import NewLogin, SessionStore

_ROUTE = re.compile(r"[A-Za-z0-9_-]{16}")
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{38}")
"""A session's id: the route of its user's hash, then its field in URL-safe base64."""
_OUT_MS = 60_000

# Shared by the scripts: Redis's clock in ms, and whether a field is a session's (16 bytes).
_LUA = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function expiry(value) return tonumber(string.match(value, '^(%-?%d+)')) end
local function is_session(field) return string.len(field) == 16 end
local function end_sessions(key)
  local batch = {}
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if is_session(field) then batch[#batch + 1] = field end
    if #batch == 1000 then redis.call('HDEL', key, unpack(batch)); batch = {} end
  end
  if #batch > 0 then redis.call('HDEL', key, unpack(batch)) end
end
"""

# KEYS: user hash [, code key]. ARGV: field, value, user id, created ms, session_key,
# expires ms, app [, code value, code TTL ms]. Returns 0 (nothing but the code stored) when
# the user is fenced off.
_RECORD = _LUA + """
local key, now = KEYS[1], now_ms()
if KEYS[2] then redis.call('SET', KEYS[2], ARGV[8], 'PX', ARGV[9]) end
local fence = redis.call('HGET', key, 'fence')
if fence and tonumber(fence) > now then return 0 end
local entries
if redis.call('HLEN', key) <= 64 then entries = redis.call('HGETALL', key)
else entries = redis.call('HRANDFIELD', key, 32, 'WITHVALUES') end
for i = 1, #entries, 2 do
  if is_session(entries[i]) and expiry(entries[i + 1]) <= now then
    redis.call('HDEL', key, entries[i])
  end
end
local keys = cjson.decode(redis.call('HGET', key, 'keys') or '{}')
keys[ARGV[7]] = ARGV[5]
redis.call('HSET', key, 'id', ARGV[3], 'created', ARGV[4], 'keys', cjson.encode(keys),
  ARGV[1], ARGV[2])
if redis.call('PEXPIRETIME', key) < tonumber(ARGV[6]) then
  redis.call('PEXPIREAT', key, ARGV[6])
end
return 1
"""

# KEYS: user hash. ARGV: field. Returns {value, id, created} of a live session.
_GET = _LUA + """
local found = redis.call('HMGET', KEYS[1], ARGV[1], 'id', 'created')
if not found[1] or expiry(found[1]) <= now_ms() then return false end
return found
"""

# KEYS: user hash. ARGV: field, new expires ms.
_EXTEND = _LUA + """
local key = KEYS[1]
local value = redis.call('HGET', key, ARGV[1])
if not value or expiry(value) <= now_ms() then return 0 end
redis.call('HSET', key, ARGV[1], ARGV[2] .. string.match(value, '^%-?%d+(.*)$'))
if redis.call('PEXPIRETIME', key) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', key, ARGV[2]) end
return 1
"""

# KEYS: user hash. ARGV: field, '1' for everywhere, op id, how long the op id is kept (ms).
# Returns the user's id when the token was live (or this op ended it), else nil.
_LOGOUT = _LUA + """
local key, now = KEYS[1], now_ms()
local out = redis.call('HGET', key, 'out')
if out then
  local op, until_ms = string.match(out, '^(%S+) (%d+)$')
  if op == ARGV[3] and tonumber(until_ms) > now then return redis.call('HGET', key, 'id') end
end
local value = redis.call('HGET', key, ARGV[1])
if not value or expiry(value) <= now then return false end
if ARGV[2] == '1' then
  end_sessions(key)
else
  redis.call('HDEL', key, ARGV[1])
end
redis.call('HSET', key, 'out', ARGV[3] .. ' ' .. (now + tonumber(ARGV[4])))
return redis.call('HGET', key, 'id')
"""


# KEYS: user hash. Returns the live sessions as {field, value, ...}.
_SESSIONS = _LUA + """
local now, live = now_ms(), {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if is_session(entries[i]) and expiry(entries[i + 1]) > now then
    live[#live + 1] = entries[i]; live[#live + 1] = entries[i + 1]
  end
end
return live
"""

# KEYS: user hash. ARGV: field. 1 when a live session was ended.
_REVOKE = _LUA + """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value or expiry(value) <= now_ms() then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
"""

# KEYS: user hash. ARGV: fence until ms (0: no fence).
_REVOKE_ALL = _LUA + """
local key = KEYS[1]
end_sessions(key)
if tonumber(ARGV[1]) > 0 then
  redis.call('HSET', key, 'fence', ARGV[1])
  if redis.call('PEXPIRETIME', key) < tonumber(ARGV[1]) then
    redis.call('PEXPIREAT', key, ARGV[1])
  end
end
"""


@dataclass(frozen=True, slots=True)
class _Stored:
    """What a session's value holds (times in Unix seconds)."""

    expires_at: float
    login_at: float
    max_expires_at: float
    app: str
    platform: str
    ip: str | None = None
    user_agent: str | None = None


class RedisSessionStore(SessionStore):
    """``SessionStore`` on Redis (see the module's docstring for the layout)."""

    def __init__(
        self,
        client: RedisClient,
        *,
        session_secret: str,
        key_prefix: str = "wl:",
        registry: RedisCodeExchangeRegistry | None = None,
        legacy_app: str = "default",
    ) -> None:
        self._client = client
        self._legacy_app = legacy_app
        self._secret = session_secret.encode()
        self._users = key_prefix.encode() + b"u:"
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
        route = self._route(session.user_id)
        token = f"{route}.{secrets.token_urlsafe(32)}"
        expires_at = to_ms(session.expires_at)
        keys = [self._users + route.encode()]
        args: list[bytes | str | int] = [
            self._field(token),
            f"{expires_at} {to_ms(session.login_at)} {to_ms(session.max_expires_at)}"
            f" {session.app} {session.platform}{_origin(login)}",
            session.user_id,
            to_ms(session.user_created_at),
            login.session_key,
            expires_at,
            session.app,
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
        if not dot or not _ROUTE.fullmatch(route):
            return None
        return route + _b64(self._field(token))

    async def get(self, token: str) -> LoginSession | None:
        session_id = self.session_id(token)
        return None if session_id is None else await self.get_by_id(session_id)

    async def extend(self, token: str, expires_at: float) -> None:
        session_id = self.session_id(token)
        if session_id is not None:
            await self.extend_by_id(session_id, expires_at)

    async def logout(self, token: str, *, everywhere: bool) -> int | None:
        session_id = self.session_id(token)
        if session_id is None:
            return None
        return await self.logout_by_id(session_id, everywhere=everywhere)

    async def get_by_id(self, session_id: str) -> LoginSession | None:
        located = self._locate(session_id)
        if located is None:
            return None
        with store_errors():
            found = await self._get(keys=[located[0]], args=[located[1]])
        if not found:
            return None
        value, user_id, created = found
        stored = self._stored(value)
        return LoginSession(
            user_id=int(user_id),
            user_created_at=int(created) / 1000,
            login_at=stored.login_at,
            expires_at=stored.expires_at,
            max_expires_at=stored.max_expires_at,
            app=stored.app,
            platform=stored.platform,
        )

    async def extend_by_id(self, session_id: str, expires_at: float) -> None:
        located = self._locate(session_id)
        if located is None:
            return
        with store_errors():
            await self._extend(keys=[located[0]], args=[located[1], to_ms(expires_at)])

    async def logout_by_id(self, session_id: str, *, everywhere: bool) -> int | None:
        located = self._locate(session_id)
        if located is None:
            return None
        op = secrets.token_urlsafe(12)
        with store_errors():
            ended = await self._logout(
                keys=[located[0]], args=[located[1], int(everywhere), op, _OUT_MS]
            )
        return None if ended is None else int(ended)

    async def sessions_of(self, user_id: int) -> list[SessionInfo]:
        route = self._route(user_id)
        with store_errors():
            found = await self._sessions(keys=[self._user_key(user_id)], args=[])
        sessions = [
            SessionInfo(
                id=route + _b64(field), app=stored.app, platform=stored.platform,
                created_at=stored.login_at, expires_at=stored.expires_at, ip=stored.ip,
                user_agent=stored.user_agent,
            )
            for field, stored in (
                (field, self._stored(value))
                for field, value in zip(found[::2], found[1::2], strict=True)
            )
        ]
        return sorted(sessions, key=lambda info: info.created_at, reverse=True)

    async def revoke(self, user_id: int, session_id: str) -> bool:
        located = self._locate(session_id)
        if located is None or located[0] != self._user_key(user_id):
            return False  # no session id, or another user's
        with store_errors():
            return bool(await self._revoke(keys=[located[0]], args=[located[1]]))

    async def revoke_all(self, user_id: int, *, fence_until: float | None = None) -> None:
        fence = 0 if fence_until is None else to_ms(fence_until)
        with store_errors():
            await self._revoke_all(keys=[self._user_key(user_id)], args=[fence])

    async def unfence(self, user_id: int) -> None:
        with store_errors():
            await self._client.hdel(self._user_key(user_id), "fence")

    async def session_key(self, user_id: int, app: str) -> str | None:
        with store_errors():
            keys, legacy = await self._client.hmget(
                self._user_key(user_id), ["keys", "key"]
            )
        value = orjson.loads(keys).get(app) if keys is not None else None
        if value is None and app == self._legacy_app and legacy is not None:
            value = cast(bytes, legacy).decode()  # written before apps
        return cast(str | None, value)

    async def ping(self) -> None:
        with store_errors():
            await self._client.ping()

    def _route(self, user_id: int) -> str:
        digest = hmac.digest(self._secret, f"route:{user_id}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest).decode()[:16]

    def _stored(self, value: bytes) -> _Stored:
        """A session's value read back; one written before apps (three times only) is the
        deployment's WeChat app's."""
        parts = value.decode(errors="replace").split(" ", 6)
        expires_at, login_at, max_expires_at = (int(part) / 1000 for part in parts[:3])
        if len(parts) < 5:
            return _Stored(expires_at, login_at, max_expires_at, self._legacy_app, "wechat")
        ip = parts[5] if len(parts) > 5 and parts[5] != "-" else None
        user_agent = parts[6] if len(parts) > 6 else None
        return _Stored(
            expires_at, login_at, max_expires_at, parts[3], parts[4], ip, user_agent
        )

    def _user_key(self, user_id: int) -> bytes:
        return self._users + self._route(user_id).encode()

    def _field(self, token: str) -> bytes:
        return hmac.digest(self._secret, token.encode(), hashlib.sha256)[:16]

    def _locate(self, session_id: str) -> tuple[bytes, bytes] | None:
        """The user's hash and the session's field; ``None`` for an id of another form."""
        if not _SESSION_ID.fullmatch(session_id):
            return None
        field = base64.urlsafe_b64decode(session_id[16:] + "==")
        return self._users + session_id[:16].encode(), field


def _b64(field: bytes) -> str:
    """A session's field in unpadded URL-safe base64 (the end of its id)."""
    return base64.urlsafe_b64encode(field).rstrip(b"=").decode()


def _origin(login: NewLogin) -> str:
    """The end of a session's value: `` <network> <user agent>``, only what is known (a login
    of neither keeps the value as short as before)."""
    if login.user_agent is not None:
        return f" {login.ip or '-'} {login.user_agent}"
    return "" if login.ip is None else f" {login.ip}"
