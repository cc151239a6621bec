"""Webhook delivery (Standard Webhooks): a loop in each worker sends the outbox's due messages.

Each message is POSTed to ``WEBHOOK_URL`` as JSON ``{"id", "type", "created_at", "data":
{"user_id", "app", "platform"}}`` with the headers ``webhook-id`` (``msg_<n>``),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (``v1,`` + base64 of
HMAC-SHA256 over ``"<id>.<timestamp>.<body>"`` keyed with the base64-decoded part of
``WEBHOOK_SECRET`` after ``whsec_``). A 2xx answer within ``SEND_TIMEOUT`` delivers it; anything
else (an error status, a refused connection, a time-out) tries it again after the next delay
of ``RETRY_DELAYS`` (about 27 hours in all), after which it is dropped and logged. Messages are
at least once: a sender killed between the send and the outbox's update sends it again later.

The loop has its own HTTP client and touches no request's path: a receiver that is down, slow
or failing costs the logins nothing. Without ``WEBHOOK_URL`` the loop empties the outbox
(``user.created`` messages are written by a trigger whatever the settings).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import aiohttp
import orjson
from prometheus_client import CollectorRegistry, Counter

from adapters.background import finish, pause
from adapters.sqlalchemy.outbox import Message, SqlAlchemyOutbox
from domain.ports import Clock

logger = logging.getLogger("weapp_login.webhooks")

SEND_TIMEOUT = 5.0
RETRY_DELAYS = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
"""Seconds before each new attempt (Standard Webhooks' schedule): 27.6 hours in all."""
LEASE = SEND_TIMEOUT + 25.0
"""How long a claimed message is this sender's: past it (a sender that died), another takes it."""
POLL = 1.0
"""Seconds between looks at an outbox that had nothing due."""
BATCH = 20
"""Messages claimed, and sent concurrently, at a time."""


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header's value for one message."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, signed, hashlib.sha256)).decode()


def body_of(message: Message) -> bytes:
    created_at = datetime.fromtimestamp(message.created_at, UTC).isoformat(timespec="seconds")
    return orjson.dumps({
        "id": message.message_id,
        "type": message.type,
        "created_at": created_at.replace("+00:00", "Z"),
        "data": {"user_id": message.user_id, "app": message.app, "platform": message.platform},
    })


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "weapp_webhook_messages",
            "Webhook messages by outcome: delivered, retried (an attempt failed) or dropped.",
            ["outcome"], registry=registry,
        )


class WebhookSender:
    """Sends the due messages of the outbox, one batch at a time."""

    def __init__(
        self, outbox: SqlAlchemyOutbox, *, http: aiohttp.ClientSession | None, url: str | None,
        secret: str | None, clock: Clock, metrics: WebhookMetrics,
        delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self._outbox = outbox
        self._http = http
        self._url = url
        self._secret = secret
        self._clock = clock
        self._metrics = metrics
        self._delays = tuple(delays)

    async def send_due(self) -> int:
        """Claim and send the due messages; return how many were claimed."""
        messages = await self._outbox.claim(now=self._clock.now(), lease=LEASE, limit=BATCH)
        await asyncio.gather(*(self._settle(message) for message in messages))
        return len(messages)

    async def _settle(self, message: Message) -> None:
        if await self._send(message):
            await self._outbox.delivered(message)
            self._metrics.messages.labels("delivered").inc()
        elif message.attempts < len(self._delays):
            at = self._clock.now() + self._delays[message.attempts]
            await self._outbox.retry(message, at=at)
            self._metrics.messages.labels("retried").inc()
        else:
            await self._outbox.dropped(message)
            self._metrics.messages.labels("dropped").inc()
            logger.warning("webhook message dropped", extra={
                "event": "webhook_dropped", "message_id": message.message_id})

    async def _send(self, message: Message) -> bool:
        if self._http is None or self._url is None or self._secret is None:
            return True  # no receiver configured: nothing to deliver to
        body = body_of(message)
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(self._secret, message.message_id, timestamp, body),
        }
        try:
            async with self._http.post(self._url, data=body, headers=headers) as answer:
                return 200 <= answer.status < 300
        except (aiohttp.ClientError, TimeoutError):
            return False


async def run_webhooks(
    outbox: SqlAlchemyOutbox, *, url: str | None, secret: str | None, clock: Clock,
    registry: CollectorRegistry, delays: Sequence[float] = RETRY_DELAYS, poll: float = POLL,
) -> AsyncIterator[WebhookSender]:
    """A resource: the worker's sender and its loop, stopped at the end."""
    timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT)
    # A connection per message (no keep-alive): messages are few, and no socket outlives one.
    connector = aiohttp.TCPConnector(force_close=True, limit=BATCH)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        sender = WebhookSender(
            outbox, http=http if url else None, url=url, secret=secret, clock=clock,
            metrics=WebhookMetrics(registry), delays=delays,
        )

        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                try:
                    claimed = await sender.send_due()
                except Exception:  # a database that does not answer: try again later
                    logger.warning("webhook outbox unreachable", exc_info=True,
                                   extra={"event": "webhook_outbox_down"})
                    claimed = 0
                if claimed < BATCH:
                    await pause(stop, poll)

        task = asyncio.create_task(loop())
        try:
            yield sender
        finally:
            await finish(task, stop, SEND_TIMEOUT + 1)
