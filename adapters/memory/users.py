"""Users in process memory."""

from __future__ import annotations

from dataclasses import replace

from domain.entities import Identity, User
from domain.platform import UserPhoneStore
from domain.ports import UserRepository


class InMemoryUserRepository(UserRepository, UserPhoneStore):
    def __init__(self) -> None:
        self._identities: dict[tuple[str, str, str], tuple[int, Identity]] = {}
        self._by_id: dict[int, User] = {}
        self.last_login_at: dict[int, float] = {}
        self.phones: dict[int, str] = {}

    async def get_or_create(self, identity: Identity, *, now: float) -> tuple[User, bool]:
        key = (identity.platform, identity.appid, identity.openid)
        found = self._identities.get(key)
        created = False
        if found is not None:
            user_id, stored = found
            if stored.unionid is None and identity.unionid is not None:
                self._identities[key] = (user_id, replace(stored, unionid=identity.unionid))
        else:
            user_id = self._user_of_unionid(identity) or 0
            if not user_id:
                user_id, created = len(self._by_id) + 1, True
                self._by_id[user_id] = User(id=user_id, created_at=now)
            self._identities[key] = (user_id, identity)
        self.last_login_at[user_id] = now
        return self._by_id[user_id], created

    def _user_of_unionid(self, identity: Identity) -> int | None:
        if identity.unionid is None:
            return None
        return next(
            (user_id for user_id, other in self._identities.values()
             if other.platform == identity.platform and other.unionid == identity.unionid),
            None,
        )

    async def get(self, user_id: int) -> User | None:
        return self._by_id.get(user_id)

    async def identities(self, user_id: int) -> list[Identity]:
        return [identity for owner, identity in self._identities.values() if owner == user_id]

    async def save_phone(self, user_id: int, phone: str) -> None:
        self.phones[user_id] = phone

    async def ping(self) -> None:
        return None
