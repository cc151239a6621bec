"""Release 0.1.0's tokens after the upgrade, on a real Redis: written by a frozen copy of 0.1.0's
writer (tests/fixtures/v0_1_sessions.py), read, extended and ended through the SessionStore port
of the upgraded service, whose SESSION_SECRET 0.1.0 never had."""

from __future__ import annotations

import asyncio
import secrets
import time
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

from adapters.redis.client import open_redis
from adapters.redis.legacy_sessions import LegacyAwareSessionStore, LegacySessionReader
from adapters.redis.sessions import RedisSessionStore
from domain.entities import LoginSession, WeChatSession
from domain.errors import StoreUnavailable
from domain.ports import NewLogin
from domain.tokens import hash_code
from tests.fixtures import v0_1_sessions as v01
from tests.fixtures.fault_proxy import fault_proxy
from tests.fixtures.redis_server import RedisServer

pytestmark = pytest.mark.integration

WECHAT_SECRET = "the WeChat app's secret, the same before and after"
SESSION_SECRET = "the upgraded deployment's session secret, new at the upgrade"
SESSION_KEY = "c2Vzc2lvbi1rZXktMTYhIQ=="  # base64 of 16 bytes, as WeChat's are
APP = "shop"


class V01:
    """A deployment of 0.1.0 logging users in (its writer, on the same Redis)."""

    def __init__(self, client: Redis, *, wechat_secret: str | None = WECHAT_SECRET,
                 key_prefix: bytes = b"wl:") -> None:
        self._writer = v01.V01SessionWriter(
            client, wechat_secret=wechat_secret, key_prefix=key_prefix
        )

    async def login(
        self, user_id: int = 1, *, ttl: float = 600, max_age: float = 3600,
        session_key: str = SESSION_KEY, ago: float = 0,
    ) -> str:
        now = time.time() - ago
        session = v01.LoginSession(
            user_id=user_id, user_created_at=1_777_622_400.25, login_at=now,
            expires_at=now + ttl, max_expires_at=now + max_age,
        )
        return await self._writer.login(session, session_key=session_key, now=now)


@pytest.fixture
async def store(redis_client: Redis) -> LegacyAwareSessionStore:
    current = RedisSessionStore(redis_client, session_secret=SESSION_SECRET)
    legacy = LegacySessionReader(redis_client, wechat_secret=WECHAT_SECRET, legacy_app=APP)
    return LegacyAwareSessionStore(current, legacy)


@pytest.fixture
def v01_service(redis_client: Redis) -> V01:
    return V01(redis_client)


async def new_login(store: LegacyAwareSessionStore, user_id: int, app: str = APP) -> str:
    now = time.time()
    session = LoginSession(user_id, 1_777_622_400.25, now, now + 600, now + 3600, app, "wechat")
    code = hash_code(secrets.token_urlsafe(8))
    token = await store.record_login(
        NewLogin(session, "new-key", code, WeChatSession("o", "new-key", None))
    )
    assert token is not None
    return token


async def test_a_0_1_token_finds_its_session_as_a_login_of_the_wechat_app(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    token = await v01_service.login(7, ttl=600, max_age=3600, ago=10)

    session = await store.get(token)

    assert session is not None
    assert (session.user_id, session.app, session.platform) == (7, APP, "wechat")
    assert session.user_created_at == pytest.approx(1_777_622_400.25, abs=0.001)
    assert session.expires_at - session.login_at == pytest.approx(600, abs=0.001)
    assert session.max_expires_at - session.login_at == pytest.approx(3600, abs=0.001)
    session_id = store.session_id(token)
    assert session_id is not None
    assert session_id.startswith("v1.")
    assert await store.get_by_id(session_id) == session


async def test_a_0_1_token_slides_as_0_1_did(
    store: LegacyAwareSessionStore, v01_service: V01, redis_client: Redis
) -> None:
    token = await v01_service.login(7, ttl=60, max_age=3600)
    now = time.time()

    await store.extend(token, now + 1800)

    session = await store.get(token)
    assert session is not None
    assert session.expires_at == pytest.approx(now + 1800, abs=0.001)
    # The user's hash still lives until the latest max_expires_at (0.1.0's rule).
    assert await redis_client.pexpiretime(b"wl:h" + (7).to_bytes(8, "big")) == pytest.approx(
        (session.max_expires_at) * 1000, abs=1
    )


async def test_an_expired_0_1_session_is_refused_and_not_extended(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    lasting = await v01_service.login(7, ttl=600)
    short = await v01_service.login(7, ttl=0.2)

    await asyncio.sleep(0.3)

    assert await store.get(short) is None
    await store.extend(short, time.time() + 600)
    assert await store.get(short) is None
    assert await store.get(lasting) is not None


async def test_logging_a_0_1_token_out_ends_it_alone(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    token, other = await v01_service.login(7), await v01_service.login(7)
    new = await new_login(store, 7)

    assert await store.logout(token, everywhere=False) == 7

    assert await store.get(token) is None
    assert await store.logout(token, everywhere=False) is None
    assert await store.get(other) is not None
    assert await store.get(new) is not None


async def test_logging_out_everywhere_with_a_0_1_token_ends_both_layouts_sessions(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    token, other = await v01_service.login(7), await v01_service.login(7)
    new = await new_login(store, 7)
    someone_else, someone_else_new = await v01_service.login(8), await new_login(store, 8)

    assert await store.logout(token, everywhere=True) == 7

    for ended in (token, other, new):
        assert await store.get(ended) is None
    assert await store.get(someone_else) is not None
    assert await store.get(someone_else_new) is not None


async def test_logging_out_everywhere_with_a_new_token_ends_the_0_1_sessions_too(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    old = await v01_service.login(7)
    new, other_new = await new_login(store, 7), await new_login(store, 7)

    assert await store.logout(new, everywhere=True) == 7

    for ended in (old, new, other_new):
        assert await store.get(ended) is None
    assert await store.logout(old, everywhere=True) is None


async def test_the_user_s_sessions_list_both_layouts_and_each_ends_by_its_id(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    old = await v01_service.login(7, ago=60)
    new = await new_login(store, 7)
    await v01_service.login(8)

    sessions = await store.sessions_of(7)

    assert [s.id for s in sessions] == [store.session_id(new), store.session_id(old)]
    legacy = sessions[1]
    assert (legacy.app, legacy.platform, legacy.ip, legacy.user_agent) == (
        APP, "wechat", None, None,
    )
    assert len({s.id for s in sessions + await store.sessions_of(8)}) == 3
    assert not await store.revoke(8, legacy.id)  # another user's
    assert not await store.revoke(7, "v1.not-an-id")
    assert await store.revoke(7, legacy.id)
    assert not await store.revoke(7, legacy.id)
    assert await store.get(old) is None
    assert [s.id for s in await store.sessions_of(7)] == [store.session_id(new)]


async def test_revoking_all_ends_the_0_1_sessions_and_fences_new_logins(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    old, other_old = await v01_service.login(7), await v01_service.login(7)
    new = await new_login(store, 7)
    someone_else = await v01_service.login(8)

    await store.revoke_all(7, fence_until=time.time() + 600)

    for ended in (old, other_old, new):
        assert await store.get(ended) is None
    assert await store.sessions_of(7) == []
    assert await store.get(someone_else) is not None
    now = time.time()
    fenced = LoginSession(7, 0, now, now + 600, now + 3600, APP, "wechat")
    code = hash_code("fenced")
    assert await store.record_login(
        NewLogin(fenced, "k", code, WeChatSession("o", "k", None))
    ) is None


async def test_the_0_1_session_key_serves_the_wechat_app_until_a_new_login_replaces_it(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    await v01_service.login(7)
    await v01_service.login(8, session_key="not base64, kept as UTF-8: 钥匙")

    assert await store.session_key(7, APP) == SESSION_KEY
    assert await store.session_key(8, APP) == "not base64, kept as UTF-8: 钥匙"
    assert await store.session_key(7, "another-app") is None
    assert await store.session_key(9, APP) is None
    await new_login(store, 7)
    assert await store.session_key(7, APP) == "new-key"


async def test_the_0_1_session_key_keeps_its_own_expiry(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    """0.1.0 kept the newest login's key for that login's max age, even when an older session
    lived longer."""
    lasting = await v01_service.login(7, max_age=3600)
    await v01_service.login(7, session_key="the newest, short-lived", ttl=0.2, max_age=0.2)
    assert await store.session_key(7, APP) == "the newest, short-lived"

    await asyncio.sleep(0.3)

    assert await store.session_key(7, APP) is None
    assert await store.get(lasting) is not None


async def test_a_forged_or_foreign_route_is_refused_without_asking_redis(
    redis_client: Redis, v01_service: V01
) -> None:
    real = await v01_service.login(7)
    other_wechat_secret = await V01(redis_client, wechat_secret="another WeChat secret").login(7)
    unreachable = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    store = LegacyAwareSessionStore(
        RedisSessionStore(unreachable, session_secret=SESSION_SECRET),
        LegacySessionReader(unreachable, wechat_secret=WECHAT_SECRET, legacy_app=APP),
    )
    route = real.partition(".")[0]
    forged = [
        other_wechat_secret,  # a route of another key decrypts to garbage
        "A" * 22 + "." + real.partition(".")[2],
        route[:-1] + ("A" if route[-1] != "A" else "B") + "." + real.partition(".")[2],
        route + ".",
        route,
        "v1." + route + ".AAAAAAAAAAA",  # an id is not a token
    ]

    for token in forged:
        assert store.session_id(token) is None, token
        assert await store.get(token) is None
        assert await store.logout(token, everywhere=True) is None
    assert await store.get_by_id("v1." + "A" * 22 + ".AAAAAAAAAAA") is None
    await unreachable.aclose()


async def test_a_right_route_with_a_wrong_random_part_finds_nothing(
    store: LegacyAwareSessionStore, v01_service: V01
) -> None:
    real = await v01_service.login(7)

    assert await store.get(real.partition(".")[0] + "." + secrets.token_urlsafe(32)) is None


async def test_another_key_prefix_is_another_deployment(redis_client: Redis) -> None:
    production = await V01(redis_client).login(7)
    staging = await V01(redis_client, key_prefix=b"staging:").login(7)

    def deployment(prefix: str) -> LegacyAwareSessionStore:
        return LegacyAwareSessionStore(
            RedisSessionStore(redis_client, session_secret=SESSION_SECRET, key_prefix=prefix),
            LegacySessionReader(
                redis_client, wechat_secret=WECHAT_SECRET, legacy_app=APP, key_prefix=prefix
            ),
        )

    assert await deployment("wl:").get(production) is not None
    assert await deployment("wl:").get(staging) is None
    assert await deployment("staging:").get(staging) is not None
    await deployment("staging:").revoke_all(7)
    assert await deployment("wl:").get(production) is not None


async def test_a_0_1_deployment_on_the_simulator_used_the_development_route_secret(
    redis_client: Redis,
) -> None:
    token = await V01(redis_client, wechat_secret=None).login(7)
    store = LegacyAwareSessionStore(
        RedisSessionStore(redis_client, session_secret=SESSION_SECRET),
        LegacySessionReader(redis_client, wechat_secret=None, legacy_app="default"),
    )

    session = await store.get(token)

    assert session is not None
    assert (session.user_id, session.app) == (7, "default")


@pytest.mark.parametrize("everywhere", [False, True])
async def test_a_0_1_logout_whose_reply_is_lost_still_answers_that_the_token_was_live(
    redis_server: RedisServer, redis_client: Redis, v01_service: V01, everywhere: bool
) -> None:
    """The client repeats a command once after a lost reply: the repeat must not find the
    token already gone and answer 401 to a logout that worked."""
    token, other = await v01_service.login(7), await v01_service.login(7)
    async with fault_proxy("127.0.0.1", redis_server.port) as proxy, asynccontextmanager(
        open_redis
    )(f"redis://127.0.0.1:{proxy.port}/0") as client:
        store = LegacyAwareSessionStore(
            RedisSessionStore(client, session_secret=SESSION_SECRET),
            LegacySessionReader(client, wechat_secret=WECHAT_SECRET, legacy_app=APP),
        )
        assert await store.get(other) is not None  # the connection and the scripts are ready
        await store.logout(await v01_service.login(8), everywhere=everywhere)

        proxy.lose_a_reply(after=2 if everywhere else 0)  # everywhere: a get, then the new
        assert await store.logout(token, everywhere=everywhere) == 7  # layout's revoke_all

        assert proxy.lost == 1
        assert await store.get(token) is None
        assert (await store.get(other) is None) is everywhere
        assert await store.logout(token, everywhere=everywhere) is None  # a new logout: 401


@pytest.mark.parametrize("replies", [0, 1, 2, 3])
async def test_logging_out_everywhere_cut_midway_never_answers_with_a_token_alive(
    redis_server: RedisServer, redis_client: Redis, v01_service: V01, replies: int
) -> None:
    """Redis becomes unreachable after ``replies`` replies of a logout everywhere with a new
    token, the user holding a 0.1.0 token too: either the logout answers and every token is
    dead, or it fails and the new tokens all still work (the 0.1.0 one may already be dead: the
    layouts are two keys, ended 0.1.0's first), so the client can send it again. A first
    version answered after the new layout's step and only logged the 0.1.0 step's failure: the
    0.1.0 token lived on (a stolen phone still logged in)."""
    old = await v01_service.login(7)
    async with fault_proxy("127.0.0.1", redis_server.port) as proxy, asynccontextmanager(
        open_redis
    )(f"redis://127.0.0.1:{proxy.port}/0") as client:
        store = LegacyAwareSessionStore(
            RedisSessionStore(client, session_secret=SESSION_SECRET),
            LegacySessionReader(client, wechat_secret=WECHAT_SECRET, legacy_app=APP),
        )
        new, other = await new_login(store, 7), await new_login(store, 7)
        warm = await new_login(store, 8)
        await store.logout(warm, everywhere=True)  # the connection and the scripts are ready

        proxy.cut_after(replies)
        try:
            answered = await store.logout(new, everywhere=True) == 7
        except StoreUnavailable:
            answered = False
        proxy.heal()

        alive = [await store.get(token) is not None for token in (old, new, other)]
        if answered:
            assert alive == [False] * 3
        else:
            assert alive[1:] == [True, True], alive
        if not answered:  # the client sends it again
            assert await store.logout(new, everywhere=True) == 7
            assert [await store.get(token) for token in (old, new, other)] == [None] * 3
