"""Lua scripts run by their SHA1, sent whole only to a server that does not know them yet."""

from __future__ import annotations

import hashlib
from typing import Any

from redis.exceptions import NoScriptError

from adapters.redis.client import RedisClient


class Script:
    """A Lua script of the adapters. ``EVALSHA``, and ``EVAL`` when the server answers that it
    does not know the script (a new or restarted server): both go to the node of the keys.

    redis-py's ``register_script`` loads a missing script with ``SCRIPT LOAD``, which a cluster
    client sends to every master: one dead master would then fail every script on the others.
    """

    def __init__(self, client: RedisClient, text: str) -> None:
        self._client = client
        self._text = text
        self._sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    async def __call__(self, *, keys: list[bytes], args: list[Any]) -> Any:
        try:
            return await self._client.evalsha(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            return await self._client.eval(self._text, len(keys), *keys, *args)
