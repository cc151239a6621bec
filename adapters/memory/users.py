"""Users in process memory."""

from __future__ import annotations

from dataclasses import replace

from domain.entities import User
from domain.platform import UserPhoneStore
from domain.ports import UserRepository


class InMemoryUserRepository(UserRepository, UserPhoneStore):
    def __init__(self) -> None:
        self._by_openid: dict[str, User] = {}
        self._by_id: dict[int, User] = {}
        self.last_login_at: dict[int, float] = {}
        self.phones: dict[int, str] = {}

    async def get_or_create(
        self, openid: str, *, unionid: str | None, now: float
    ) -> tuple[User, bool]:
        user = self._by_openid.get(openid)
        created = user is None
        if user is None:
            user = User(id=len(self._by_id) + 1, openid=openid, unionid=unionid, created_at=now)
        elif user.unionid is None and unionid is not None:
            user = replace(user, unionid=unionid)
        self._by_openid[openid] = self._by_id[user.id] = user
        self.last_login_at[user.id] = now
        return user, created

    async def get(self, user_id: int) -> User | None:
        return self._by_id.get(user_id)

    async def save_phone(self, user_id: int, phone: str) -> None:
        self.phones[user_id] = phone

    async def ping(self) -> None:
        return None
