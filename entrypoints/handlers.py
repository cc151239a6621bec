"""Thin handlers: parse and validate, call ``execute``, serialise. No business rules here."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sanic import HTTPResponse, Request
from sanic.exceptions import NotFound

from domain.errors import DomainError, InvalidRequest, Unauthorized
from domain.use_cases.authenticate import AuthenticateRequest, AuthenticateUseCase
from domain.use_cases.check_session_key import CheckSessionKeyRequest, CheckSessionKeyUseCase
from domain.use_cases.decrypt import DecryptRequest, DecryptUseCase
from domain.use_cases.login import LoginRequest, LoginUseCase
from domain.use_cases.logout import LogoutRequest, LogoutUseCase
from domain.use_cases.phone import GetPhoneNumberRequest, GetPhoneNumberUseCase
from domain.use_cases.readiness import ReadinessUseCase
from domain.use_cases.send_message import SendMessageRequest, SendMessageUseCase
from entrypoints.errors import error_response
from entrypoints.http import client_address_of, json_object_of, token_of
from entrypoints.openapi import WECHAT_ERRORS, Reply, documented, schema
from entrypoints.version import VERSION

MAX_CODE_LENGTH = 128


@dataclass(frozen=True, slots=True)
class UseCases:
    """One instance of each use case per worker, on ``app.ctx.use_cases``.

    Use cases are stateless (they hold the worker's singletons), so one per worker serves as
    well as one per request, without resolving providers on every request.
    """

    login: LoginUseCase
    authenticate: AuthenticateUseCase
    logout: LogoutUseCase
    readiness: ReadinessUseCase
    phone: GetPhoneNumberUseCase
    decrypt: DecryptUseCase
    check_session_key: CheckSessionKeyUseCase
    send_message: SendMessageUseCase


def _use_cases(request: Request) -> UseCases:
    use_cases: UseCases = request.app.ctx.use_cases
    return use_cases


def _json(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
          ) -> HTTPResponse:
    return HTTPResponse(
        orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def parse_login_code(body: dict[str, Any]) -> str:
    """``code`` (or ``js_code`` when there is no ``code``)."""
    return parse_code(body["code"] if "code" in body else body.get("js_code"))


def parse_code(code: object) -> str:
    """A WeChat code: 1–128 printable ASCII characters without spaces."""
    if not isinstance(code, str):
        raise InvalidRequest("`code` is required and must be a string.")
    if not 1 <= len(code) <= MAX_CODE_LENGTH:
        raise InvalidRequest(f"`code` must be 1 to {MAX_CODE_LENGTH} characters.")
    if not all("!" <= char <= "~" for char in code):
        raise InvalidRequest("`code` must be printable ASCII without spaces.")
    return code


@documented(
    operation_id="login", tag="login", summary="Log in with the code from wx.login()",
    description="Exchanges the code at WeChat once however often it is sent within its "
    "5 minutes, and answers with a new token of the (maybe new) user.",
    body="LoginRequest",
    replies={200: Reply("Logged in.", schema("LoginResponse"),
                        headers={"Authorization": "BearerAuthorization"})},
    errors={400: ["invalid_request"], 401: ["invalid_code"], 403: ["user_blocked"],
            413: ["payload_too_large"], **WECHAT_ERRORS},
)
async def login(request: Request) -> HTTPResponse:
    use_case = _use_cases(request).login
    trusted_proxies: int = request.app.ctx.trusted_proxy_count
    logins = request.app.ctx.metrics.logins
    try:
        code = parse_login_code(json_object_of(request))
        result = await use_case.execute(
            LoginRequest(code=code, client_address=client_address_of(request, trusted_proxies))
        )
    except DomainError as error:
        logins.labels(error.code).inc()
        raise
    logins.labels("ok").inc()
    return _json(
        {
            "token": result.token,
            "token_type": "Bearer",
            "expires_in": result.expires_in,
            "user": {"id": result.user_id, "created": result.created},
        },
        headers={"Authorization": f"Bearer {result.token}", "Cache-Control": "no-store"},
    )


@documented(
    operation_id="me", tag="session", summary="The logged-in user; slides the token",
    security="user",
    replies={200: Reply("The user and the token's remaining life.",
                        schema("MeResponse"))},
    errors={401: ["unauthorized"], 503: ["unavailable"]},
)
async def me(request: Request) -> HTTPResponse:
    authenticate = _use_cases(request).authenticate
    current = await authenticate.execute(AuthenticateRequest(token=token_of(request)))
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


@documented(
    operation_id="logout", tag="session", summary="End this token, or every token of the user",
    security="user", body="LogoutRequest", body_required=False,
    replies={204: Reply("The token (or every token of the user) no longer works.")},
    errors={400: ["invalid_request"], 401: ["unauthorized"], 413: ["payload_too_large"],
            503: ["unavailable"]},
)
async def logout(request: Request) -> HTTPResponse:
    use_case = _use_cases(request).logout
    token = token_of(request)
    everywhere = json_object_of(request, allow_empty=True).get("all", False)
    if not isinstance(everywhere, bool):
        raise InvalidRequest("`all` must be true or false.")
    await use_case.execute(LogoutRequest(token=token, everywhere=everywhere))
    return HTTPResponse(status=204)


@documented(
    operation_id="healthz", tag="operations", summary="Liveness: the process serves",
    replies={200: Reply("Serving.", schema("Health"))},
)
async def healthz(request: Request) -> HTTPResponse:
    return _json({"status": "ok", "version": VERSION})


@documented(
    operation_id="readyz", tag="operations", summary="Readiness: both stores answer",
    replies={
        200: Reply("Both stores answer.", schema("Readiness")),
        503: Reply("A store is down, or the user store's schema is outdated (`unavailable`); "
                   "`checks` says which.",
                   schema("NotReady"),
                   headers={"Retry-After": "RetryAfter"}),
    },
)
async def readyz(request: Request) -> HTTPResponse:
    readiness = await _use_cases(request).readiness.execute()
    checks = {"sessions": str(readiness.sessions), "users": str(readiness.users)}
    if readiness.ready:
        return _json({"status": "ok", "checks": checks})
    return error_response(
        503, "unavailable", "A store is unreachable or at an older schema.",
        extra={"checks": checks},
        headers={"Retry-After": "1"},
    )


async def _user_id(request: Request, authenticate: AuthenticateUseCase) -> int:
    current = await authenticate.execute(AuthenticateRequest(token=token_of(request)))
    return current.session.user_id


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f"`{name}` must be a string.")
    return value


def _required_text(body: dict[str, Any], name: str, *, max_length: int = 65_536) -> str:
    value = _optional_text(body, name)
    if not value or len(value) > max_length:
        raise InvalidRequest(f"`{name}` is required: a string of 1 to {max_length} characters.")
    return value


@documented(
    operation_id="phone", tag="platform", summary="The user's phone number from a phone code",
    description="Asks WeChat's getuserphonenumber and stores the number on the user.",
    security="user", body="PhoneRequest",
    replies={200: Reply("The number.", schema("PhoneResponse"))},
    errors={400: ["invalid_request"], 401: ["unauthorized"], 413: ["payload_too_large"],
            422: ["invalid_phone_code"], **WECHAT_ERRORS},
)
async def phone(request: Request) -> HTTPResponse:
    use_cases = _use_cases(request)
    user_id = await _user_id(request, use_cases.authenticate)
    use_case = use_cases.phone
    code = parse_code(json_object_of(request).get("code"))
    number = await use_case.execute(GetPhoneNumberRequest(user_id=user_id, code=code))
    return _json(
        {
            "phone": {
                "phone_number": number.e164,
                "pure_phone_number": number.pure_phone_number,
                "country_code": number.country_code,
            }
        }
    )


@documented(
    operation_id="decrypt", tag="platform", summary="Decrypt an encryptedData payload",
    description="AES-128-CBC with the user's newest session_key; checks the watermark's appid "
    "and, when given, the signature.",
    security="user", body="DecryptRequest",
    replies={200: Reply("The decrypted object.",
                        schema("DecryptResponse"))},
    errors={400: ["invalid_request"], 401: ["unauthorized"], 413: ["payload_too_large"],
            422: ["decrypt_failed", "signature_mismatch", "watermark_mismatch"],
            503: ["unavailable"]},
)
async def decrypt(request: Request) -> HTTPResponse:
    use_cases = _use_cases(request)
    user_id = await _user_id(request, use_cases.authenticate)
    use_case = use_cases.decrypt
    body = json_object_of(request)
    decrypted = await use_case.execute(
        DecryptRequest(
            user_id=user_id,
            encrypted_data=_required_text(body, "encrypted_data"),
            iv=_required_text(body, "iv", max_length=64),
            raw_data=_optional_text(body, "raw_data"),
            signature=_optional_text(body, "signature"),
        )
    )
    return _json({"data": decrypted.data})


@documented(
    operation_id="session_key", tag="platform",
    summary="Whether WeChat still holds the user's session_key valid", security="user",
    replies={200: Reply("Valid or not.", schema("SessionKeyResponse"))},
    errors={401: ["unauthorized"], **WECHAT_ERRORS},
)
async def session_key(request: Request) -> HTTPResponse:
    use_cases = _use_cases(request)
    user_id = await _user_id(request, use_cases.authenticate)
    state = await use_cases.check_session_key.execute(CheckSessionKeyRequest(user_id=user_id))
    return _json({"valid": state.valid})


@documented(
    operation_id="send_message", tag="back-office", summary="Send a subscribe message to a user",
    description="Needs ADMIN_TOKEN; answers 404 when it is not configured.",
    security="admin", body="MessageRequest",
    replies={200: Reply("Sent.", schema("MessageResponse"))},
    errors={400: ["invalid_request"], 401: ["unauthorized"],
            404: ["not_found", "unknown_user"], 413: ["payload_too_large"],
            422: ["not_subscribed", "invalid_template"], **WECHAT_ERRORS},
)
async def send_message(request: Request) -> HTTPResponse:
    admin_token: str | None = request.app.ctx.admin_token
    if admin_token is None:
        raise NotFound()
    if not hmac.compare_digest(token_of(request).encode(), admin_token.encode()):
        raise Unauthorized()
    body = json_object_of(request)
    user_id = body.get("user_id")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1:
        raise InvalidRequest("`user_id` must be a positive integer.")
    data = body.get("data")
    if not isinstance(data, dict):
        raise InvalidRequest("`data` must be an object.")
    await _use_cases(request).send_message.execute(
        SendMessageRequest(
            user_id=user_id,
            template_id=_required_text(body, "template_id", max_length=128),
            data=data,
            page=_optional_text(body, "page"),
            miniprogram_state=_optional_text(body, "miniprogram_state"),
            lang=_optional_text(body, "lang"),
        )
    )
    return _json({"sent": True})
