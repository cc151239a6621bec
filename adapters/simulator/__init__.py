"""The platforms' simulator: one aiohttp process that stands in for WeChat, QQ, Douyin, Alipay
and WeCom at their real paths (``server.py``; WeChat's part lives in ``adapters/wechat``).
Every platform reads codes by the same grammar (``codes.py``)."""
