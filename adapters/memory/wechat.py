"""A WeChat gateway in process memory, for unit tests: scripted sessions and failures."""

from __future__ import annotations

import asyncio

from domain.entities import WeChatSession
from domain.errors import InvalidCode, WeChatFailure
from domain.ports import WeChatGateway


class InMemoryWeChatGateway(WeChatGateway):
    """Codes are single-use. ``sessions`` maps codes to what WeChat returns for them;
    ``failures`` maps codes to the failure WeChat answers with; ``calls`` counts every call."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.sessions: dict[str, WeChatSession] = {}
        self.failures: dict[str, WeChatFailure] = {}
        self.calls: list[str] = []
        self.delay = delay
        self._used: set[str] = set()

    def add_code(self, code: str, openid: str, *, session_key: str = "c2Vzc2lvbi1rZXktMTIzNA==",
                 unionid: str | None = None) -> None:
        self.sessions[code] = WeChatSession(openid=openid, session_key=session_key, unionid=unionid)

    async def code_to_session(self, code: str) -> WeChatSession:
        self.calls.append(code)
        if self.delay:
            await asyncio.sleep(self.delay)
        if code in self.failures:
            raise self.failures[code]
        if code in self._used or code not in self.sessions:
            raise InvalidCode()
        self._used.add(code)
        return self.sessions[code]
