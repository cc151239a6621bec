"""Every request and response body, described once.

Bodies are ``TypedDict``s: pydantic validates the requests against them and writes their JSON
Schema into ``/openapi.json``; mypy checks that the dicts the handlers answer with match the
responses. A ``TypedDict`` tells a key sent as ``null`` from a key left out (only the fields typed
``| None`` take ``null``) and costs nothing to build, which keeps the login and ``/me`` as cheap
as the hand-written checks they replace. Validation is strict: ``"1"`` is no integer and
``"yes"`` no boolean.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypeVar
from urllib.parse import parse_qs

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from domain.accounts import MAX_REASON
from domain.codes import CODE_PATTERN, MAX_CODE_LENGTH
from domain.errors import InvalidRequest
from domain.use_cases.send_message import LANGS, MAX_TEXT_LENGTH, MINIPROGRAM_STATES

STRICT = ConfigDict(strict=True)
MAX_USER_ID = 2**63 - 1
"""The largest id a user store keeps (a signed 64-bit column)."""

Code = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CODE_LENGTH, pattern=CODE_PATTERN)
]
"""A one-time code from the mini-program (see ``domain.codes``)."""


Body = TypeVar("Body")


# ---- requests ---------------------------------------------------------------------------------

@with_config(ConfigDict(strict=True, json_schema_extra={
    "anyOf": [{"required": ["code"]}, {"required": ["js_code"]}]}))
class LoginRequest(TypedDict, total=False):
    code: Annotated[Code, Field(description="The code from `wx.login()`.")]
    js_code: Annotated[Code, Field(
        description="Accepted instead of `code`; when both are sent, `code` is used.")]
    app: Annotated[str, Field(
        description="The app's id (APPS_FILE); may be left out when one app is configured.")]


@with_config(STRICT)
class LogoutRequest(TypedDict, total=False):
    all: Annotated[bool, Field(description="End every token of the user (every device).",
                               json_schema_extra={"default": False})]


@with_config(STRICT)
class PhoneRequest(TypedDict):
    code: Annotated[Code, Field(description="The code from the `getPhoneNumber` button.")]


@with_config(STRICT)
class DecryptRequest(TypedDict):
    encrypted_data: Annotated[str, Field(
        min_length=1, max_length=65_536,
        description="Base64 (a `+` turned into a space on the way is repaired).")]
    iv: Annotated[str, Field(min_length=1, max_length=64, description="Base64 of 16 bytes.")]
    raw_data: NotRequired[Annotated[str | None, Field(
        description="Send both `raw_data` and `signature`, or neither.")]]
    signature: NotRequired[Annotated[str | None, Field(
        description="Hex of sha1(raw_data + session_key).")]]


@with_config(STRICT)
class TemplateValue(TypedDict):
    value: str


@with_config(STRICT)
class MessageRequest(TypedDict):
    user_id: Annotated[int, Field(ge=1, le=MAX_USER_ID)]
    app: NotRequired[Annotated[str, Field(
        description="The WeChat app to send from; optional when the user has one.")]]
    template_id: Annotated[str, Field(min_length=1, max_length=128)]
    data: Annotated[dict[str, TemplateValue], Field(
        min_length=1, json_schema_extra={"example": {"thing1": {"value": "Shipped"}}})]
    page: NotRequired[Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH)] | None]
    miniprogram_state: NotRequired[Annotated[str, Field(
        json_schema_extra={"enum": sorted(MINIPROGRAM_STATES)})] | None]
    lang: NotRequired[Annotated[str, Field(json_schema_extra={"enum": sorted(LANGS)})] | None]


@with_config(STRICT)
class RefreshRequest(TypedDict):
    refresh_token: Annotated[str, Field(min_length=1, max_length=1024,
                                        description="The refresh token of the login.")]


@with_config(STRICT)
class IntrospectRequest(TypedDict):
    token: Annotated[str, Field(min_length=1, description="The user's access token.")]
    token_type_hint: NotRequired[Annotated[str, Field(description="Ignored (RFC 7662).")]]


# ---- responses --------------------------------------------------------------------------------

class LoginUser(TypedDict):
    id: Annotated[int, Field(ge=1)]
    created: Annotated[bool, Field(description="True only for the login that made the user.")]


class LoginResponse(TypedDict):
    token: Annotated[str, Field(description="Send it as `Authorization: Bearer`: opaque, or "
                                "in the JWT mode a signed access token.")]
    token_type: Literal["Bearer"]
    expires_in: Annotated[int, Field(ge=0, description="Seconds left.")]
    user: LoginUser
    refresh_token: NotRequired[Annotated[str, Field(
        description="JWT mode: renews the tokens at POST /api/v1/token/refresh.")]]
    refresh_expires_in: NotRequired[Annotated[int, Field(
        ge=0, description="JWT mode: seconds the refresh token has left unused.")]]


class Introspection(TypedDict):
    active: Annotated[bool, Field(description="Only `false` for a token that is not valid.")]
    sub: NotRequired[Annotated[str, Field(description="The user's id.")]]
    sid: NotRequired[Annotated[str, Field(description="The session's id.")]]
    app: NotRequired[str]
    platform: NotRequired[str]
    iat: NotRequired[Annotated[int, Field(description="Issued (Unix seconds).")]]
    exp: NotRequired[Annotated[int, Field(description="Expires (Unix seconds).")]]
    token_type: NotRequired[Literal["access_token"]]
    iss: NotRequired[str]


class Jwk(TypedDict):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: Annotated[str, Field(description="The key's RFC 7638 thumbprint.")]
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class Jwks(TypedDict):
    keys: list[Jwk]


class Discovery(TypedDict):
    issuer: str
    jwks_uri: str
    token_endpoint: str
    introspection_endpoint: str
    id_token_signing_alg_values_supported: list[Literal["EdDSA"]]


class MeUser(TypedDict):
    id: Annotated[int, Field(ge=1)]
    created_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class MeResponse(TypedDict):
    user: MeUser
    app: Annotated[str, Field(description="The id of the app the token's login came from.")]
    platform: Annotated[str, Field(description="That app's platform.")]
    expires_in: Annotated[int, Field(ge=0, description="Seconds left, after any slide.")]


class Phone(TypedDict):
    phone_number: Annotated[str, Field(pattern=r"^\+[0-9]+$", description="E.164.")]
    pure_phone_number: Annotated[str, Field(pattern="^[0-9]+$")]
    country_code: Annotated[str, Field(pattern="^[0-9]+$")]


class PhoneResponse(TypedDict):
    phone: Phone


class DecryptResponse(TypedDict):
    data: Annotated[dict[str, Any], Field(description="The decrypted object, as it was made.")]


class SessionKeyResponse(TypedDict):
    valid: bool


class MessageResponse(TypedDict):
    sent: Literal[True]


class Health(TypedDict):
    status: Literal["ok"]
    version: str


class Checks(TypedDict):
    sessions: Literal["ok", "down"]
    users: Literal["ok", "down", "outdated"]


class Readiness(TypedDict):
    status: Literal["ok"]
    checks: Checks


class ErrorDetail(TypedDict):
    code: Annotated[str, Field(pattern="^[a-z][a-z0-9_]*$", description="Stable, snake_case.")]
    message: Annotated[str, Field(description="For a developer, not for the user.")]
    platform: NotRequired[Annotated[
        Literal["wechat", "qq", "douyin", "alipay", "wecom"],
        Field(description="On errors that came from a platform: which.")]]


class Error(TypedDict):
    error: ErrorDetail


class NotReady(Error):
    checks: Checks


# ---- reading a request body -------------------------------------------------------------------

def _code_wins(body: object) -> object:
    """When both ``code`` and ``js_code`` are sent, ``code`` is used and ``js_code`` ignored."""
    if isinstance(body, dict) and "code" in body:
        return {key: value for key, value in body.items() if key != "js_code"}
    return body


LOGIN = TypeAdapter(Annotated[LoginRequest, BeforeValidator(_code_wins)])
LOGOUT = TypeAdapter(LogoutRequest)
PHONE = TypeAdapter(PhoneRequest)
DECRYPT = TypeAdapter(DecryptRequest)
MESSAGE = TypeAdapter(MessageRequest)
REFRESH = TypeAdapter(RefreshRequest)
INTROSPECT = TypeAdapter(IntrospectRequest)
FORM = "application/x-www-form-urlencoded"


def read(adapter: TypeAdapter[Body], body: bytes, *, allow_empty: bool = False) -> Body:
    """``body`` validated as JSON by ``adapter``; anything else is ``InvalidRequest`` saying what.

    An empty body counts as ``{}`` only when ``allow_empty``.
    """
    if allow_empty and not body.strip():
        body = b"{}"
    try:
        return adapter.validate_json(body)
    except ValidationError as invalid:
        raise InvalidRequest(_explain(invalid)) from None


def login_code(body: bytes) -> tuple[str, str | None]:
    """The login's code (``code``, else ``js_code``) and its app's id, if named."""
    request = read(LOGIN, body)
    code = request.get("code", request.get("js_code"))
    if code is None:
        raise InvalidRequest("`code` is required.")
    return code, request.get("app")


def introspected_token(body: bytes, content_type: str) -> str:
    """The token to introspect: the form field ``token`` (a form body), else JSON ``token``."""
    if content_type.partition(";")[0].strip().lower() != FORM:
        return read(INTROSPECT, body)["token"]
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=bool(body.strip()),
                          max_num_fields=16)
    except ValueError:  # UnicodeDecodeError included
        raise InvalidRequest("The body is not a valid form.") from None
    tokens = fields.get("token", [])
    if len(tokens) != 1 or not tokens[0]:
        raise InvalidRequest("`token` is required, once.")
    return tokens[0]


def _explain(invalid: ValidationError) -> str:
    """One sentence about the first problem; never the value that was sent."""
    first = invalid.errors(include_url=False, include_context=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return "The body is not valid JSON."
    if not first["loc"]:
        return "The body must be a JSON object."
    field = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        return f"`{field}` is required."
    return f"`{field}`: {first['msg']}."


# ---- accounts ---------------------------------------------------------------------------------

@with_config(STRICT)
class BanRequest(TypedDict, total=False):
    reason: Annotated[str | None, Field(max_length=MAX_REASON,
                                        description="Kept with the `banned` event.")]


BAN = TypeAdapter(BanRequest)

DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class SessionItem(TypedDict):
    id: Annotated[str, Field(description="Opaque and stable; never works as a token.")]
    current: Annotated[bool, Field(description="The session of the token that asks.")]
    app: str | None
    platform: str | None
    created_at: DateTime
    expires_at: DateTime
    ip: Annotated[str | None, Field(description="The login's network: IPv4 /24, IPv6 /48.")]
    user_agent: Annotated[str | None, Field(description="As sent at login (256 characters).")]


class SessionsResponse(TypedDict):
    sessions: Annotated[list[SessionItem], Field(description="Live sessions, newest first.")]


class IdentityItem(TypedDict):
    app: str | None
    platform: str | None
    openid: str
    unionid: str | None


class AdminUser(TypedDict):
    id: int
    status: Literal["active", "banned", "deleted"]
    created_at: DateTime
    last_login_at: DateTime | None
    phone: Annotated[str | None, Field(description="E.164.")]
    identities: list[IdentityItem]
    sessions: list[SessionItem]


class AdminUserResponse(TypedDict):
    user: AdminUser


class AdminUsersResponse(TypedDict):
    users: list[AdminUser]


class EventItem(TypedDict):
    id: int
    at: DateTime
    type: Literal["login", "login_failed", "logout", "session_revoked", "banned", "unbanned",
                  "deleted", "phone_verified"]
    user_id: int | None
    app: str | None
    result: Annotated[str, Field(description="`ok`, or a failed login's error code.")]
    ip: str | None
    user_agent: str | None
    request_id: str | None
    reason: NotRequired[Annotated[str, Field(description="A ban's reason, when given.")]]


class EventsResponse(TypedDict):
    events: Annotated[list[EventItem], Field(description="Newest first.")]
    next: Annotated[str | None, Field(description="The `before` of the next page; null on "
                                                  "the last.")]
