"""Decrypt a user's ``encryptedData`` with the newest ``session_key`` kept for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.apps import DECRYPTING_PLATFORMS, AppDirectory
from domain.errors import InvalidRequest, UnsupportedByPlatform
from domain.open_data import Cipher, check_raw_data_signature, decrypt_open_data
from domain.platform_errors import DecryptFailed
from domain.ports import SessionStore


@dataclass(frozen=True, slots=True)
class DecryptRequest:
    user_id: int
    """The authenticated user."""
    app: str
    """The id of the app the user's token came from."""
    encrypted_data: str
    iv: str
    raw_data: str | None = field(default=None, repr=False)
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class Decrypted:
    data: dict[str, Any]


class DecryptUseCase:
    """Rules:
    - only on WeChat, QQ and Douyin apps (their ``encryptedData`` is WeChat's scheme), else
      ``UnsupportedByPlatform``;
    - ``raw_data`` and ``signature`` come both or neither, else ``InvalidRequest``;
    - base64 whose ``+`` became spaces is repaired; not base64, an IV of other than 16 bytes or a
      ciphertext of partial blocks is ``InvalidRequest``;
    - the key is the newest ``session_key`` of the user's identity on the token's app; when
      none is kept (expired with the user's sessions) it is ``DecryptFailed``, like a stale
      key: the client must log in again;
    - AES-128-CBC with strict PKCS#7; bad padding or a plaintext that is not a JSON object is
      ``DecryptFailed``; a ``watermark.appid`` other than the app's is ``WatermarkMismatch``;
    - when given, ``signature`` must equal ``sha1(raw_data + session_key)`` (constant-time
      compare), else ``SignatureMismatch``;
    - the decrypted object is returned whole.
    """

    def __init__(self, *, sessions: SessionStore, cipher: Cipher, apps: AppDirectory) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._apps = apps

    async def execute(self, request: DecryptRequest) -> Decrypted:
        app = self._apps.get(request.app).app
        if app.platform not in DECRYPTING_PLATFORMS:
            raise UnsupportedByPlatform()
        if (request.raw_data is None) != (request.signature is None):
            raise InvalidRequest("`raw_data` and `signature` go together: send both or neither.")
        session_key = await self._sessions.session_key(request.user_id, app.id)
        if session_key is None:
            raise DecryptFailed("No session key is kept for this user; log in again.")
        data = decrypt_open_data(
            self._cipher,
            session_key=session_key,
            encrypted_data=request.encrypted_data,
            iv=request.iv,
            appid=app.appid,
        )
        if request.raw_data is not None and request.signature is not None:
            check_raw_data_signature(request.raw_data, request.signature, session_key)
        return Decrypted(data=data)
