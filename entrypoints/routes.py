"""Every route the service answers, with what it takes and every answer it documents.

``create_app`` serves exactly this table and ``/openapi.json`` describes exactly it, so a route
cannot be served undocumented. Errors are named by the exception types a route can raise; their
status, code and meaning come from the error table in ``entrypoints.errors``.
"""

from __future__ import annotations

from sanic.exceptions import NotFound, PayloadTooLarge

from domain import errors as domain
from domain import platform_errors as platform
from entrypoints import account_routes as accounts
from entrypoints import handlers
from entrypoints import schemas as body
from entrypoints.metrics import metrics
from entrypoints.openapi import Param, Reply, Route

WECHAT_CALL = (domain.RateLimited, domain.WeChatBusy, domain.StoreUnavailable,
               domain.WeChatError, domain.WeChatTimeout)
"""What every call to a platform can end in (the login's 429, 502, 503 and 504)."""

USER = (domain.Unauthorized,)
FORWARD_AUTH_HEADERS = {"X-User-Id": "UserId", "X-Session-Id": "SessionId", "X-App": "App",
                        "X-Platform": "Platform"}
MALFORMED = (domain.InvalidRequest, PayloadTooLarge)

ADMIN = (*USER, NotFound, platform.UnknownUser, domain.StoreUnavailable)
"""What every back-office route on a user can answer."""
USER_PATH = "/api/v1/admin/users/<user_id:int>"
EVENT_PAGE = (
    Param("limit", "1 to 200 events (default 50)."),
    Param("before", "The `next` of the previous page."),
)

ADMIN_ROUTES = (
    Route(
        "GET", USER_PATH, accounts.admin_user, tag="back-office", security="admin",
        summary="A user, its identities and live sessions",
        replies=[Reply(200, "The user.", body.AdminUserResponse)], errors=ADMIN,
    ),
    Route(
        "GET", "/api/v1/admin/users", accounts.admin_find_users, tag="back-office",
        security="admin", summary="Find users by (app, openid), unionid or phone",
        query=(Param("app", "With `openid`."), Param("openid", "With `app`."),
               Param("unionid", "Alone."), Param("phone", "Alone, E.164.")),
        replies=[Reply(200, "The users found (none: an empty list).", body.AdminUsersResponse)],
        errors=[*USER, NotFound, domain.InvalidRequest, domain.StoreUnavailable],
    ),
    Route(
        "POST", f"{USER_PATH}/ban", accounts.admin_ban, tag="back-office", security="admin",
        summary="Ban a user", description="Every token of the user dies at once and its "
        "logins answer 403 `user_banned`.",
        body=body.BanRequest, body_required=False,
        replies=[Reply(204, "Banned.")], errors=[*MALFORMED, *ADMIN],
    ),
    Route(
        "POST", f"{USER_PATH}/unban", accounts.admin_unban, tag="back-office",
        security="admin", summary="Lift a ban", replies=[Reply(204, "The user may log in.")],
        errors=ADMIN,
    ),
    Route(
        "DELETE", f"{USER_PATH}/sessions", accounts.admin_revoke_sessions, tag="back-office",
        security="admin", summary="End every session of a user",
        replies=[Reply(204, "Every token of the user died.")], errors=ADMIN,
    ),
    Route(
        "DELETE", USER_PATH, accounts.admin_delete_user, tag="back-office", security="admin",
        summary="Close a user's account (as DELETE /api/v1/me)",
        replies=[Reply(204, "Closed (also when it was closed already).")], errors=ADMIN,
    ),
    Route(
        "GET", f"{USER_PATH}/events", accounts.admin_user_events, tag="back-office",
        security="admin", summary="A user's events, newest first", query=EVENT_PAGE,
        replies=[Reply(200, "A page of events.", body.EventsResponse)],
        errors=[*ADMIN, domain.InvalidRequest],
    ),
    Route(
        "GET", "/api/v1/admin/events", accounts.admin_events, tag="back-office",
        security="admin", summary="Every user's events, newest first",
        query=(Param("type", "Only events of this type."), *EVENT_PAGE),
        replies=[Reply(200, "A page of events.", body.EventsResponse)],
        errors=[*USER, NotFound, domain.InvalidRequest, domain.StoreUnavailable],
    ),
)

ROUTES = (
    Route(
        "POST", "/api/v1/login", handlers.login, tag="login",
        summary="Log in with the code from the platform's login API",
        description="Exchanges the code at the app's platform once however often it is sent "
        "within its 5 minutes, and answers with a new token of the (maybe new) user.",
        body=body.LoginRequest,
        replies=[Reply(200, "Logged in.", body.LoginResponse,
                       headers={"Authorization": "BearerAuthorization"})],
        errors=[*MALFORMED, domain.UnknownApp, domain.InvalidCode, domain.UserBlocked,
                domain.UserBanned, *WECHAT_CALL],
    ),
    Route(
        "GET", "/api/v1/me", handlers.me, tag="session", security="user",
        summary="The logged-in user; slides the token",
        replies=[Reply(200, "The user and the token's remaining life.", body.MeResponse)],
        errors=[*USER, domain.StoreUnavailable],
    ),
    Route(
        "GET", "/api/v1/auth", handlers.auth, tag="tokens", security="user",
        summary="Forward auth: who holds this token; slides it",
        description="For a reverse proxy's sub-request (nginx `auth_request`): 204 with the "
        "user's headers for a valid token, else 401. Never rate-limited.",
        replies=[Reply(204, "The token is valid.", headers=FORWARD_AUTH_HEADERS)],
        errors=[*USER, domain.StoreUnavailable],
    ),
    Route(
        "POST", "/api/v1/introspect", handlers.introspect, tag="tokens", security="service",
        summary="Introspection (RFC 7662): is this user token valid; slides it",
        description="Needs SERVICE_TOKEN (404 when it is unset). The token as JSON "
        "`{\"token\": …}` or as the form field `token` "
        "(`application/x-www-form-urlencoded`).",
        body=body.IntrospectRequest,
        replies=[Reply(200, "`active` and, for a valid token, its claims.", body.Introspection)],
        errors=[*MALFORMED, *USER, NotFound, domain.StoreUnavailable],
    ),
    Route(
        "POST", "/api/v1/token/refresh", handlers.refresh, tag="tokens",
        summary="JWT mode: new tokens for a refresh token",
        description="404 in the opaque token format. A refresh token still refreshes within "
        "10 s of its first use; used later, its session ends.",
        body=body.RefreshRequest,
        replies=[Reply(200, "New tokens of the same session.", body.LoginResponse,
                       headers={"Authorization": "BearerAuthorization"})],
        errors=[*MALFORMED, domain.InvalidRefreshToken, domain.RefreshTokenReused, NotFound,
                domain.StoreUnavailable],
    ),
    Route(
        "GET", "/.well-known/jwks.json", handlers.jwks, tag="tokens",
        summary="JWT mode: the keys that verify access tokens",
        description="The signing key and every verify key; 404 in the opaque token format.",
        replies=[Reply(200, "The JSON Web Key Set.", body.Jwks)],
        errors=[NotFound],
    ),
    Route(
        "GET", "/.well-known/openid-configuration", handlers.openid_configuration,
        tag="tokens", summary="JWT mode: the discovery document",
        description="Issuer, JWKS, refresh and introspection endpoints (absolute URLs from the "
        "Host the client used); 404 in the opaque token format.",
        replies=[Reply(200, "The discovery document.", body.Discovery)],
        errors=[domain.InvalidRequest, NotFound],
    ),
    Route(
        "POST", "/api/v1/logout", handlers.logout, tag="session", security="user",
        summary="End this token, or every token of the user",
        body=body.LogoutRequest, body_required=False,
        replies=[Reply(204, "The token (or every token of the user) no longer works.")],
        errors=[*MALFORMED, *USER, domain.StoreUnavailable],
    ),
    Route(
        "POST", "/api/v1/me/phone", handlers.phone, tag="platform", security="user",
        summary="The user's phone number from a phone code",
        description="Asks WeChat's getuserphonenumber and stores the number on the user.",
        body=body.PhoneRequest,
        replies=[Reply(200, "The number.", body.PhoneResponse)],
        errors=[*MALFORMED, *USER, domain.UnsupportedByPlatform, platform.InvalidPhoneCode,
                *WECHAT_CALL],
    ),
    Route(
        "POST", "/api/v1/me/decrypt", handlers.decrypt, tag="platform", security="user",
        summary="Decrypt an encryptedData payload",
        description="AES-128-CBC with the user's newest session_key; checks the watermark's "
        "appid and, when given, the signature.",
        body=body.DecryptRequest,
        replies=[Reply(200, "The decrypted object.", body.DecryptResponse)],
        errors=[*MALFORMED, *USER, domain.UnsupportedByPlatform, platform.DecryptFailed,
                platform.SignatureMismatch,
                platform.WatermarkMismatch, domain.StoreUnavailable],
    ),
    Route(
        "GET", "/api/v1/me/session-key", handlers.session_key, tag="platform", security="user",
        summary="Whether WeChat still holds the user's session_key valid",
        replies=[Reply(200, "Valid or not.", body.SessionKeyResponse)],
        errors=[*USER, domain.UnsupportedByPlatform, *WECHAT_CALL],
    ),
    Route(
        "POST", "/api/v1/admin/messages", handlers.send_message, tag="back-office",
        security="admin", summary="Send a subscribe message to a user",
        description="Needs ADMIN_TOKEN; answers 404 when it is not configured.",
        body=body.MessageRequest,
        replies=[Reply(200, "Sent.", body.MessageResponse)],
        errors=[*MALFORMED, *USER, NotFound, domain.UnknownApp, domain.UnsupportedByPlatform,
                platform.UnknownUser, platform.NotSubscribed,
                platform.InvalidTemplate, *WECHAT_CALL],
    ),
    Route(
        "GET", "/api/v1/me/sessions", accounts.my_sessions, tag="session", security="user",
        summary="The user's live sessions (devices), newest first",
        replies=[Reply(200, "The sessions.", body.SessionsResponse)],
        errors=[*USER, domain.StoreUnavailable],
    ),
    Route(
        "DELETE", "/api/v1/me/sessions/<session_id:str>", accounts.revoke_my_session,
        tag="session", security="user", summary="End one of the user's sessions",
        replies=[Reply(204, "That session's tokens no longer work.")],
        errors=[*USER, domain.SessionNotFound, domain.StoreUnavailable],
    ),
    Route(
        "DELETE", "/api/v1/me", accounts.delete_me, tag="session", security="user",
        summary="Close the user's account",
        description="Every token of the user dies; its identities, unionids and phone are "
        "erased; a later login of the same person creates a new user.",
        replies=[Reply(204, "The account is closed.")],
        errors=[*USER, domain.StoreUnavailable],
    ),
    *ADMIN_ROUTES,
    Route(
        "GET", "/healthz", handlers.healthz, tag="operations",
        summary="Liveness: the process serves",
        replies=[Reply(200, "Serving.", body.Health)],
    ),
    Route(
        "GET", "/readyz", handlers.readyz, tag="operations",
        summary="Readiness: both stores answer",
        replies=[Reply(200, "Both stores answer.", body.Readiness),
                 Reply(503, "A store is down, or the user store's schema is outdated "
                       "(`unavailable`); `checks` says which.",
                       body.NotReady, headers={"Retry-After": "RetryAfter"})],
    ),
    Route(
        "GET", "/metrics", metrics, tag="operations", summary="Prometheus metrics",
        replies=[Reply(200, "Prometheus text format (every worker's samples summed).", str,
                       content_type="text/plain")],
    ),
)
