"""The back office over HTTP (``ADMIN_TOKEN``), on real MariaDB and Redis."""

from __future__ import annotations

import pytest
from dependency_injector import providers
from sqlalchemy import text

from adapters.apps import PlatformClients
from tests.accounts.conftest import ADMIN_TOKEN, Accounts, accounts_env
from tests.serving import make_container, serve

pytestmark = pytest.mark.integration

USER_ROUTES = [
    ("GET", "/api/v1/admin/users/{id}"), ("POST", "/api/v1/admin/users/{id}/ban"),
    ("POST", "/api/v1/admin/users/{id}/unban"), ("DELETE", "/api/v1/admin/users/{id}/sessions"),
    ("DELETE", "/api/v1/admin/users/{id}"), ("GET", "/api/v1/admin/users/{id}/events"),
]


async def test_a_user_is_shown_with_its_identities_phone_and_live_sessions(
    accounts: Accounts,
) -> None:
    login = await accounts.login("l1", "openid-alice", unionid="union-alice")
    user_id = login["user"]["id"]
    engine = await accounts.container.database()
    async with engine.connect() as conn:
        await conn.execute(text("UPDATE users SET phone = '+8613800138000'"))

    shown = (await accounts.call("GET", f"/api/v1/admin/users/{user_id}"))["user"]

    assert shown["id"] == user_id
    assert shown["status"] == "active"
    assert shown["phone"] == "+8613800138000"
    assert [(i["app"], i["platform"], i["openid"], i["unionid"])
            for i in shown["identities"]] == [("default", "wechat", "openid-alice", "union-alice")]
    assert len(shown["sessions"]) == 1
    assert shown["sessions"][0]["current"] is False
    assert shown["created_at"].endswith("Z")


async def test_users_are_found_by_openid_unionid_or_phone(accounts: Accounts) -> None:
    alice = (await accounts.login("m1", "openid-alice", unionid="union-a"))["user"]["id"]
    await accounts.login("m2", "openid-bob", unionid="union-b")
    engine = await accounts.container.database()
    async with engine.connect() as conn:
        await conn.execute(text(f"UPDATE users SET phone = '+861' WHERE id = {alice}"))

    for query in ("app=default&openid=openid-alice", "unionid=union-a", "phone=%2B861"):
        found = await accounts.call("GET", f"/api/v1/admin/users?{query}")
        assert [u["id"] for u in found["users"]] == [alice], query
    none = await accounts.call("GET", "/api/v1/admin/users?unionid=nobody")
    assert none == {"users": []}
    other_app = await accounts.call("GET", "/api/v1/admin/users?app=nowhere&openid=openid-alice")
    assert other_app == {"users": []}


@pytest.mark.parametrize("query", ["", "?openid=x", "?app=default", "?unionid=u&phone=p"])
async def test_a_lookup_needs_exactly_one_way_to_find(accounts: Accounts, query: str) -> None:
    refused = await accounts.call("GET", f"/api/v1/admin/users{query}", expect=400)
    assert refused["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(("method", "path"), USER_ROUTES)
async def test_an_unknown_user_is_404_unknown_user_on_every_route(
    accounts: Accounts, method: str, path: str
) -> None:
    for user_id in ("424242", "0", str(2**63)):
        refused = await accounts.call(method, path.format(id=user_id), expect=404)
        assert refused["error"]["code"] == "unknown_user"


@pytest.mark.parametrize(("method", "path"), [*USER_ROUTES, ("GET", "/api/v1/admin/users"),
                                              ("GET", "/api/v1/admin/events")])
async def test_a_wrong_admin_token_is_401(accounts: Accounts, method: str, path: str) -> None:
    user_id = (await accounts.login("n1"))["user"]["id"]
    for headers in ({}, {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}x"}):
        async with accounts.http.request(
            method, f"{accounts.url}{path.format(id=user_id)}", headers=headers
        ) as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "unauthorized"
    await accounts.call("GET", f"/api/v1/admin/users/{user_id}")  # untouched


async def test_without_an_admin_token_the_back_office_is_not_found(
    accounts: Accounts, redis_url: str, mariadb_url: str
) -> None:
    env = accounts_env(redis_url, mariadb_url)
    del env["ADMIN_TOKEN"]
    container = make_container(env)
    clients = {"default": PlatformClients(accounts.wechat)}
    container.platforms.override(providers.Object(clients))
    async with serve(container) as url:
        for method, path in [*USER_ROUTES, ("GET", "/api/v1/admin/events")]:
            async with accounts.http.request(
                method, f"{url}{path.format(id=1)}",
                headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            ) as response:
                assert response.status == 404
                assert (await response.json())["error"]["code"] == "not_found"


async def test_a_ban_reason_over_200_characters_is_refused(accounts: Accounts) -> None:
    user_id = (await accounts.login("o1"))["user"]["id"]
    refused = await accounts.call("POST", f"/api/v1/admin/users/{user_id}/ban",
                                  json={"reason": "x" * 201}, expect=400)
    assert refused["error"]["code"] == "invalid_request"
    await accounts.call("POST", f"/api/v1/admin/users/{user_id}/ban", json={"reason": None},
                        expect=204)
