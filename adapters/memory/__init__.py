"""In-process adapters: the embedded default (one worker) and the fakes of the unit tests."""

from adapters.memory.code_exchange import InMemoryCodeExchangeRegistry
from adapters.memory.rate_limit import InMemoryRateLimiter
from adapters.memory.sessions import InMemorySessionStore
from adapters.memory.users import InMemoryUserRepository
from adapters.memory.wechat import InMemoryWeChatGateway

__all__ = [
    "InMemoryCodeExchangeRegistry",
    "InMemoryRateLimiter",
    "InMemorySessionStore",
    "InMemoryUserRepository",
    "InMemoryWeChatGateway",
]
