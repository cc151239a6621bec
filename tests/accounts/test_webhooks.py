"""Webhooks (Standard Webhooks) received by a real HTTP receiver, which checks each signature
with the reference algorithm; the service on real MariaDB and Redis."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from dependency_injector import providers
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from adapters.sqlalchemy.engine import open_engine
from adapters.sqlalchemy.outbox import SqlAlchemyOutbox, WebhookMessages
from adapters.system import SystemClock
from adapters.webhooks import WebhookMetrics, WebhookSender, run_webhooks
from domain.accounts import AccountEvent
from tests.accounts.conftest import Accounts, Override
from tests.fixtures.webhook_receiver import SECRET, WebhookReceiver

pytestmark = pytest.mark.integration

QUICK = [0.05] * 7
"""Retry delays short enough for a test (the service's own grow from 5 s to 10 h)."""


def quick_webhooks(container: Any) -> providers.Provider[Any]:
    return providers.Resource(
        run_webhooks, outbox=providers.Singleton(SqlAlchemyOutbox, engine=container.database),
        url=container.config.webhook_url, secret=container.config.webhook_secret,
        clock=container.clock, registry=container.metrics_registry, delays=QUICK, poll=0.05,
    )


QUICK_WEBHOOKS: dict[str, Override] = {"webhooks": quick_webhooks}


@pytest.fixture
def accounts_env_extra(webhook_receiver: WebhookReceiver) -> dict[str, str]:
    return {"WEBHOOK_URL": webhook_receiver.url, "WEBHOOK_SECRET": SECRET}


async def outbox_size(accounts: Accounts) -> int:
    """The outbox's messages once the sender settled what it sent (the receiver may see a
    message a moment before the sender removes it)."""
    engine = await accounts.container.database()
    for _ in range(200):
        async with engine.connect() as conn:
            size = int((await conn.execute(text("SELECT COUNT(*) FROM webhook_outbox"))).scalar())
        if size == 0:
            break
        await asyncio.sleep(0.05)
    return size


@pytest.mark.parametrize("accounts_overrides", [QUICK_WEBHOOKS])
async def test_a_receiver_failing_three_times_gets_the_event_once_it_answers_signed(
    accounts: Accounts, webhook_receiver: WebhookReceiver
) -> None:
    user_id = (await accounts.login("h1"))["user"]["id"]
    await webhook_receiver.wait_for(1, "user.created")
    webhook_receiver.statuses = [500, 500, 500]

    await accounts.call("POST", f"/api/v1/admin/users/{user_id}/ban", expect=204)
    await webhook_receiver.wait_for(1, "user.banned")

    banned = [r for r in webhook_receiver.received if r.body["type"] == "user.banned"]
    assert [r.status for r in banned] == [500, 500, 500, 200]
    assert all(r.signature_valid for r in webhook_receiver.received)
    assert len({r.message_id for r in banned}) == 1
    body = banned[-1].body
    assert body["id"] == banned[-1].message_id
    assert body["data"] == {"user_id": user_id, "app": None, "platform": None}
    assert datetime.fromisoformat(body["created_at"]).tzinfo == UTC
    assert await outbox_size(accounts) == 0  # delivered: nothing left to send again
    async with accounts.http.get(f"{accounts.url}/metrics") as response:
        metrics = await response.text()
    assert 'weapp_webhook_messages_total{outcome="retried"} 3.0' in metrics
    assert 'weapp_webhook_messages_total{outcome="delivered"} 2.0' in metrics


@pytest.mark.parametrize("accounts_overrides", [QUICK_WEBHOOKS])
async def test_every_account_change_is_sent_as_its_webhook(
    accounts: Accounts, webhook_receiver: WebhookReceiver
) -> None:
    user_id = (await accounts.login("i1"))["user"]["id"]
    for path in ("ban", "unban"):
        await accounts.call("POST", f"/api/v1/admin/users/{user_id}/{path}", expect=204)
    await accounts.call("DELETE", f"/api/v1/admin/users/{user_id}", expect=204)

    await webhook_receiver.wait_for(4)

    assert sorted(r.body["type"] for r in webhook_receiver.delivered()) == [
        "user.banned", "user.created", "user.deleted", "user.unbanned"]
    assert {r.body["data"]["user_id"] for r in webhook_receiver.delivered()} == {user_id}


@pytest.mark.parametrize("accounts_overrides", [QUICK_WEBHOOKS])
async def test_a_receiver_that_hangs_does_not_hold_up_logins(
    accounts: Accounts, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.hold.clear()
    await accounts.login("j0", "openid-first")
    await webhook_receiver.holding.wait()  # the first user.created is stuck at the receiver

    logins = [await accounts.login(f"j{n}", f"openid-{n}") for n in range(1, 3)]

    assert all(login["user"]["created"] for login in logins)
    assert webhook_receiver.delivered() == []
    webhook_receiver.hold.set()
    await webhook_receiver.wait_for(3, "user.created")


async def test_two_senders_on_one_database_send_each_message_once_never_at_once(
    mariadb_url: str, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.delay = 0.02
    engines = asynccontextmanager(open_engine)
    async with engines(mariadb_url) as one, engines(mariadb_url) as two:
        async with one.connect() as conn:  # autocommit: each message on its own
            for user_id in range(1, 41):
                await WebhookMessages().add(conn, AccountEvent(
                    type="banned", at=SystemClock().now(), user_id=user_id))
        async with aiohttp.ClientSession() as http:
            senders = [
                WebhookSender(SqlAlchemyOutbox(engine), http=http, url=webhook_receiver.url,
                              secret=SECRET, clock=SystemClock(),
                              metrics=WebhookMetrics(CollectorRegistry()))
                for engine in (one, two, one, two)
            ]

            async def drain(sender: WebhookSender) -> None:
                while await sender.send_due():
                    pass

            await asyncio.gather(*(drain(sender) for sender in senders))

    ids = [r.message_id for r in webhook_receiver.received]
    assert len(ids) == 40
    assert len(set(ids)) == 40  # each once: none sent twice, none lost
    assert set(webhook_receiver.most_at_once.values()) == {1}
    assert all(r.signature_valid for r in webhook_receiver.received)


async def test_events_left_in_the_outbox_by_a_killed_service_are_sent_after_a_restart(
    service_runner: Callable[[dict[str, str]], Any], redis_url: str, mariadb_url: str,
    wechat_simulator: Any, webhook_receiver: WebhookReceiver,
) -> None:
    env = {
        "WECHAT_APPID": "wx-test-app", "WECHAT_SECRET": "test-secret",
        "WECHAT_API_BASE": wechat_simulator.base_url, "REDIS_URL": redis_url,
        "DATABASE_URL": mariadb_url, "LOGIN_RATE_PER_MINUTE": "0",
        "WEBHOOK_URL": webhook_receiver.url, "WEBHOOK_SECRET": SECRET,
    }
    webhook_receiver.statuses = [503] * 1000  # the receiver is failing
    async with service_runner(env) as first, aiohttp.ClientSession() as http:
        async with http.post(f"{first.url}/api/v1/login", json={"code": "alice:1"}) as answer:
            assert answer.status == 200
            user_id = (await answer.json())["user"]["id"]
        os.killpg(first.process.pid, signal.SIGKILL)
        await first.process.wait()
    webhook_receiver.statuses = []  # the receiver is back

    async with service_runner(env):
        await webhook_receiver.wait_for(1, "user.created")

    created = webhook_receiver.delivered("user.created")
    assert created[0].body["data"]["user_id"] == user_id
    assert created[0].signature_valid





async def test_senders_claiming_while_logins_add_messages_never_deadlock(
    mariadb_url: str,
) -> None:
    """Every worker of every instance runs a sender on the one outbox while logins and account
    changes add messages to it (each in its own transaction): neither side ever meets a
    deadlock (a login would fail with 503), and each message is sent once."""
    engines = asynccontextmanager(open_engine)
    sent: list[int] = []

    class Counting(SqlAlchemyOutbox):
        async def delivered(self, message: Any) -> None:
            sent.append(message.id)
            await super().delivered(message)

    async with engines(mariadb_url) as one, engines(mariadb_url) as two, \
            engines(mariadb_url) as three:
        adding = True

        async def add(engine: Any, first: int) -> None:
            for user_id in range(first, first + 150):
                async with engine.begin() as conn:  # a login's transaction
                    await WebhookMessages().add(conn, AccountEvent(
                        type="banned", at=SystemClock().now(), user_id=user_id))

        async def drain(sender: WebhookSender) -> None:
            while await sender.send_due() or adding:
                await asyncio.sleep(0.005)

        senders = [
            WebhookSender(Counting(engine), http=None, url=None, secret=None,
                          clock=SystemClock(), metrics=WebhookMetrics(CollectorRegistry()))
            for engine in (one, two, three) * 4
        ]
        draining = [asyncio.create_task(drain(sender)) for sender in senders]
        try:
            await asyncio.gather(*(add(engine, n * 1000)
                                   for n, engine in enumerate((one, two, three) * 3)))
        finally:
            adding = False
        await asyncio.gather(*draining)
        async with one.connect() as conn:
            left = (await conn.execute(text("SELECT COUNT(*) FROM webhook_outbox"))).scalar()
    assert left == 0
    assert len(sent) == len(set(sent)) == 9 * 150
