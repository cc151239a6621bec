"""The account store on every database: the audit trail's batch write, pages, the outbox's
claims, and the user.created trigger."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.sqlalchemy.accounts import SqlAlchemyAccountStore
from adapters.sqlalchemy.outbox import SqlAlchemyOutbox
from adapters.sqlalchemy.tables import user_identities
from adapters.sqlalchemy.tables import users as users_table
from adapters.sqlalchemy.users import SqlAlchemyUserRepository
from domain.accounts import AccountEvent, Origin
from domain.entities import Identity

NEW = Identity("wechat", "wx-app", "o-new")

async def test_events_written_in_a_batch_read_back_newest_first_in_pages(
    engine: AsyncEngine,
) -> None:
    store = SqlAlchemyAccountStore(engine)
    now = time.time()
    origin = Origin("203.0.113.0/24", "ua ü", "req")
    await store.record([
        AccountEvent(type="login", at=now + n, user_id=7, origin=origin) for n in range(5)
    ])

    first = await store.events(user_id=7, type=None, limit=3, before=None)
    second = await store.events(user_id=7, type="login", limit=3, before=first.next)

    ats = [e.at for e in first.events + second.events]
    assert ats == pytest.approx([now + n for n in (4, 3, 2, 1, 0)], abs=1e-5)
    assert second.next is None
    assert first.events[0].origin == origin


async def test_a_new_user_leaves_its_user_created_message_and_a_returning_one_none(
    engine: AsyncEngine,
) -> None:
    users = SqlAlchemyUserRepository(engine)
    outbox = SqlAlchemyOutbox(engine)
    user, _ = await users.get_or_create(NEW, now=time.time())
    await users.get_or_create(NEW, now=time.time())
    await users.get_or_create(replace(NEW, appid="wx-other", unionid="u-1"), now=time.time())
    await users.get_or_create(replace(NEW, appid="wx-third", unionid="u-1"), now=time.time())

    claimed = await outbox.claim(now=time.time() + 1, lease=30, limit=10)

    assert [(m.type, m.user_id, m.platform) for m in claimed] == [
        ("user.created", user.id, "wechat"), ("user.created", user.id + 1, "wechat")]
    assert await outbox.claim(now=time.time() + 1, lease=30, limit=10) == []  # leased


async def test_a_deleted_users_unionid_makes_a_new_user_at_its_next_login(
    engine: AsyncEngine,
) -> None:
    users = SqlAlchemyUserRepository(engine)
    store = SqlAlchemyAccountStore(engine)
    shop = replace(NEW, unionid="u-deleted")
    staff = replace(shop, appid="wx-staff", openid="o-staff")
    deleted, _ = await users.get_or_create(shop, now=time.time())
    await store.erase(deleted.id, AccountEvent(type="deleted", at=time.time(), user_id=deleted.id))

    again, created = await users.get_or_create(shop, now=time.time())
    joined, joined_created = await users.get_or_create(staff, now=time.time())

    assert (created, again.status) == (True, "active")
    assert again.id != deleted.id
    assert (joined.id, joined_created) == (again.id, False)


async def test_a_unionid_claimed_by_a_user_deleted_before_0005s_code_makes_a_new_user(
    engine: AsyncEngine,
) -> None:
    # During a rolling update the migration has run and the previous version still serves: its
    # erasure deletes the identities and marks the user deleted, but knows nothing of the claim.
    users = SqlAlchemyUserRepository(engine)
    shop = replace(NEW, unionid="u-left-claimed")
    staff = replace(shop, appid="wx-staff", openid="o-staff")
    deleted, _ = await users.get_or_create(shop, now=time.time())
    async with engine.connect() as conn:
        await conn.execute(delete(user_identities).where(user_identities.c.user_id == deleted.id))
        await conn.execute(
            update(users_table).where(users_table.c.id == deleted.id).values(status="deleted")
        )

    again, created = await users.get_or_create(shop, now=time.time())
    joined, joined_created = await users.get_or_create(staff, now=time.time())

    assert (created, again.status) == (True, "active")
    assert again.id != deleted.id
    assert (joined.id, joined_created) == (again.id, False)
    assert await users.get(deleted.id) == replace(deleted, status="deleted")


async def test_an_identity_left_on_a_deleted_user_by_a_racing_login_never_logs_it_in(
    engine: AsyncEngine,
) -> None:
    # A first login on a new app that found the user by its unionid just before the account was
    # deleted inserts its identity just after (the identity's foreign key waited for the
    # deletion's lock): the identity points at the deleted user.
    users = SqlAlchemyUserRepository(engine)
    store = SqlAlchemyAccountStore(engine)
    shop = replace(NEW, unionid="u-raced")
    staff = replace(shop, appid="wx-staff", openid="o-staff")
    office = replace(shop, appid="wx-office", openid="o-office")
    deleted, _ = await users.get_or_create(shop, now=time.time())
    await store.erase(deleted.id, AccountEvent(type="deleted", at=time.time(), user_id=deleted.id))
    async with engine.connect() as conn:
        await conn.execute(insert(user_identities).values(
            platform=staff.platform, appid=staff.appid, openid=staff.openid,
            unionid=staff.unionid, user_id=deleted.id,
            created_at=datetime.now(UTC).replace(tzinfo=None),
            last_login_at=datetime.now(UTC).replace(tzinfo=None),
        ))

    # Another app's first login does not join the deleted user...
    joined, joined_created = await users.get_or_create(office, now=time.time())
    # ...and the stray identity's own login leaves it for that new user.
    again, created = await users.get_or_create(staff, now=time.time())

    assert (joined_created, joined.status) == (True, "active")
    assert joined.id != deleted.id
    assert (again.id, created, again.status) == (joined.id, False, "active")
    assert await users.get(deleted.id) == replace(deleted, status="deleted")
