"""Send a subscribe message to a user (back-office)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from domain.apps import AppDirectory, AppServices, naming_platform
from domain.entities import Identity
from domain.errors import InvalidRequest
from domain.platform import SubscribeMessage
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
    app: str | None = None
    """The id of the WeChat app to send from; ``None``: the one of the user's WeChat identity."""


class SendMessageUseCase:
    """Rules:
    - ``template_id`` is a non-empty string; ``data`` a non-empty object whose every entry is
      ``{"value": <string>}``; ``miniprogram_state`` one of formal/trial/developer and ``lang``
      one of zh_CN/en_US/zh_HK/zh_TW when given: else ``InvalidRequest`` (WeChat judges the
      values against the template);
    - the app is the one named (``UnknownApp`` when none is; ``UnsupportedByPlatform`` when not
      WeChat), else the app of the user's one WeChat identity (``InvalidRequest`` when the user
      has several: name the app);
    - the user is looked up by id, with an identity on that app (``UnknownUser`` when there is
      none); the openid never leaves the server;
    - WeChat's 43101 is ``NotSubscribed``; 40037/47003/41030 are ``InvalidTemplate`` with
      WeChat's message; -1 is ``WeChatBusy`` and never retried (the message could go twice);
      only a refused token is refreshed and the send retried once.
    """

    def __init__(
        self, *, apps: AppDirectory, users: UserRepository,
    ) -> None:
        self._apps = apps
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
        named = None if request.app is None else self._apps.get(request.app)
        if named is not None:
            named.wechat_features()
        services, identity = self._recipient(
            await self._users.identities(request.user_id), named
        )
        platform, access_tokens = services.wechat_features()
        message = SubscribeMessage(
            touser=identity.openid,
            template_id=request.template_id,
            data=data,
            page=request.page,
            miniprogram_state=request.miniprogram_state,
            lang=request.lang,
        )
        with naming_platform(services.app):
            await access_tokens.call_with_token(
                lambda token: platform.send_subscribe_message(token, message)
            )

    def _recipient(
        self, identities: list[Identity], named: AppServices | None
    ) -> tuple[AppServices, Identity]:
        """The app to send from and the user's identity there."""
        found = []
        for identity in identities:
            services = self._apps.of_identity(identity.platform, identity.appid)
            if services is not None and services.features is not None and (
                named is None or services is named
            ):
                found.append((services, identity))
        if not found:
            raise UnknownUser()
        if len(found) > 1:
            raise InvalidRequest("The user has several WeChat apps: name one in `app`.")
        return found[0]


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
