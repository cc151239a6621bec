"""The one table that maps errors to HTTP statuses, and the error body every failure uses."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from sanic import HTTPResponse, Request
from sanic.constants import HTTP_METHODS
from sanic.exceptions import (
    BadRequest,
    HeaderNotFound,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RangeNotSatisfiable,
    RequestCancelled,
    RequestTimeout,
    SanicException,
    ServiceUnavailable,
)
from sanic.handlers import ErrorHandler

from domain import errors as domain
from domain import platform_errors as platform

logger = logging.getLogger("weapp_login.errors")

STATUS_BY_ERROR: dict[type[domain.DomainError], int] = {
    domain.InvalidRequest: 400,
    domain.Unauthorized: 401,
    domain.RefreshRefused: 401,
    domain.InvalidCode: 401,
    domain.UserBlocked: 403,
    domain.UserBanned: 403,
    domain.SessionNotFound: 404,
    domain.RateLimited: 429,
    domain.WeChatBusy: 503,
    domain.WeChatOverloaded: 503,
    domain.StoreUnavailable: 503,
    domain.WeChatError: 502,
    domain.WeChatTimeout: 504,
    platform.Unprocessable: 422,
    platform.UnknownUser: 404,
}
"""Looked up along each error's MRO, so the most specific class listed wins."""

SANIC_ERRORS: list[tuple[type[SanicException], int, str, str]] = [
    (NotFound, 404, "not_found", "No such endpoint."),
    (MethodNotAllowed, 405, "method_not_allowed", "This endpoint does not take that method."),
    (PayloadTooLarge, 413, "payload_too_large", "The request is too large."),
    (RequestTimeout, 408, "request_timeout", "The request took too long to arrive."),
    (HeaderNotFound, 400, "invalid_request", "A required header is missing."),
    (RangeNotSatisfiable, 416, "invalid_request", "The range is not satisfiable."),
    (ServiceUnavailable, 503, "unavailable", "The service is unavailable; try again shortly."),
    (BadRequest, 400, "invalid_request", "The request is malformed."),
]


CLIENT_CLOSED_REQUEST = 499
"""The status logged and counted for a request its client gave up on (never sent)."""


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None, platform: str | None = None,
) -> HTTPResponse:
    error: dict[str, str] = {"code": code, "message": message}
    if platform is not None:  # an error that came from a platform names it
        error["platform"] = platform
    body: dict[str, Any] = {"error": error}
    if extra:
        body.update(extra)
    return HTTPResponse(
        orjson.dumps(body), status=status, headers=headers, content_type="application/json"
    )


def status_of(kind: type[domain.DomainError]) -> int:
    return next((STATUS_BY_ERROR[cls] for cls in kind.__mro__ if cls in STATUS_BY_ERROR), 500)


def answer_of(kind: type[Exception]) -> tuple[int, str, str]:
    """The status, code and message that errors of ``kind`` are answered with."""
    if issubclass(kind, domain.DomainError):
        return status_of(kind), kind.code, kind.message
    for cls, status, code, message in SANIC_ERRORS:
        if issubclass(kind, cls):
            return status, code, message
    raise LookupError(f"{kind.__name__} is answered with a bare 500")


def domain_error_response(error: domain.DomainError) -> HTTPResponse:
    status = status_of(type(error))
    headers: dict[str, str] = {}
    if isinstance(error, domain.RetryLater):
        headers["Retry-After"] = str(error.retry_after)
    elif isinstance(error, domain.StoreUnavailable):
        headers["Retry-After"] = "1"
    if isinstance(error, domain.Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="weapp-login"'
    platform = error.platform if isinstance(error, domain.WeChatFailure) else None
    return error_response(status, error.code, error.detail, headers=headers, platform=platform)


def _allow(request: Request) -> dict[str, str]:
    """The ``Allow`` header of a path whose routes have parameters (Sanic's router names the
    allowed methods of static paths only)."""
    allowed = []
    for method in HTTP_METHODS:
        try:
            request.app.router.get(request.path, method, request.headers.get("host"))
        except SanicException:
            continue
        allowed.append(method)
    return {"Allow": ", ".join(allowed)} if allowed else {}


class JsonErrorHandler(ErrorHandler):
    """Renders every failure, Sanic's own included, in the documented error shape.

    Unexpected exceptions become a bare 500 with no detail; their traceback goes to the log only.
    """

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        if isinstance(exception, domain.DomainError):
            return domain_error_response(exception)
        for cls, status, code, message in SANIC_ERRORS:
            if isinstance(exception, cls):
                headers = {}
                if isinstance(exception, MethodNotAllowed):
                    headers = dict(exception.headers or {}) or _allow(request)
                return error_response(status, code, message, headers=headers)
        if isinstance(exception, SanicException) and 400 <= (exception.status_code or 500) < 500:
            status = exception.status_code
            code = "headers_too_large" if status == 431 else "invalid_request"
            return error_response(status, code, "The request was refused.")
        if isinstance(exception, RequestCancelled):
            # The client went away mid-request: nobody reads this answer, and it is no error of
            # ours. 499 (nginx's "client closed request") keeps it out of the 5xx in the request
            # line and the metrics, where it would page someone for a client's hang-up.
            logger.debug("request cancelled by the client", extra={"event": "request_cancelled"})
            return HTTPResponse(status=CLIENT_CLOSED_REQUEST)
        logger.error("unhandled error", exc_info=exception, extra={"event": "unhandled_error"})
        return error_response(500, "internal_error", "An unexpected error occurred.")
