"""The route table's types, and the OpenAPI 3.1 description built from it.

Each route of ``entrypoints.routes.ROUTES`` is served and described from the same entry: its
body and reply types (``entrypoints.schemas``, whose JSON Schema pydantic writes) and the errors
it can answer, whose status, code and meaning come from the error table in
``entrypoints.errors``. ``/docs`` renders the description with a small page of its own that loads
nothing from another host.
"""

from __future__ import annotations

import hashlib
import re
from base64 import b64encode
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import orjson
from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema
from sanic import HTTPResponse, Request, Sanic

from entrypoints.errors import answer_of
from entrypoints.schemas import Error

Handler = Callable[..., Coroutine[Any, Any, HTTPResponse]]
Schema = dict[str, Any]

SPEC_PATH = "/openapi.json"
DOCS_PATH = "/docs"
SCHEMA_REF = "#/components/schemas/{model}"

HEADERS: dict[str, Schema] = {
    "RequestId": {"description": "The client's X-Request-ID when sane, else a new one.",
                  "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]+$"}},
    "RetryAfter": {"description": "Seconds to wait before trying again.",
                   "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "WwwAuthenticate": {"description": "`Bearer` on a refused login token.",
                        "schema": {"type": "string"}},
    "UserId": {"description": "The user's id.", "required": True,
               "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "SessionId": {"description": "The session's id: opaque, stable for the session's life, "
                  "never a token.", "required": True, "schema": {"type": "string"}},
    "App": {"description": "The app of the login that made the session.", "required": True,
            "schema": {"type": "string"}},
    "Platform": {"description": "That app's platform.", "required": True,
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
    "service": {"type": "http", "scheme": "bearer",
                "description": "SERVICE_TOKEN, held by the team's other services."},
}

@dataclass(frozen=True)
class Reply:
    """One documented answer: its status, what it means, and its body's type (``None``: none)."""

    status: int
    description: str
    body: Any = None
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    """Response header name → its component in ``HEADERS``."""


@dataclass(frozen=True)
class Param:
    """A query parameter (a string)."""

    name: str
    description: str


PATH_PARAMETER = re.compile(r"<(\w+)(?::(\w+))?>")
"""Sanic's ``<name:type>`` in a route's path; OpenAPI spells it ``{name}``."""


def openapi_path(path: str) -> str:
    return PATH_PARAMETER.sub(r"{\1}", path)


@dataclass(frozen=True)
class Route:
    """One operation: where it is served, what it takes, and every answer it documents.

    ``errors`` are the exception types it may raise; each is answered (and so documented) as
    the error table says. The handler's name is the operation's id.
    """

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    replies: Sequence[Reply]
    errors: Sequence[type[Exception]] = ()
    body: Any = None
    body_required: bool = True
    security: str | None = None
    description: str | None = None
    query: Sequence[Param] = ()


class _Untitled(GenerateJsonSchema):
    """Pydantic's JSON Schema without a ``title`` on every field (the field's name says it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def build_spec(routes: Sequence[Route], *, title: str, version: str, description: str
               ) -> Schema:
    """The OpenAPI 3.1 document of ``routes``."""
    types = {Error, *(route.body for route in routes if route.body is not None),
             *(reply.body for route in routes for reply in route.replies if reply.body)}
    refs, top = TypeAdapter.json_schemas(
        [(kind, "validation", TypeAdapter(kind)) for kind in types],
        ref_template=SCHEMA_REF, schema_generator=_Untitled,
    )
    schemas = {kind: refs[(kind, "validation")] for kind in types}
    paths: dict[str, Schema] = {}
    for route in routes:
        operation = _operation(route, schemas)
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {"schemas": top.get("$defs", {}), "headers": HEADERS,
                       "securitySchemes": SECURITY_SCHEMES},
    }


def _operation(route: Route, schemas: Mapping[Any, Schema]) -> Schema:
    operation: Schema = {"operationId": route.handler.__name__, "summary": route.summary,
                         "tags": [route.tag]}
    if route.description:
        operation["description"] = route.description
    if route.security:
        operation["security"] = [{route.security: []}]
    parameters = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "integer" if kind == "int" else "string"}}
        for name, kind in PATH_PARAMETER.findall(route.path)
    ] + [{"name": p.name, "in": "query", "description": p.description,
          "schema": {"type": "string"}} for p in route.query]
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": schemas[route.body]}},
        }
    errors: dict[int, dict[str, str]] = {}
    for kind in route.errors:
        status, code, message = answer_of(kind)
        errors.setdefault(status, {}).setdefault(code, message)
    responses = {status: _error_reply(status, codes) for status, codes in errors.items()}
    responses.update({reply.status: reply for reply in route.replies})
    operation["responses"] = {
        str(status): _response(reply, schemas) for status, reply in sorted(responses.items())
    }
    return operation


def _error_reply(status: int, codes: Mapping[str, str]) -> Reply:
    listed = " ".join(f"`{code}`: {message}" for code, message in codes.items())
    headers = {"WWW-Authenticate": "WwwAuthenticate"} if status == 401 else {}
    if status in (429, 503):
        headers["Retry-After"] = "RetryAfter"
    return Reply(status, listed, Error, headers=headers)


def _response(reply: Reply, schemas: Mapping[Any, Schema]) -> Schema:
    headers = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}
    headers.update({name: {"$ref": f"#/components/headers/{component}"}
                    for name, component in reply.headers.items()})
    response: Schema = {"description": reply.description, "headers": headers}
    if reply.body is not None:
        schema = schemas.get(reply.body) or TypeAdapter(reply.body).json_schema()
        response["content"] = {reply.content_type: {"schema": schema}}
    return response


DOCS_PAGE = files("entrypoints").joinpath("docs.html").read_bytes()


def _content_security_policy(page: bytes) -> str:
    """Only the page's own script and style run, and it may fetch from this service alone."""

    def hashes(tag: bytes) -> str:
        blocks = re.findall(rb"<%b>(.*?)</%b>" % (tag, tag), page, re.DOTALL)
        return " ".join(f"'sha256-{b64encode(hashlib.sha256(b).digest()).decode()}'"
                        for b in blocks)

    return (f"default-src 'none'; script-src {hashes(b'script')}; "
            f"style-src {hashes(b'style')}; connect-src 'self'; img-src 'self'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


DOCS_TYPE = "text/html; charset=utf-8"
DOCS_HEADERS = {"Content-Security-Policy": _content_security_policy(DOCS_PAGE)}


def install(app: Sanic[Any, Any], routes: Sequence[Route], *, title: str, version: str,
            description: str) -> None:
    """Serve ``routes``, their description at ``/openapi.json`` and the page at ``/docs``."""
    for route in routes:
        app.add_route(route.handler, route.path, methods=[route.method])
    spec = orjson.dumps(build_spec(routes, title=title, version=version, description=description))

    async def openapi_json(request: Request) -> HTTPResponse:
        return HTTPResponse(spec, content_type="application/json")

    async def docs(request: Request) -> HTTPResponse:
        return HTTPResponse(DOCS_PAGE, headers=DOCS_HEADERS, content_type=DOCS_TYPE)

    app.add_route(openapi_json, SPEC_PATH, methods=["GET"])
    app.add_route(docs, DOCS_PATH, methods=["GET"])
