"""Gateways of the mini-program platforms beside WeChat, one module each, all behind the
``WeChatGateway`` port and on the shared HTTP client of ``adapters.wechat.http``.

WeChat's own gateway stays in ``adapters/wechat`` (with its platform features and simulator);
these modules hold only what differs per platform: its request, its answer and its error codes.
"""
