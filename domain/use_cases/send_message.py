"""Send a subscribe message to a user (back-office)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.access_token import AccessTokenProvider
from domain.errors import InvalidRequest
from domain.platform import SubscribeMessage, WeChatPlatform
from domain.platform_errors import UnknownUser
from domain.ports import UserRepository

MINIPROGRAM_STATES = frozenset({"formal", "trial", "developer"})
LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})
MAX_TEXT_LENGTH = 1024


@dataclass(frozen=True, slots=True)
class SendMessageRequest:
    user_id: int
    template_id: str
    data: Mapping[str, object]
    """``{"thing1": {"value": "..."}, ...}`` as the client sent it; checked here."""
    page: str | None = None
    miniprogram_state: str | None = None
    lang: str | None = None


class SendMessageUseCase:
    """Rules:
    - ``template_id`` is a non-empty string; ``data`` a non-empty object whose every entry is
      ``{"value": <string>}``; ``miniprogram_state`` one of formal/trial/developer and ``lang``
      one of zh_CN/en_US/zh_HK/zh_TW when given: else ``InvalidRequest`` (WeChat judges the
      values against the template);
    - the user is looked up by id (``UnknownUser`` when there is none); the openid never leaves
      the server;
    - WeChat's 43101 is ``NotSubscribed``; 40037/47003/41030 are ``InvalidTemplate`` with
      WeChat's message; -1 is ``WeChatBusy`` and never retried (the message could go twice);
      only a refused token is refreshed and the send retried once.
    """

    def __init__(
        self, *, platform: WeChatPlatform, access_tokens: AccessTokenProvider,
        users: UserRepository,
    ) -> None:
        self._platform = platform
        self._access_tokens = access_tokens
        self._users = users

    async def execute(self, request: SendMessageRequest) -> None:
        data = _checked_data(request.data)
        _check_text(request.template_id, "template_id")
        if request.page is not None:
            _check_text(request.page, "page")
        if request.miniprogram_state is not None and (
            request.miniprogram_state not in MINIPROGRAM_STATES
        ):
            raise InvalidRequest("`miniprogram_state` must be formal, trial or developer.")
        if request.lang is not None and request.lang not in LANGS:
            raise InvalidRequest("`lang` must be zh_CN, en_US, zh_HK or zh_TW.")
        user = await self._users.get(request.user_id)
        if user is None:
            raise UnknownUser()
        message = SubscribeMessage(
            touser=user.openid,
            template_id=request.template_id,
            data=data,
            page=request.page,
            miniprogram_state=request.miniprogram_state,
            lang=request.lang,
        )
        await self._access_tokens.call_with_token(
            lambda token: self._platform.send_subscribe_message(token, message)
        )


def _check_text(value: object, name: str) -> None:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT_LENGTH:
        raise InvalidRequest(f"`{name}` must be a string of 1 to {MAX_TEXT_LENGTH} characters.")


def _checked_data(data: Mapping[str, object]) -> dict[str, dict[str, str]]:
    if not isinstance(data, Mapping) or not data:
        raise InvalidRequest('`data` must be a non-empty object of {"value": "..."} entries.')
    checked: dict[str, dict[str, str]] = {}
    for name, entry in data.items():
        value = entry.get("value") if isinstance(entry, Mapping) else None
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise InvalidRequest(
                f'`data` entries must look like {{"value": "..."}}: {str(name)[:40]!r}.'
            )
        checked[name] = {"value": value}
    return checked
