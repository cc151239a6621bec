"""WeChat's server API over aiohttp, and a simulator of it for development, tests and benchmarks."""

from adapters.wechat.gateway import AiohttpWeChatGateway
from adapters.wechat.http import open_client_session

__all__ = ["AiohttpWeChatGateway", "open_client_session"]
