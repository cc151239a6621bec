"""Errors of the WeChat platform features (access token, phone, open data, subscribe messages).

Each has a stable snake_case ``code``. The 422s share the base :class:`Unprocessable`, so the HTTP
layer can map them with one row (its lookup walks each error's MRO).
"""

from __future__ import annotations

from domain.errors import DomainError, WeChatBusy, WeChatError, WeChatFailure


class Unprocessable(DomainError):
    """The request was well-formed but cannot be carried out as asked (HTTP 422)."""

    code = "unprocessable"
    message = "The request cannot be processed."


class AccessTokenInvalid(WeChatError):
    """WeChat refused the ``access_token`` (40001, 40014, 42001).

    Internal: ``AccessTokenProvider.call_with_token`` drops the token, refreshes it and retries
    once; should it escape anyway, it is a plain ``platform_error``.
    """

    message = "WeChat refused the access token."


class AccessTokenBusy(WeChatBusy):
    """Another process is fetching the ``access_token`` and did not finish within the wait."""

    message = "WeChat's access token is being refreshed; try again shortly."


class InvalidPhoneCode(WeChatFailure, Unprocessable):
    """WeChat rejected the phone-number code: invalid, expired, used or of another app (40029)."""

    code = "invalid_phone_code"
    message = "The phone-number code is invalid, expired or already used."


class DecryptFailed(Unprocessable):
    """The ``encryptedData`` did not decrypt to JSON (bad padding, not JSON), or no
    ``session_key`` is kept for the user: usually a stale ``session_key``."""

    code = "decrypt_failed"
    message = (
        "The data could not be decrypted with the current session key; "
        "call wx.login() and log in again, then fetch the data anew."
    )


class SignatureMismatch(Unprocessable):
    """``signature`` is not ``sha1(raw_data + session_key)``."""

    code = "signature_mismatch"
    message = "The signature does not match raw_data and the current session key."


class WatermarkMismatch(Unprocessable):
    """The decrypted data carries no watermark, or the watermark of another appid."""

    code = "watermark_mismatch"
    message = "The decrypted data was not issued for this mini-program."


class NotSubscribed(WeChatFailure, Unprocessable):
    """The user has no remaining subscription to this template (43101)."""

    code = "not_subscribed"
    message = "The user has not subscribed to this message template (or used it up)."


class InvalidTemplate(WeChatFailure, Unprocessable):
    """WeChat refused the template, its data or the page (40037, 47003, 41030); the message
    carries WeChat's ``errmsg`` without its request id."""

    code = "invalid_template"
    message = "WeChat refused the template or its data."


class UnknownUser(DomainError):
    """No user has this id (HTTP 404)."""

    code = "unknown_user"
    message = "No user has this id."
