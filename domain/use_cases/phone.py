"""Fetch the user's phone number from WeChat and keep it on the user."""

from __future__ import annotations

from dataclasses import dataclass

from domain.apps import AppDirectory, naming_platform
from domain.codes import MAX_CODE_LENGTH, is_well_formed_code
from domain.errors import InvalidRequest
from domain.platform import PhoneNumber, UserPhoneStore


@dataclass(frozen=True, slots=True)
class GetPhoneNumberRequest:
    user_id: int
    """The authenticated user."""
    app: str
    """The id of the app the user's token came from."""
    code: str
    """From the mini-program's ``getPhoneNumber`` button."""


class GetPhoneNumberUseCase:
    """Rules:
    - only on WeChat apps (else ``UnsupportedByPlatform``);
    - the code is well-formed (``domain.codes``), else ``InvalidRequest``;
    - it is sent once to WeChat's ``getuserphonenumber`` with the app's shared token (a refused
      token is refreshed and the call retried once, see ``AccessTokenProvider``);
    - WeChat's 40029 is ``InvalidPhoneCode``; -1 is ``WeChatBusy``, not retried;
    - the number is stored on the user in E.164 (``+<country code><pure number>``).
    """

    def __init__(
        self, *, apps: AppDirectory, phones: UserPhoneStore,
    ) -> None:
        self._apps = apps
        self._phones = phones

    async def execute(self, request: GetPhoneNumberRequest) -> PhoneNumber:
        services = self._apps.get(request.app)
        platform, access_tokens = services.wechat_features()
        code = request.code
        if not is_well_formed_code(code):
            raise InvalidRequest(
                f"`code` must be 1 to {MAX_CODE_LENGTH} printable ASCII characters."
            )
        with naming_platform(services.app):
            phone = await access_tokens.call_with_token(
                lambda token: platform.phone_number(token, code)
            )
        await self._phones.save_phone(request.user_id, phone.e164)
        return phone
