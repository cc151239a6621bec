"""Domain errors. Each carries a stable snake_case ``code``; the HTTP layer maps it to a status."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the use cases raise on purpose."""

    code = "domain_error"
    message = "The request could not be completed."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @property
    def detail(self) -> str:
        return str(self.args[0])


class InvalidRequest(DomainError):
    code = "invalid_request"
    message = "The request is malformed."


class UnknownApp(InvalidRequest):
    """The login names no configured app, or none while several are configured."""

    code = "unknown_app"
    message = "`app` names no app of this service."


class UnsupportedByPlatform(InvalidRequest):
    """The feature does not exist on the platform of the token's app."""

    code = "unsupported_by_platform"
    message = "This feature is not available on the platform of this app."


class Unauthorized(DomainError):
    code = "unauthorized"
    message = "A valid login token is required."


class UserBanned(DomainError):
    """The back office banned the user: its logins are refused."""

    code = "user_banned"
    message = "This user was banned."


class SessionNotFound(DomainError):
    """A session id that is not one of the user's live sessions."""

    code = "not_found"
    message = "No such session."
class RefreshRefused(DomainError):
    """Base of a refused refresh token (JWT mode)."""


class InvalidRefreshToken(RefreshRefused):
    code = "invalid_refresh_token"
    message = "The refresh token is unknown, expired or revoked; log in again."


class RefreshTokenReused(RefreshRefused):
    """A refresh token used again after its reuse window: a stolen token was replayed, so its
    whole session was ended."""

    code = "refresh_token_reused"
    message = "The refresh token was used already; the session is ended. Log in again."


class RetryLater(DomainError):
    """An error after which the client may try again in ``retry_after`` seconds."""

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class RateLimited(RetryLater):
    code = "rate_limited"
    message = "Too many requests; try again later."


class StoreUnavailable(DomainError):
    """A store (sessions or users) cannot be reached in time."""

    code = "unavailable"
    message = "A storage backend is unavailable; try again shortly."


class SchemaOutdated(StoreUnavailable):
    """The user store answers, but its schema is older than this version of the service needs
    (its migrations were not applied): unusable as if it were down, and reported apart."""

    message = "The user store's schema is older than this version needs; migrate it."


class WeChatFailure(DomainError):
    """Base of the failures of a call to a platform (WeChat or another).

    ``platform`` names the app's platform once known (the use case sets it): the error body
    carries it.
    """

    platform: str | None = None


class InvalidCode(WeChatFailure):
    """WeChat rejected the login code: invalid, expired or already used (40029, 40163)."""

    code = "invalid_code"
    message = "The login code is invalid, expired or already used; log in on the client again."


class UserBlocked(WeChatFailure):
    """WeChat refuses a high-risk user (40226)."""

    code = "user_blocked"
    message = "The platform refused to log this user in."


class WeChatRateLimited(WeChatFailure, RateLimited):
    """WeChat's minute quota is hit (45011)."""

    message = "The platform's rate limit was reached; try again later."

    def __init__(self, message: str | None = None, *, retry_after: int = 60) -> None:
        RateLimited.__init__(self, message, retry_after=retry_after)


class WeChatBusy(WeChatFailure, RetryLater):
    """WeChat answered -1 (system busy). Never retried upstream: a code is single-use."""

    code = "platform_busy"
    message = "The platform is busy; send the same code again shortly."


class WeChatOverloaded(WeChatBusy):
    """Too many calls to WeChat are in flight and waiting in this process: refused at once,
    before WeChat is called. The client does as for -1 (send the same code again after
    ``Retry-After``: it was not used), hence the same ``platform_busy`` code."""

    message = "Too many requests are waiting for the platform; send the same code again shortly."


class WeChatError(WeChatFailure):
    """WeChat answered something unusable: another errcode, a non-JSON body, HTTP 5xx..."""

    code = "platform_error"
    message = "The platform returned an unusable answer."


class WeChatTimeout(WeChatFailure):
    code = "platform_timeout"
    message = "The platform did not answer in time."


WECHAT_FAILURES: dict[str, type[WeChatFailure]] = {
    cls.code: cls
    for cls in (InvalidCode, UserBlocked, WeChatRateLimited, WeChatBusy, WeChatError, WeChatTimeout)
}
"""WeChat failures by code, so an outcome shared between processes can be raised again."""
