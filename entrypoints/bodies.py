"""The account bodies, built once for both driving adapters: the admin HTTP routes answer them
and ``python -m entrypoints.admin`` prints them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from domain.accounts import AccountEvent, EventPage, SessionInfo, cursor_text
from domain.use_cases.accounts import AccountView
from entrypoints import schemas


def iso(seconds: float) -> str:
    """Unix seconds as ISO 8601 in UTC, ``2026-12-06T18:00:00Z``."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z"
    )


def session_item(session: SessionInfo, current_id: str | None = None) -> schemas.SessionItem:
    return {
        "id": session.id, "current": session.id == current_id, "app": session.app,
        "platform": session.platform, "created_at": iso(session.created_at),
        "expires_at": iso(session.expires_at), "ip": session.ip,
        "user_agent": session.user_agent,
    }


def sessions_body(
    sessions: Sequence[SessionInfo], current_id: str | None = None
) -> schemas.SessionsResponse:
    return {"sessions": [session_item(s, current_id) for s in sessions]}


def admin_user(view: AccountView) -> schemas.AdminUser:
    account = view.account
    return {
        "id": account.id,
        "status": cast(Any, account.status),
        "created_at": iso(account.created_at),
        "last_login_at": None if account.last_login_at is None else iso(account.last_login_at),
        "phone": account.phone,
        "identities": [
            {"app": i.app, "platform": i.platform, "openid": i.openid, "unionid": i.unionid}
            for i in account.identities
        ],
        "sessions": [session_item(s) for s in view.sessions],
    }


def event_item(event: AccountEvent) -> schemas.EventItem:
    assert event.id is not None  # events read from the store have their id
    item: schemas.EventItem = {
        "id": event.id, "at": iso(event.at), "type": cast(Any, event.type),
        "user_id": event.user_id, "app": event.app, "result": event.result,
        "ip": event.origin.ip, "user_agent": event.origin.user_agent,
        "request_id": event.origin.request_id,
    }
    if event.reason is not None:
        item["reason"] = event.reason
    return item


def events_body(page: EventPage) -> schemas.EventsResponse:
    return {
        "events": [event_item(e) for e in page.events],
        "next": None if page.next is None else cursor_text(page.next),
    }
