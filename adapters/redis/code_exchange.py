"""The code-exchange registry in Redis: cross-process single-flight of WeChat code exchanges.

One key per code hash, ``P c <hash>``, whose value is the state: ``p`` (pending), ``d`` followed
by ``openid NUL session_key [NUL unionid]`` (done), or ``f`` followed by the error code (failed).
"""

from __future__ import annotations

from typing import cast

from adapters.redis.client import RedisClient, store_errors, to_ms
from domain.entities import WeChatSession
from domain.ports import (
    ClaimDone,
    ClaimFailed,
    ClaimPending,
    ClaimState,
    CodeExchangeRegistry,
    CodeReceipt,
)

_PENDING = b"p"
_DONE = b"d"
_FAILED = b"f"
_SEPARATOR = b"\0"


# KEYS: the code's key. ARGV: the failure's value, its TTL ms. Returns a done value it kept.
_FAIL = """
local value = redis.call('GET', KEYS[1])
if value and string.sub(value, 1, 1) == 'd' then return value end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""


class RedisCodeExchangeRegistry(CodeExchangeRegistry):
    """``CodeExchangeRegistry`` on Redis; a claim is ``SET NX PX GET`` (Redis >= 7.0)."""

    def __init__(self, client: RedisClient, *, key_prefix: bytes = b"wl:") -> None:
        self._client = client
        self._prefix = key_prefix + b"c"
        self._fail = client.register_script(_FAIL)

    async def claim(self, code_hash: bytes, *, pending_ttl: float) -> ClaimState | None:
        with store_errors():
            previous = await self._client.set(
                self._prefix + code_hash, _PENDING, nx=True, px=_ttl_ms(pending_ttl), get=True
            )
        return None if previous is None else _decode(cast(bytes, previous))

    async def peek(self, code_hash: bytes) -> ClaimState | None:
        with store_errors():
            value = await self._client.get(self._prefix + code_hash)
        return None if value is None else _decode(cast(bytes, value))

    async def complete(self, code_hash: bytes, session: WeChatSession, *, ttl: float) -> None:
        key, value, px = self.entry(CodeReceipt(code_hash, session, ttl))
        with store_errors():
            await self._client.set(key, value, px=px)

    def entry(self, receipt: CodeReceipt) -> tuple[bytes, bytes, int]:
        """The key, value and TTL (ms) that record ``receipt``, for writes that carry it along
        (``RedisSessionStore.create``)."""
        session = receipt.session
        fields = [session.openid, session.session_key]
        if session.unionid is not None:
            fields.append(session.unionid)
        value = _DONE + _SEPARATOR.join(field.encode() for field in fields)
        return self._prefix + receipt.code_hash, value, _ttl_ms(receipt.ttl)

    async def fail(self, code_hash: bytes, error_code: str, *, ttl: float) -> ClaimDone | None:
        with store_errors():
            kept = await self._fail(
                keys=[self._prefix + code_hash], args=[_FAILED + error_code.encode(), _ttl_ms(ttl)]
            )
        if not kept:
            return None
        state = _decode(cast(bytes, kept))
        return state if isinstance(state, ClaimDone) else None


def _ttl_ms(seconds: float) -> int:
    return max(1, to_ms(seconds))


def _decode(value: bytes) -> ClaimState:
    kind, body = value[:1], value[1:]
    if kind == _DONE:
        openid, session_key, *unionid = (field.decode() for field in body.split(_SEPARATOR))
        return ClaimDone(WeChatSession(openid, session_key, unionid[0] if unionid else None))
    if kind == _FAILED:
        return ClaimFailed(body.decode())
    return ClaimPending()
