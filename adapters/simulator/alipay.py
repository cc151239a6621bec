"""Alipay's ``POST /gateway.do`` for ``alipay.system.oauth.token``, signed with a key pair made
at start (``public_key_pem``, also served at ``GET /alipay/public-key``).

- Parameters are read from the query string and the form body together. ``app_id`` other than
  the app's: 40002 ``isv.invalid-app-id``; ``method`` other: 40002 ``isv.invalid-method``;
  ``sign_type`` not ``RSA2`` or, when ``app_public_key`` is set, a ``sign`` that does not verify
  over the sorted parameters: 40002 ``isv.invalid-signature``; ``grant_type`` other than
  ``authorization_code`` or no ``code``: 40002 ``isv.grant-type-invalid`` / 40001
  ``isv.missing-code``.
- The shared code grammar: ``invalid`` (and used or malformed codes) 40002 ``isv.code-invalid``,
  ``busy`` 20000 ``isp.unknow-error``, ``error`` 40006 ``isv.insufficient-isv-permissions``,
  ``blocked``/``quota`` 40004 (Alipay documents neither), ``nokey`` a success without a user id;
  and ``forged`` (a signature by another key) and ``unsigned`` (no ``sign``).
- Success: ``open_id`` (``identity = "open_id"``, the default), ``user_id`` (``"user_id"``) or
  both (``"both"``), with ``access_token``, ``expires_in`` (numbers), ``refresh_token``...
- Every answer is ``{"<response name>": {...}, "sign": "..."}``, the signature made over the
  value's bytes as sent; ``text/html;charset=utf-8``; error ``sub_msg`` in Chinese.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Any

import orjson
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.platforms.alipay_sign import (
    load_public_key,
    rsa2_sign,
    rsa2_verify,
    sign_content,
)
from adapters.simulator.codes import CLOSING, CodeBook, Route, digest, special

_RESPONSE = "alipay_system_oauth_token_response"
_PREFIXES: dict[str, tuple[str, str, str, str]] = {
    "invalid": ("40002", "Invalid Arguments", "isv.code-invalid", "授权码code无效"),
    "busy": ("20000", "Service Currently Unavailable", "isp.unknow-error", "系统繁忙"),
    "error": ("40006", "Insufficient Permissions", "isv.insufficient-isv-permissions", "权限不足"),
    "blocked": ("40004", "Business Failed", "isv.user-blocked", "用户受限"),
    "quota": ("40004", "Business Failed", "isv.frequency-limited", "调用频率超限"),
}


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class AlipaySimulator(CodeBook[tuple[str, str, str, str]]):
    def __init__(
        self,
        *,
        appid: str,
        app_public_key: bytes | rsa.RSAPublicKey | None = None,
        latency: float = 0.0,
    ) -> None:
        super().__init__(appid=appid, latency=latency)
        self.app_public_key = None if app_public_key is None else load_public_key(app_public_key)
        self.identity = "open_id"
        self._key = _new_key()
        self._forger = _new_key()
        self.public_key_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def openid_for(self, user: str) -> str:
        """The app's ``open_id`` of ``user`` (47 characters)."""
        return "0" + digest(f"{self.appid}:{user}")[:43].replace("-", "A").replace("_", "B") + "Amj"

    def user_id_for(self, user: str) -> str:
        """``user``'s ``user_id``, the same in every app: ``2088`` and 12 digits."""
        number = int.from_bytes(hashlib.sha256(user.encode()).digest()[:8], "big")
        return f"2088{number % 10**12:012d}"

    def routes(self) -> list[Route]:
        return [
            ("POST", "/gateway.do", self.answer(self._gateway)),
            ("GET", "/alipay/public-key", self._public_key),
        ]

    async def _public_key(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.public_key_pem, content_type="text/plain")

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        merged = {**request.query, **(await request.post())}
        params = {key: value for key, value in merged.items() if isinstance(value, str)}
        code = params.get("code", "")
        self.count(code)
        refused = self._refusal(params)
        if refused is not None:
            return self._signed(_ERROR, _error_value(*refused))
        scripted = self.scripted(code)
        if scripted is not None:
            return self._signed(_ERROR, _error_value(*scripted))
        failed = await special(
            code,
            request.app[CLOSING],
            error=lambda prefix: self._signed(_ERROR, _error_value(*_PREFIXES[prefix])),
            no_key=lambda _code: self._signed(_RESPONSE, self._token_value({})),
        )
        if failed is not None:
            return failed
        if self.take(code) != "ok":
            return self._signed(_ERROR, _error_value(*_PREFIXES["invalid"]))
        user = code.partition(":")[0]
        ids: dict[str, Any] = {}
        if self.identity in ("open_id", "both"):
            ids["open_id"] = self.openid_for(user)
        if self.identity in ("user_id", "both"):
            ids["user_id"] = self.user_id_for(user)
        unionid = self.unionid_for(user)
        if unionid is not None:
            ids["union_id"] = unionid
        return self._signed(
            _RESPONSE,
            self._token_value(ids),
            forged=code.startswith("forged"),
            unsigned=code.startswith("unsigned"),
        )

    def _refusal(self, params: dict[str, str]) -> tuple[str, str, str, str] | None:
        if params.get("app_id") != self.appid:
            return ("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        if params.get("method") != "alipay.system.oauth.token":
            return ("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名")
        signed = params.get("sign_type") == "RSA2" and (
            self.app_public_key is None
            or rsa2_verify(
                sign_content(params).encode(), params.get("sign", ""), self.app_public_key
            )
        )
        if not signed:
            return ("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错")
        if params.get("grant_type") != "authorization_code":
            return ("40002", "Invalid Arguments", "isv.grant-type-invalid", "grant_type无效")
        if not params.get("code"):
            return ("40001", "Missing Required Arguments", "isv.missing-code", "缺少code参数")
        return None

    def _token_value(self, ids: dict[str, Any]) -> dict[str, Any]:
        return {
            "access_token": "authbseB" + secrets.token_hex(16),
            "auth_start": time.strftime("%Y-%m-%d %H:%M:%S"),
            "expires_in": 1296000,
            "re_expires_in": 2592000,
            "refresh_token": "authbseB" + secrets.token_hex(16),
            **ids,
        }

    def _signed(
        self, name: str, value: dict[str, Any], *, forged: bool = False, unsigned: bool = False
    ) -> web.Response:
        raw = orjson.dumps(value)
        body = b'{"' + name.encode() + b'":' + raw
        if not unsigned:
            signature = rsa2_sign(raw, self._forger if forged else self._key)
            body += b',"sign":"' + signature.encode() + b'"'
        return web.Response(body=body + b"}", content_type="text/html", charset="utf-8")


_ERROR = "error_response"


def _error_value(code: str, msg: str, sub_code: str, sub_msg: str) -> dict[str, str]:
    return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}
