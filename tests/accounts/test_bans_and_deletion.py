"""Bans, revocations and account deletion over HTTP, on real MariaDB and Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from dependency_injector import providers

from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.entities import Identity, User
from tests.accounts.conftest import Accounts

pytestmark = pytest.mark.integration


async def me_status(accounts: Accounts, token: str) -> int:
    async with accounts.http.get(
        f"{accounts.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    ) as response:
        return response.status


async def test_a_ban_kills_every_token_at_once_and_refuses_logins_until_unbanned(
    accounts: Accounts,
) -> None:
    phone = await accounts.login("a1")
    laptop = await accounts.login("a2")
    user_id = phone["user"]["id"]

    await accounts.call("POST", f"/api/v1/admin/users/{user_id}/ban", json={"reason": "spam"},
                        expect=204)

    assert await me_status(accounts, phone["token"]) == 401
    assert await me_status(accounts, laptop["token"]) == 401
    refused = await accounts.login("a3", expect=403)
    assert refused["error"]["code"] == "user_banned"
    shown = await accounts.call("GET", f"/api/v1/admin/users/{user_id}")
    assert shown["user"]["status"] == "banned"
    assert shown["user"]["sessions"] == []

    await accounts.call("POST", f"/api/v1/admin/users/{user_id}/unban", expect=204)
    again = await accounts.login("a4")
    assert again["user"] == {"id": user_id, "created": False}
    assert await me_status(accounts, again["token"]) == 200
    assert await me_status(accounts, phone["token"]) == 401  # old tokens stay dead


class GatedUsers(SqlAlchemyUserRepository):
    """Holds each login between reading the user and writing its session while ``gate`` is
    closed: the moment a ban or a deletion can land in."""

    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.gate = asyncio.Event()
        self.gate.set()
        self.reached = asyncio.Event()

    async def get_or_create(self, identity: Identity, *, now: float) -> tuple[User, bool]:
        found = await super().get_or_create(identity, now=now)
        self.reached.set()
        await self.gate.wait()
        return found


GATED = {"user_repository": lambda c: providers.Singleton(GatedUsers, engine=c.database)}


@pytest.mark.parametrize("accounts_overrides", [GATED])
async def test_a_ban_during_a_login_in_flight_leaves_no_working_token(
    accounts: Accounts,
) -> None:
    first = await accounts.login("b1")
    user_id = first["user"]["id"]
    gated: GatedUsers = await accounts.container.user_repository()
    gated.gate.clear()
    gated.reached.clear()

    in_flight = asyncio.create_task(accounts.login("b2", expect=403))
    await gated.reached.wait()  # the login has read the user, still active
    await accounts.call("POST", f"/api/v1/admin/users/{user_id}/ban", expect=204)
    gated.gate.set()

    refused = await in_flight
    assert refused["error"]["code"] == "user_banned"
    shown = await accounts.call("GET", f"/api/v1/admin/users/{user_id}")
    assert shown["user"]["sessions"] == []
    assert await me_status(accounts, first["token"]) == 401


@pytest.mark.parametrize("accounts_overrides", [GATED])
async def test_a_deletion_during_a_login_in_flight_gives_the_person_a_new_user(
    accounts: Accounts,
) -> None:
    first = await accounts.login("c1")
    user_id = first["user"]["id"]
    gated: GatedUsers = await accounts.container.user_repository()
    gated.gate.clear()
    gated.reached.clear()

    in_flight = asyncio.create_task(accounts.login("c2"))
    await gated.reached.wait()
    await accounts.call("DELETE", f"/api/v1/admin/users/{user_id}", expect=204)
    gated.gate.set()

    logged_in = await in_flight
    assert logged_in["user"]["created"] is True
    assert logged_in["user"]["id"] != user_id
    shown = await accounts.call("GET", f"/api/v1/admin/users/{user_id}")
    assert shown["user"]["status"] == "deleted"
    assert shown["user"]["sessions"] == []


async def test_revoking_a_users_sessions_kills_its_tokens_but_not_its_logins(
    accounts: Accounts,
) -> None:
    first = await accounts.login("d1")
    user_id = first["user"]["id"]

    await accounts.call("DELETE", f"/api/v1/admin/users/{user_id}/sessions", expect=204)

    assert await me_status(accounts, first["token"]) == 401
    again = await accounts.login("d2")
    assert await me_status(accounts, again["token"]) == 200


async def test_deleting_my_account_erases_it_and_a_later_login_makes_a_new_user(
    accounts: Accounts,
) -> None:
    first = await accounts.login("e1", unionid="union-alice")
    other_device = await accounts.login("e2")
    user_id = first["user"]["id"]

    await accounts.call("DELETE", "/api/v1/me", token=first["token"], expect=204)

    assert await me_status(accounts, first["token"]) == 401
    assert await me_status(accounts, other_device["token"]) == 401
    again = await accounts.call("DELETE", "/api/v1/me", token=first["token"], expect=401)
    assert again["error"]["code"] == "unauthorized"
    shown = await accounts.call("GET", f"/api/v1/admin/users/{user_id}")
    assert shown["user"]["status"] == "deleted"
    assert shown["user"]["identities"] == []
    assert shown["user"]["phone"] is None
    found = await accounts.call("GET", "/api/v1/admin/users?unionid=union-alice")
    assert found == {"users": []}

    reborn = await accounts.login("e3", unionid="union-alice")
    assert reborn["user"]["created"] is True
    assert reborn["user"]["id"] != user_id


async def test_deleting_an_account_twice_from_the_back_office_succeeds_twice(
    accounts: Accounts,
) -> None:
    user_id = (await accounts.login("f1"))["user"]["id"]

    await accounts.call("DELETE", f"/api/v1/admin/users/{user_id}", expect=204)
    await accounts.call("DELETE", f"/api/v1/admin/users/{user_id}", expect=204)

    events = await accounts.call("GET", f"/api/v1/admin/users/{user_id}/events")
    assert [e["type"] for e in events["events"]].count("deleted") == 1


async def test_a_deleted_user_cannot_be_banned_or_unbanned(accounts: Accounts) -> None:
    user_id = (await accounts.login("g1"))["user"]["id"]
    await accounts.call("DELETE", f"/api/v1/admin/users/{user_id}", expect=204)

    for action in ("ban", "unban"):
        refused = await accounts.call(
            "POST", f"/api/v1/admin/users/{user_id}/{action}", expect=404
        )
        assert refused["error"]["code"] == "unknown_user"
