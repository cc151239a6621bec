"""Thin handlers: parse and validate, call ``execute``, serialise. No business rules here."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sanic import HTTPResponse, Request
from sanic.exceptions import NotFound

from domain.accounts import Origin
from domain.bearer import BEARER_TOKEN
from domain.credentials import Issued
from domain.entities import LoginSession
from domain.errors import DomainError, InvalidRequest, Unauthorized
from domain.use_cases.accounts import (
    BanUseCase,
    DeleteAccountUseCase,
    FindAccountsUseCase,
    ListEventsUseCase,
    RevokeSessionsUseCase,
    ShowAccountUseCase,
    UnbanUseCase,
)
from domain.use_cases.authenticate import AuthenticateRequest, AuthenticateUseCase
from domain.use_cases.check_session_key import CheckSessionKeyRequest, CheckSessionKeyUseCase
from domain.use_cases.decrypt import DecryptRequest, DecryptUseCase
from domain.use_cases.login import LoginRequest, LoginUseCase
from domain.use_cases.logout import LogoutRequest, LogoutUseCase
from domain.use_cases.my_sessions import ListMySessionsUseCase, RevokeMySessionUseCase
from domain.use_cases.phone import GetPhoneNumberRequest, GetPhoneNumberUseCase
from domain.use_cases.readiness import ReadinessUseCase
from domain.use_cases.refresh import RefreshRequest, RefreshUseCase
from domain.use_cases.send_message import SendMessageRequest, SendMessageUseCase
from entrypoints import schemas
from entrypoints.errors import error_response
from entrypoints.http import client_address_of, scheme_of, token_of
from entrypoints.version import VERSION


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
    list_my_sessions: ListMySessionsUseCase
    revoke_my_session: RevokeMySessionUseCase
    show_account: ShowAccountUseCase
    find_accounts: FindAccountsUseCase
    ban: BanUseCase
    unban: UnbanUseCase
    revoke_sessions: RevokeSessionsUseCase
    delete_account: DeleteAccountUseCase
    list_events: ListEventsUseCase
    refresh: RefreshUseCase | None
    """``None`` in the opaque token format (the refresh endpoint answers 404 then)."""


NO_STORE = {"Cache-Control": "no-store"}
_HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
"""A host name or address, with an optional port: what a discovery document may quote."""


def use_cases_of(request: Request) -> UseCases:
    use_cases: UseCases = request.app.ctx.use_cases
    return use_cases


def json_response(body: Mapping[str, Any], status: int = 200, headers: dict[str, str] | None = None
          ) -> HTTPResponse:
    return HTTPResponse(
        orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


async def login(request: Request) -> HTTPResponse:
    use_case = use_cases_of(request).login
    trusted_proxies: int = request.app.ctx.trusted_proxy_count
    logins = request.app.ctx.metrics.logins
    try:
        code, app = schemas.login_code(request.body)
        result = await use_case.execute(LoginRequest(
            code=code, client_address=client_address_of(request, trusted_proxies), app=app,
            user_agent=request.headers.get("user-agent"), request_id=request.ctx.request_id,
        ))
    except DomainError as error:
        logins.labels(error.code).inc()
        raise
    logins.labels("ok").inc()
    issued = Issued(result.token, result.expires_in, result.refresh_token,
                    result.refresh_expires_in)
    return _tokens(issued, user_id=result.user_id, created=result.created)


def _tokens(issued: Issued, *, user_id: int, created: bool) -> HTTPResponse:
    """The answer of a login or a refresh: the tokens, in the body and in ``Authorization``."""
    body: schemas.LoginResponse = {
        "token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "user": {"id": user_id, "created": created},
    }
    if issued.refresh_token is not None and issued.refresh_expires_in is not None:
        body["refresh_token"] = issued.refresh_token
        body["refresh_expires_in"] = issued.refresh_expires_in
    return json_response(
        body,
        headers={"Authorization": f"Bearer {issued.token}", "Cache-Control": "no-store"},
    )


async def refresh(request: Request) -> HTTPResponse:
    use_case = use_cases_of(request).refresh
    if use_case is None:
        raise NotFound()
    body = schemas.read(schemas.REFRESH, request.body)
    result = await use_case.execute(RefreshRequest(refresh_token=body["refresh_token"]))
    return _tokens(result.issued, user_id=result.user_id, created=False)


async def introspect(request: Request) -> HTTPResponse:
    """RFC 7662 for the team's services: whether a user's token is valid, and its claims."""
    service_token: str | None = request.app.ctx.service_token
    if service_token is None:
        raise NotFound()
    if not hmac.compare_digest(token_of(request).encode(), service_token.encode()):
        raise Unauthorized()
    token = schemas.introspected_token(request.body, request.content_type)
    inactive: schemas.Introspection = {"active": False}
    if not BEARER_TOKEN.fullmatch(token):
        return json_response(inactive, headers=NO_STORE)
    try:
        current = await use_cases_of(request).authenticate.execute(AuthenticateRequest(token))
    except Unauthorized:
        return json_response(inactive, headers=NO_STORE)
    session = current.session
    body: schemas.Introspection = {
        "active": True,
        "sub": str(session.user_id),
        "sid": current.session_id,
        "app": session.app,
        "platform": session.platform,
        "iat": int(current.issued_at),
        "exp": int(current.expires_at),
        "token_type": "access_token",
        "iss": request.app.ctx.token_issuer,
    }
    return json_response(body, headers=NO_STORE)


async def jwks(request: Request) -> HTTPResponse:
    published: bytes | None = request.app.ctx.jwks
    if published is None:
        raise NotFound()
    return HTTPResponse(published, headers={"Cache-Control": "public, max-age=300"},
                        content_type="application/json")


async def openid_configuration(request: Request) -> HTTPResponse:
    if request.app.ctx.jwks is None:
        raise NotFound()
    host = request.host
    if not _HOST.fullmatch(host):
        raise InvalidRequest("The Host header is not a host name.")
    base = f"{scheme_of(request, request.app.ctx.trusted_proxy_count)}://{host}"
    body: schemas.Discovery = {
        "issuer": request.app.ctx.token_issuer,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "token_endpoint": f"{base}/api/v1/token/refresh",
        "introspection_endpoint": f"{base}/api/v1/introspect",
        "id_token_signing_alg_values_supported": ["EdDSA"],
    }
    return json_response(body, headers={"Cache-Control": "public, max-age=300"})


async def me(request: Request) -> HTTPResponse:
    authenticate = use_cases_of(request).authenticate
    current = await authenticate.execute(AuthenticateRequest(token=token_of(request)))
    session = current.session
    created_at = datetime.fromtimestamp(session.user_created_at, UTC)
    body: schemas.MeResponse = {
        "user": {
            "id": session.user_id,
            "created_at": created_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        },
        "app": session.app,
        "platform": session.platform,
        "expires_in": current.expires_in,
    }
    return json_response(body)


async def auth(request: Request) -> HTTPResponse:
    """Forward auth: a reverse proxy's sub-request asks who the bearer of a token is."""
    current = await use_cases_of(request).authenticate.execute(
        AuthenticateRequest(token=token_of(request))
    )
    session = current.session
    return HTTPResponse(
        status=204,
        headers={
            "X-User-Id": str(session.user_id),
            "X-Session-Id": current.session_id,
            "X-App": session.app,
            "X-Platform": session.platform,
            "Cache-Control": "no-store",
        },
    )


async def logout(request: Request) -> HTTPResponse:
    use_case = use_cases_of(request).logout
    token = token_of(request)
    everywhere = schemas.read(schemas.LOGOUT, request.body, allow_empty=True).get("all", False)
    await use_case.execute(
        LogoutRequest(token=token, everywhere=everywhere, origin=origin_of(request))
    )
    return HTTPResponse(status=204)


async def healthz(request: Request) -> HTTPResponse:
    return json_response({"status": "ok", "version": VERSION})


async def readyz(request: Request) -> HTTPResponse:
    readiness = await use_cases_of(request).readiness.execute()
    checks = {"sessions": str(readiness.sessions), "users": str(readiness.users)}
    if readiness.ready:
        return json_response({"status": "ok", "checks": checks})
    return error_response(
        503, "unavailable", "A store is unreachable or at an older schema.",
        extra={"checks": checks},
        headers={"Retry-After": "1"},
    )


async def _session(request: Request, authenticate: AuthenticateUseCase) -> LoginSession:
    current = await authenticate.execute(AuthenticateRequest(token=token_of(request)))
    return current.session


async def phone(request: Request) -> HTTPResponse:
    use_cases = use_cases_of(request)
    session = await _session(request, use_cases.authenticate)
    use_case = use_cases.phone
    code = schemas.read(schemas.PHONE, request.body)["code"]
    number = await use_case.execute(
        GetPhoneNumberRequest(user_id=session.user_id, app=session.app, code=code)
    )
    body: schemas.PhoneResponse = {
        "phone": {
            "phone_number": number.e164,
            "pure_phone_number": number.pure_phone_number,
            "country_code": number.country_code,
        }
    }
    return json_response(body)


async def decrypt(request: Request) -> HTTPResponse:
    use_cases = use_cases_of(request)
    session = await _session(request, use_cases.authenticate)
    use_case = use_cases.decrypt
    body = schemas.read(schemas.DECRYPT, request.body)
    decrypted = await use_case.execute(
        DecryptRequest(
            user_id=session.user_id,
            app=session.app,
            encrypted_data=body["encrypted_data"],
            iv=body["iv"],
            raw_data=body.get("raw_data"),
            signature=body.get("signature"),
        )
    )
    answer: schemas.DecryptResponse = {"data": decrypted.data}
    return json_response(answer)


async def session_key(request: Request) -> HTTPResponse:
    use_cases = use_cases_of(request)
    session = await _session(request, use_cases.authenticate)
    state = await use_cases.check_session_key.execute(
        CheckSessionKeyRequest(user_id=session.user_id, app=session.app)
    )
    body: schemas.SessionKeyResponse = {"valid": state.valid}
    return json_response(body)


def origin_of(request: Request) -> Origin:
    """The request's client network, user agent and id, as the audit trail keeps them."""
    return Origin.of(
        client_address_of(request, request.app.ctx.trusted_proxy_count),
        request.headers.get("user-agent"), request.ctx.request_id,
    )


def require_admin(request: Request) -> None:
    """404 when ``ADMIN_TOKEN`` is unset, ``Unauthorized`` unless the caller sends it (compared
    in constant time)."""
    admin_token: str | None = request.app.ctx.admin_token
    if admin_token is None:
        raise NotFound()
    if not hmac.compare_digest(token_of(request).encode(), admin_token.encode()):
        raise Unauthorized()


async def send_message(request: Request) -> HTTPResponse:
    require_admin(request)
    body = schemas.read(schemas.MESSAGE, request.body)
    await use_cases_of(request).send_message.execute(
        SendMessageRequest(
            user_id=body["user_id"],
            template_id=body["template_id"],
            data=body["data"],
            page=body.get("page"),
            miniprogram_state=body.get("miniprogram_state"),
            lang=body.get("lang"),
            app=body.get("app"),
        )
    )
    answer: schemas.MessageResponse = {"sent": True}
    return json_response(answer)
