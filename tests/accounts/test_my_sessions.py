"""The user's own sessions over HTTP, on real MariaDB and Redis."""

from __future__ import annotations

import pytest

from tests.accounts.conftest import Accounts

pytestmark = pytest.mark.integration



async def test_my_sessions_list_each_login_newest_first_with_its_network_and_user_agent(
    accounts: Accounts,
) -> None:
    phone = await accounts.login("s1", headers={"User-Agent": "phone " + "x" * 300})
    laptop = await accounts.login("s2")

    listed = await accounts.call("GET", "/api/v1/me/sessions", token=laptop["token"])

    sessions = listed["sessions"]
    assert [s["current"] for s in sessions] == [True, False]
    newest, oldest = sessions
    assert newest["ip"] == "127.0.0.0/24"
    assert (newest["app"], newest["platform"]) == ("default", "wechat")
    assert oldest["user_agent"] == ("phone " + "x" * 300)[:256]
    assert newest["user_agent"].startswith("Python")  # aiohttp's own
    assert phone["token"] not in str(listed)
    assert len({newest["id"], oldest["id"]}) == 2


async def test_ending_one_of_my_sessions_kills_only_its_token(accounts: Accounts) -> None:
    phone = await accounts.login("t1")
    laptop = await accounts.login("t2")
    sessions = (await accounts.call("GET", "/api/v1/me/sessions", token=laptop["token"]))
    phone_id = next(s["id"] for s in sessions["sessions"] if not s["current"])

    await accounts.call("DELETE", f"/api/v1/me/sessions/{phone_id}", token=laptop["token"],
                        expect=204)

    await accounts.call("GET", "/api/v1/me", token=phone["token"], expect=401)
    await accounts.call("GET", "/api/v1/me", token=laptop["token"])
    again = await accounts.call("DELETE", f"/api/v1/me/sessions/{phone_id}",
                                token=laptop["token"], expect=404)
    assert again["error"]["code"] == "not_found"


async def test_another_users_session_id_is_not_found_and_stays_alive(accounts: Accounts) -> None:
    alice = await accounts.login("u1", "openid-alice")
    bob = await accounts.login("u2", "openid-bob")
    bobs = await accounts.call("GET", "/api/v1/me/sessions", token=bob["token"])
    bob_session = bobs["sessions"][0]["id"]

    refused = await accounts.call("DELETE", f"/api/v1/me/sessions/{bob_session}",
                                  token=alice["token"], expect=404)

    assert refused["error"]["code"] == "not_found"
    await accounts.call("GET", "/api/v1/me", token=bob["token"])


@pytest.mark.parametrize("session_id", ["nope", "A" * 22, "%00", "a" * 300])
async def test_a_malformed_session_id_is_not_found(accounts: Accounts, session_id: str) -> None:
    me = await accounts.login("v1")
    refused = await accounts.call("DELETE", f"/api/v1/me/sessions/{session_id}",
                                  token=me["token"], expect=404)
    assert refused["error"]["code"] == "not_found"


async def test_a_session_id_never_works_as_a_token(accounts: Accounts) -> None:
    me = await accounts.login("w1")
    session_id = (await accounts.call("GET", "/api/v1/me/sessions", token=me["token"]))[
        "sessions"][0]["id"]
    await accounts.call("GET", "/api/v1/me", token=session_id, expect=401)


async def test_my_sessions_need_a_token(accounts: Accounts) -> None:
    async with accounts.http.get(f"{accounts.url}/api/v1/me/sessions") as response:
        assert response.status == 401
