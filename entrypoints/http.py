"""Reading requests: request ids, bearer tokens, the client's address (bodies: ``schemas``)."""

from __future__ import annotations

import re
import secrets

from sanic import Request

from domain.bearer import BEARER_TOKEN
from domain.errors import Unauthorized

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_BEARER = re.compile(r"(?i)bearer[ \t]+(\S+)")


def request_id_of(request: Request) -> str:
    """The client's ``X-Request-ID`` when it is sane, else a new one."""
    given: str | None = request.headers.get("x-request-id")
    if given is not None and _REQUEST_ID.fullmatch(given):
        return given
    return secrets.token_hex(16)  # uuid4().hex's 32 digits without building a UUID object


def token_of(request: Request) -> str:
    """The token from ``Authorization: Bearer <token>`` or the bare ``Authorization: <token>``.

    Anything else (missing, repeated, another scheme, a malformed token) is ``Unauthorized``.
    """
    values = request.headers.getall("authorization", [])
    if len(values) != 1:
        raise Unauthorized()
    value = values[0].strip(" \t")
    bearer = _BEARER.fullmatch(value)
    token = bearer.group(1) if bearer else value
    if not BEARER_TOKEN.fullmatch(token):
        raise Unauthorized()
    return token


def client_address_of(request: Request, trusted_proxies: int) -> str:
    """The client's address: the peer's, or with trusted proxies the entry of ``X-Forwarded-For``
    that the outermost trusted proxy saw (spoofed entries further left are ignored)."""
    if trusted_proxies > 0:
        forwarded = ",".join(request.headers.getall("x-forwarded-for", []))
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-min(trusted_proxies, len(hops))]
    return request.conn_info.client_ip if request.conn_info else ""


def scheme_of(request: Request, trusted_proxies: int) -> str:
    """``http`` or ``https`` as the client used it: with trusted proxies, the last
    ``X-Forwarded-Proto`` (the one the nearest proxy set) when it says one of the two."""
    if trusted_proxies > 0:
        forwarded = ",".join(request.headers.getall("x-forwarded-proto", []))
        last = forwarded.rpartition(",")[2].strip().lower()
        if last in ("http", "https"):
            return last
    return "https" if request.scheme == "https" else "http"
