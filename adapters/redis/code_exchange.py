"""The code-exchange registry in Redis: cross-process single-flight of WeChat code exchanges.

One key per code, ``P c:<code hash, hex>`` (``P`` is the key prefix), whose value is readable:

- ``p<owner>``: pending, claimed by ``owner`` (the claiming attempt's random id);
- ``d{"openid": …, "session_key": …, "unionid": …}``: done, WeChat's answer (JSON);
- ``f<error code>``: failed moments ago.

A claim is ``SET NX PX GET``: it answers the value that was there. The client repeats a command
once after a lost reply; a repeated claim then finds ``p<its own owner>`` and knows the code is
its own.
"""

from __future__ import annotations

from typing import cast

import orjson

from adapters.redis.client import RedisClient, store_errors, to_ms
from adapters.redis.scripts import Script
from domain.entities import WeChatSession
from domain.ports import ClaimDone, ClaimFailed, ClaimPending, ClaimState, CodeExchangeRegistry

_PENDING = b"p"
_DONE = b"d"
_FAILED = b"f"


# KEYS: the code's key. ARGV: the failure's value, its TTL ms. Returns a done value it kept.
_FAIL = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, 1) == 'd' then return value end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""


class RedisCodeExchangeRegistry(CodeExchangeRegistry):
    """``CodeExchangeRegistry`` on Redis (>= 7.0 for ``SET NX GET``)."""

    def __init__(self, client: RedisClient, *, key_prefix: str = "wl:") -> None:
        self._client = client
        self._prefix = key_prefix.encode() + b"c:"
        self._fail = Script(client, _FAIL)

    async def claim(
        self, code_hash: bytes, *, owner: str, pending_ttl: float
    ) -> ClaimState | None:
        mine = _PENDING + owner.encode()
        with store_errors():
            previous = await self._client.set(
                self.key(code_hash), mine, nx=True, px=ttl_ms(pending_ttl), get=True
            )
        if previous is None or previous == mine:  # ours, first time or repeated
            return None
        return _decode(cast(bytes, previous))

    async def peek(self, code_hash: bytes) -> ClaimState | None:
        with store_errors():
            value = await self._client.get(self.key(code_hash))
        return None if value is None else _decode(cast(bytes, value))

    async def complete(self, code_hash: bytes, session: WeChatSession, *, ttl: float) -> None:
        with store_errors():
            await self._client.set(self.key(code_hash), done_value(session), px=ttl_ms(ttl))

    async def fail(self, code_hash: bytes, error_code: str, *, ttl: float) -> ClaimDone | None:
        with store_errors():
            kept = await self._fail(
                keys=[self.key(code_hash)], args=[_FAILED + error_code.encode(), ttl_ms(ttl)]
            )
        if not kept:
            return None
        state = _decode(cast(bytes, kept))
        return state if isinstance(state, ClaimDone) else None

    def key(self, code_hash: bytes) -> bytes:
        """The code's key (``RedisSessionStore.record_login`` writes it along with a login)."""
        return self._prefix + code_hash.hex().encode()


def done_value(session: WeChatSession) -> bytes:
    """The value that records a code's result."""
    answer = {"openid": session.openid, "session_key": session.session_key}
    if session.unionid is not None:
        answer["unionid"] = session.unionid
    return _DONE + orjson.dumps(answer)


def ttl_ms(seconds: float) -> int:
    """A TTL in whole milliseconds, at least 1 (Redis refuses 0)."""
    return max(1, to_ms(seconds))




def _decode(value: bytes) -> ClaimState:
    kind, body = value[:1], value[1:]
    if kind == _DONE:
        answer = orjson.loads(body)
        return ClaimDone(
            WeChatSession(answer["openid"], answer["session_key"], answer.get("unionid"))
        )
    if kind == _FAILED:
        return ClaimFailed(body.decode())
    return ClaimPending()
