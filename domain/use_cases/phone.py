"""Fetch the user's phone number from WeChat and keep it on the user."""

from __future__ import annotations

from dataclasses import dataclass

from domain.access_token import AccessTokenProvider
from domain.codes import MAX_CODE_LENGTH, is_well_formed_code
from domain.errors import InvalidRequest
from domain.platform import PhoneNumber, UserPhoneStore, WeChatPlatform


@dataclass(frozen=True, slots=True)
class GetPhoneNumberRequest:
    user_id: int
    """The authenticated user."""
    code: str
    """From the mini-program's ``getPhoneNumber`` button."""


class GetPhoneNumberUseCase:
    """Rules:
    - the code is well-formed (``domain.codes``), else ``InvalidRequest``;
    - it is sent once to WeChat's ``getuserphonenumber`` with the app's shared token (a refused
      token is refreshed and the call retried once, see ``AccessTokenProvider``);
    - WeChat's 40029 is ``InvalidPhoneCode``; -1 is ``WeChatBusy``, not retried;
    - the number is stored on the user in E.164 (``+<country code><pure number>``).
    """

    def __init__(
        self, *, platform: WeChatPlatform, access_tokens: AccessTokenProvider,
        phones: UserPhoneStore,
    ) -> None:
        self._platform = platform
        self._access_tokens = access_tokens
        self._phones = phones

    async def execute(self, request: GetPhoneNumberRequest) -> PhoneNumber:
        code = request.code
        if not is_well_formed_code(code):
            raise InvalidRequest(
                f"`code` must be 1 to {MAX_CODE_LENGTH} printable ASCII characters."
            )
        phone = await self._access_tokens.call_with_token(
            lambda token: self._platform.phone_number(token, code)
        )
        await self._phones.save_phone(request.user_id, phone.e164)
        return phone
