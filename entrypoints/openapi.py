"""The OpenAPI 3 description of the service, built by sanic-ext from the app's own routes.

Each handler carries its operation (``@documented``: summary, body, responses with their error
codes, security), and sanic-ext walks the router, so a route cannot be served undocumented
without the spec test noticing. Schemas are plain JSON Schema (OpenAPI 3.0 dialect) kept next to
the rules they describe. Only sanic-ext's OpenAPI extension is loaded: its CORS, automatic
OPTIONS/HEAD, health monitor, injection and validation would each cost every request something.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from sanic import HTTPResponse, Request, Sanic
from sanic_ext.extensions.openapi.builders import OperationStore, SpecificationBuilder
from sanic_ext.extensions.openapi.extension import OpenAPIExtension

Handler = TypeVar("Handler", bound=Callable[..., Any])
Schema = dict[str, Any]

SPEC_PATH = "/openapi.json"
DOCS_PATH = "/docs"

EXTENSION_CONFIG = {
    "oas_url_prefix": DOCS_PATH,  # the Redoc page at /docs (and /docs/redoc)
    "oas_ui_default": "redoc",
    "oas_ui_swagger": False,  # its OAuth2 redirect page would fetch from a CDN on the event loop
    "oas_autodoc": False,
    "oas_ui_redoc_html_title": "weapp-login API",
    "cors": False,
    "http_auto_head": False,
    "http_auto_options": False,
    "http_auto_trace": False,
    "health": False,
    "logging": False,
}

CODE_PATTERN = "^[!-~]+$"
"""A WeChat code: printable ASCII without spaces (API.md, login)."""

# Optional fields are ``nullable``: the handlers read ``null`` as absent.


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def schema(name: str) -> Schema:
    """A reference to one of ``SCHEMAS``."""
    return _ref("schemas", name)


def _object(properties: Mapping[str, Schema], *required: str, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(properties), **extra}
    if required:
        schema["required"] = list(required)
    return schema


def _code(description: str) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": 128, "pattern": CODE_PATTERN,
            "description": description}


SCHEMAS: dict[str, Schema] = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
                             "description": "Stable snake_case code; the table of API.md."},
                    "message": {"type": "string", "description": "For a developer, not a user."},
                },
                "code", "message",
            )
        },
        "error",
    ),
    "LoginRequest": _object(
        {"code": _code("The code from wx.login()."),
         "js_code": _code("Accepted instead of `code`; `code` wins when both are given.")},
        anyOf=[{"required": ["code"]}, {"required": ["js_code"]}],
    ),
    "LoginResponse": _object(
        {
            "token": {"type": "string", "description": "Opaque; send as `Authorization: Bearer`."},
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer", "minimum": 0, "description": "Seconds left."},
            "user": _object(
                {"id": {"type": "integer", "minimum": 1},
                 "created": {"type": "boolean", "description": "True only for the first login."}},
                "id", "created",
            ),
        },
        "token", "token_type", "expires_in", "user",
    ),
    "MeResponse": _object(
        {
            "user": _object(
                {"id": {"type": "integer", "minimum": 1},
                 "created_at": {"type": "string", "format": "date-time"}},
                "id", "created_at",
            ),
            "expires_in": {"type": "integer", "minimum": 0,
                           "description": "Seconds left, after any slide."},
        },
        "user", "expires_in",
    ),
    "LogoutRequest": _object(
        {"all": {"type": "boolean", "default": False,
                 "description": "End every token of the user (every device)."}}
    ),
    "PhoneRequest": _object(
        {"code": _code("The code from the getPhoneNumber button.")}, "code"
    ),
    "PhoneResponse": _object(
        {
            "phone": _object(
                {"phone_number": {"type": "string", "pattern": r"^\+[0-9]+$",
                                  "description": "E.164"},
                 "pure_phone_number": {"type": "string", "pattern": "^[0-9]+$"},
                 "country_code": {"type": "string", "pattern": "^[0-9]+$"}},
                "phone_number", "pure_phone_number", "country_code",
            )
        },
        "phone",
    ),
    "DecryptRequest": _object(
        {
            "encrypted_data": {"type": "string", "minLength": 1, "maxLength": 65536,
                               "description": "Base64 (a `+` turned into a space is repaired)."},
            "iv": {"type": "string", "minLength": 1, "maxLength": 64,
                   "description": "Base64 of 16 bytes."},
            "raw_data": {"type": "string", "nullable": True,
                         "description": "Both raw_data and signature, or neither."},
            "signature": {"type": "string", "nullable": True,
                          "description": "Hex sha1(raw_data + session_key)."},
        },
        "encrypted_data", "iv",
    ),
    "DecryptResponse": _object(
        {"data": {"type": "object", "description": "The decrypted object, as WeChat made it."}},
        "data",
    ),
    "SessionKeyResponse": _object({"valid": {"type": "boolean"}}, "valid"),
    "MessageRequest": _object(
        {
            "user_id": {"type": "integer", "minimum": 1},
            "template_id": {"type": "string", "minLength": 1, "maxLength": 128},
            "data": {
                "type": "object", "minProperties": 1,
                "additionalProperties": _object({"value": {"type": "string"}}, "value"),
                "example": {"thing1": {"value": "Shipped"}},
            },
            "page": {"type": "string", "minLength": 1, "maxLength": 1024, "nullable": True},
            "miniprogram_state": {"type": "string", "nullable": True,
                                  "enum": ["formal", "trial", "developer", None]},
            "lang": {"type": "string", "nullable": True,
                     "enum": ["zh_CN", "en_US", "zh_HK", "zh_TW", None]},
        },
        "user_id", "template_id", "data",
    ),
    "MessageResponse": _object({"sent": {"type": "boolean", "enum": [True]}}, "sent"),
    "Health": _object({"status": {"type": "string", "enum": ["ok"]},
                       "version": {"type": "string"}}, "status", "version"),
    "Checks": _object(
        {"sessions": {"type": "string", "enum": ["ok", "down"]},
         "users": {"type": "string", "enum": ["ok", "down", "outdated"]}},
        "sessions", "users",
    ),
    "Readiness": _object(
        {"status": {"type": "string", "enum": ["ok"]}, "checks": _ref("schemas", "Checks")},
        "status", "checks",
    ),
    "NotReady": {"allOf": [_ref("schemas", "Error"),
                           _object({"checks": _ref("schemas", "Checks")}, "checks")]},
}

HEADERS: dict[str, Schema] = {
    "RequestId": {"description": "The client's X-Request-ID when sane, else a new one.",
                  "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"}},
    "RetryAfter": {"description": "Seconds to wait before trying again.",
                   "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "WwwAuthenticate": {"description": "`Bearer` on a refused login token.",
                        "schema": {"type": "string"}},
    "BearerAuthorization": {"description": "`Bearer <token>`, the token of the body again.",
                            "required": True, "schema": {"type": "string"}},
}

SECURITY_SCHEMES = {
    "user": {"type": "http", "scheme": "bearer", "bearerFormat": "opaque",
             "description": "The token from POST /api/v1/login as `Authorization: Bearer <token>` "
                            "(the bare `Authorization: <token>` is accepted too)."},
    "admin": {"type": "http", "scheme": "bearer",
              "description": "The back office's ADMIN_TOKEN."},
}

ERROR_DESCRIPTIONS = {
    400: "The request is malformed.",
    401: "Authentication failed.",
    403: "Refused.",
    404: "Not found.",
    413: "The request body is over 64 KiB.",
    422: "Well-formed but impossible to carry out.",
    429: "Too many requests.",
    502: "WeChat answered something unusable.",
    503: "Try again shortly.",
    504: "WeChat did not answer in time.",
}

WECHAT_ERRORS: dict[int, Sequence[str]] = {
    429: ["rate_limited"],
    502: ["wechat_error"],
    503: ["wechat_busy", "unavailable"],
    504: ["wechat_timeout"],
}
"""What every WeChat call can end in (API.md: "502/504 as for login")."""


@dataclass(frozen=True)
class Reply:
    """One documented response: its body schema (``None``: no body) and what it means."""

    description: str
    schema: Schema | None = None
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    """Response header name → its component in ``HEADERS``."""


def documented(
    *,
    operation_id: str,
    summary: str,
    tag: str,
    replies: Mapping[int, Reply],
    errors: Mapping[int, Sequence[str]] | None = None,
    body: str | None = None,
    body_required: bool = True,
    security: str | None = None,
    description: str | None = None,
) -> Callable[[Handler], Handler]:
    """Attach an operation to a handler; ``errors`` maps each error status to its codes.

    Written into sanic-ext's store directly rather than with its ``@openapi.body``, which wraps
    the handler in one more coroutine per request.
    """

    def attach(handler: Handler) -> Handler:
        operation = OperationStore()[handler]
        operation.name(operation_id)
        operation.describe(summary=summary, description=description)
        operation.tag(tag)
        operation.disable_autodoc()
        if body is not None:
            operation.requestBody = {  # type: ignore[assignment]
                "required": body_required,
                "content": {"application/json": {"schema": _ref("schemas", body)}},
            }
        if security is not None:
            operation.secured(security)
        responses = {str(status): _response(reply) for status, reply in replies.items()}
        for status, codes in sorted((errors or {}).items()):
            responses[str(status)] = _error_response(status, codes)
        operation.responses = responses  # type: ignore[assignment]
        return handler

    return attach


def _response(reply: Reply) -> Schema:
    headers = {"X-Request-ID": _ref("headers", "RequestId")}
    headers.update({name: _ref("headers", ref) for name, ref in reply.headers.items()})
    response: Schema = {"description": reply.description, "headers": headers}
    if reply.schema is not None:
        response["content"] = {reply.content_type: {"schema": reply.schema}}
    return response


def _error_response(status: int, codes: Sequence[str]) -> Schema:
    listed = ", ".join(f"`{code}`" for code in codes)
    headers = {"WWW-Authenticate": "WwwAuthenticate"} if status == 401 else {}
    if status in (429, 503):
        headers["Retry-After"] = "RetryAfter"
    return _response(
        Reply(f"{ERROR_DESCRIPTIONS.get(status, 'Error.')} Codes: {listed}.",
              _ref("schemas", "Error"), headers=headers)
    )


def install_openapi(app: Sanic, *, title: str, version: str, description: str) -> None:
    """Load sanic-ext with only its OpenAPI extension; serve the spec at ``/openapi.json``."""
    app.extend(extensions=[OpenAPIExtension], built_in_extensions=False, config=EXTENSION_CONFIG)
    spec = SpecificationBuilder()
    spec.describe(title, version, description)
    for name, schema in SCHEMAS.items():
        spec.add_component("schemas", name, schema)
    for name, header in HEADERS.items():
        spec.add_component("headers", name, header)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.add_component("securitySchemes", name, scheme)
    app.add_route(openapi_json, SPEC_PATH, methods=["GET"], name="openapi_json")
    OperationStore()[openapi_json].exclude()


async def openapi_json(request: Request) -> HTTPResponse:
    """The spec, built once per worker (it only changes with the code)."""
    cached: bytes | None = getattr(request.app.ctx, "openapi_json", None)
    if cached is None:
        cached = orjson.dumps(SpecificationBuilder().build(request.app).serialize())
        request.app.ctx.openapi_json = cached
    return HTTPResponse(cached, content_type="application/json")
