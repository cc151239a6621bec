"""The webhook outbox: messages written in the transaction of the change they report, sent later
by the delivery loop (``adapters.webhooks``)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import orjson
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.tables import webhook_outbox
from adapters.sqlalchemy.users import to_datetime
from domain.accounts import WEBHOOK_TYPES, AccountEvent


def webhook_body(event_id: str, type_: str, at: float, event: AccountEvent) -> bytes:
    """The body POSTed to ``WEBHOOK_URL`` (README, "Webhooks")."""
    created_at = datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
    return orjson.dumps({
        "id": event_id,
        "type": type_,
        "created_at": created_at.replace("+00:00", "Z"),
        "data": {"user_id": event.user_id, "app": event.app, "platform": event.platform},
    })


class WebhookMessages:
    """Adds the webhook message of an account event to the outbox, on the caller's connection
    (inside its transaction). Events without a webhook type are not sent."""

    async def add(self, conn: AsyncConnection, event: AccountEvent, type_: str | None = None
                  ) -> None:
        type_ = type_ or WEBHOOK_TYPES.get(event.type)
        if type_ is None:
            return
        event_id = f"msg_{secrets.token_hex(12)}"
        at = to_datetime(event.at)
        await conn.execute(insert(webhook_outbox), [{
            "event_id": event_id, "body": webhook_body(event_id, type_, event.at, event).decode(),
            "created_at": at, "attempts": 0, "next_attempt_at": at,
        }])
