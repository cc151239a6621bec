"""The audit trail: what happened to an account, over HTTP, on real MariaDB and Redis."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import text

from adapters.audit import PURGE_BATCH, purge_old_events
from domain.accounts import AccountEvent
from domain.errors import InvalidCode
from tests.accounts.conftest import Accounts

pytestmark = pytest.mark.integration


async def test_every_account_event_is_recorded_with_its_network_and_request(
    accounts: Accounts,
) -> None:
    accounts.wechat.failures["bad-code"] = InvalidCode()
    async with accounts.http.post(
        f"{accounts.url}/api/v1/login", json={"code": "bad-code"},
        headers={"X-Request-ID": "req-failed"},
    ) as response:
        assert response.status == 401
    first = await accounts.login("p1", headers={"User-Agent": "phone", "X-Request-ID": "req-1"})
    second = await accounts.login("p2")
    user_id = first["user"]["id"]
    sessions = await accounts.call("GET", "/api/v1/me/sessions", token=second["token"])
    first_id = next(s["id"] for s in sessions["sessions"] if not s["current"])
    await accounts.call("DELETE", f"/api/v1/me/sessions/{first_id}", token=second["token"],
                        expect=204)
    await accounts.call("POST", "/api/v1/logout", token=second["token"], expect=204)
    await accounts.call("POST", f"/api/v1/admin/users/{user_id}/ban", json={"reason": "spam"},
                        expect=204)
    await accounts.login("p3", expect=403)
    await accounts.call("POST", f"/api/v1/admin/users/{user_id}/unban", expect=204)
    await accounts.call("DELETE", f"/api/v1/admin/users/{user_id}", expect=204)
    await accounts.flush_audit()

    page = await accounts.call("GET", f"/api/v1/admin/users/{user_id}/events")

    events = list(reversed(page["events"]))
    assert [(e["type"], e["result"]) for e in events] == [
        ("login", "ok"), ("login", "ok"), ("session_revoked", "ok"), ("logout", "ok"),
        ("banned", "ok"), ("login_failed", "user_banned"), ("unbanned", "ok"),
        ("deleted", "ok"),
    ]
    assert page["next"] is None
    assert events[0]["ip"] == "127.0.0.0/24"
    assert events[0]["user_agent"] == "phone"
    assert events[0]["request_id"] == "req-1"
    assert events[0]["app"] == "default"
    assert events[4]["reason"] == "spam"
    everyone = await accounts.call("GET", "/api/v1/admin/events?type=login_failed")
    assert [(e["user_id"], e["result"], e["request_id"]) for e in everyone["events"]] == [
        (user_id, "user_banned", everyone["events"][0]["request_id"]),
        (None, "invalid_code", "req-failed"),
    ]


async def test_events_are_paged_newest_first_by_cursor(accounts: Accounts) -> None:
    user_id = (await accounts.login("q0"))["user"]["id"]
    await accounts.flush_audit()
    for _ in range(4):
        await accounts.call("DELETE", f"/api/v1/admin/users/{user_id}/sessions", expect=204)

    seen: list[tuple[int, str]] = []
    cursor: Any = None
    pages = 0
    while True:
        query = "limit=2" + (f"&before={cursor}" if cursor else "")
        page = await accounts.call("GET", f"/api/v1/admin/users/{user_id}/events?{query}")
        seen += [(e["id"], e["type"]) for e in page["events"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert [kind for _, kind in seen] == ["session_revoked"] * 4 + ["login"]  # newest first
    assert len({id_ for id_, _ in seen}) == 5
    assert pages == 3


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x", "before=-1", "before=1",
                                   "before=1-x", "type=nope"])
async def test_a_bad_page_request_is_400(accounts: Accounts, query: str) -> None:
    refused = await accounts.call("GET", f"/api/v1/admin/events?{query}", expect=400)
    assert refused["error"]["code"] == "invalid_request"


async def test_old_events_are_removed_in_bounded_batches(accounts: Accounts) -> None:
    store = await accounts.container.account_store()
    now = time.time()
    old = [AccountEvent(type="login", at=now - 100 * 86_400, user_id=1)]
    old *= PURGE_BATCH + 5
    await store.record([*old, AccountEvent(type="login", at=now, user_id=1)])

    removed = await purge_old_events(store, before=now - 90 * 86_400)

    assert removed == PURGE_BATCH + 5
    engine = await accounts.container.database()
    async with engine.connect() as conn:
        left = (await conn.execute(text("SELECT COUNT(*) FROM account_events"))).scalar()
    assert left == 1
