"""Thin handlers: parse and validate, call ``execute``, serialise. No business rules here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from dependency_injector.wiring import Provide, inject
from sanic import HTTPResponse, Request

from domain.errors import InvalidRequest
from domain.use_cases.authenticate import AuthenticateRequest, AuthenticateUseCase
from domain.use_cases.login import LoginRequest, LoginUseCase
from domain.use_cases.logout import LogoutRequest, LogoutUseCase
from domain.use_cases.readiness import ReadinessUseCase
from entrypoints.errors import error_response
from entrypoints.http import client_address_of, json_object_of, token_of

MAX_CODE_LENGTH = 128


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
          ) -> HTTPResponse:
    return HTTPResponse(
        orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def parse_login_code(body: dict[str, Any]) -> str:
    """``code`` (or ``js_code``): 1–128 printable ASCII characters without spaces."""
    code = body["code"] if "code" in body else body.get("js_code")
    if not isinstance(code, str):
        raise InvalidRequest("`code` is required and must be a string.")
    if not 1 <= len(code) <= MAX_CODE_LENGTH:
        raise InvalidRequest(f"`code` must be 1 to {MAX_CODE_LENGTH} characters.")
    if not all("!" <= char <= "~" for char in code):
        raise InvalidRequest("`code` must be printable ASCII without spaces.")
    return code


@inject
async def login(
    request: Request,
    use_case: LoginUseCase = Provide["login_use_case"],
    trusted_proxies: int = Provide["config.trusted_proxy_count"],
) -> HTTPResponse:
    code = parse_login_code(json_object_of(request))
    result = await use_case.execute(
        LoginRequest(code=code, client_address=client_address_of(request, trusted_proxies))
    )
    return _json(
        {
            "token": result.token,
            "token_type": "Bearer",
            "expires_in": result.expires_in,
            "user": {"id": result.user_id, "created": result.created},
        },
        headers={"Authorization": f"Bearer {result.token}", "Cache-Control": "no-store"},
    )


@inject
async def me(
    request: Request,
    use_case: AuthenticateUseCase = Provide["authenticate_use_case"],
) -> HTTPResponse:
    current = await use_case.execute(AuthenticateRequest(token=token_of(request)))
    session = current.session
    created_at = datetime.fromtimestamp(session.user_created_at, UTC)
    return _json(
        {
            "user": {
                "id": session.user_id,
                "created_at": created_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            },
            "expires_in": current.expires_in,
        }
    )


@inject
async def logout(
    request: Request, use_case: LogoutUseCase = Provide["logout_use_case"]
) -> HTTPResponse:
    token = token_of(request)
    everywhere = json_object_of(request, allow_empty=True).get("all", False)
    if not isinstance(everywhere, bool):
        raise InvalidRequest("`all` must be true or false.")
    await use_case.execute(LogoutRequest(token=token, everywhere=everywhere))
    return HTTPResponse(status=204)


async def healthz(request: Request) -> HTTPResponse:
    return _json({"status": "ok"})


@inject
async def readyz(
    request: Request, use_case: ReadinessUseCase = Provide["readiness_use_case"]
) -> HTTPResponse:
    readiness = await use_case.execute()
    checks = {
        "sessions": "ok" if readiness.sessions else "down",
        "users": "ok" if readiness.users else "down",
    }
    if readiness.ready:
        return _json({"status": "ok", "checks": checks})
    return error_response(
        503, "unavailable", "A store is unreachable.", extra={"checks": checks},
        headers={"Retry-After": "1"},
    )
