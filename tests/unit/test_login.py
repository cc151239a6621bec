from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from adapters.memory import InMemoryWeChatGateway
from domain.apps import AppDirectory, AppServices
from domain.code_exchange import CodeExchange, ExchangeTimings
from domain.entities import App, WeChatSession
from domain.errors import (
    InvalidCode,
    RateLimited,
    StoreUnavailable,
    UnknownApp,
    UserBanned,
    WeChatBusy,
)
from domain.ports import ClaimDone, ClaimPending, NewLogin
from domain.tokens import hash_code
from domain.use_cases.authenticate import AuthenticateRequest
from domain.use_cases.login import LoginRequest, LoginUseCase
from tests.unit.conftest import APP, TTL, World


async def test_first_login_creates_the_user_and_issues_a_working_token(world: World) -> None:
    world.wechat.add_code("c1", "openid-alice", session_key="a2V5LWFsaWNl")
    result = await world.login_use_case().execute(LoginRequest(code="c1"))

    assert result.created is True
    assert result.expires_in == TTL
    session = await world.sessions.get(result.token)
    assert session is not None
    assert session.user_id == result.user_id
    assert await world.sessions.session_key(result.user_id, "default") == "a2V5LWFsaWNl"


async def test_second_login_of_a_user_reuses_the_user_id(world: World) -> None:
    world.wechat.add_code("c1", "openid-alice")
    world.wechat.add_code("c2", "openid-alice")
    first = await world.login_use_case().execute(LoginRequest(code="c1"))
    second = await world.login_use_case().execute(LoginRequest(code="c2"))

    assert second.user_id == first.user_id
    assert second.created is False
    assert second.token != first.token


async def test_a_new_login_leaves_the_other_tokens_of_the_user_working(world: World) -> None:
    world.wechat.add_code("c1", "openid-alice")
    world.wechat.add_code("c2", "openid-alice")
    first = await world.login_use_case().execute(LoginRequest(code="c1"))
    await world.login_use_case().execute(LoginRequest(code="c2"))

    current = await world.authenticate_use_case().execute(AuthenticateRequest(first.token))
    assert current.session.user_id == first.user_id


async def test_the_newest_session_key_is_kept(world: World) -> None:
    world.wechat.add_code("c1", "openid-alice", session_key="b2xkLWtleQ==")
    world.wechat.add_code("c2", "openid-alice", session_key="bmV3LWtleQ==")
    result = await world.login_use_case().execute(LoginRequest(code="c1"))
    await world.login_use_case().execute(LoginRequest(code="c2"))

    assert await world.sessions.session_key(result.user_id, "default") == "bmV3LWtleQ=="


async def test_a_code_sent_again_is_not_exchanged_again_and_logs_in_the_same_user(
    world: World,
) -> None:
    world.wechat.add_code("c1", "openid-alice")
    first = await world.login_use_case().execute(LoginRequest(code="c1"))
    again = await world.login_use_case().execute(LoginRequest(code="c1"))

    assert world.wechat.calls == ["c1"]
    assert again.user_id == first.user_id
    assert again.token != first.token


async def test_a_code_is_remembered_for_its_five_minutes_only(world: World) -> None:
    world.wechat.add_code("c1", "openid-alice")
    await world.login_use_case().execute(LoginRequest(code="c1"))
    world.clock.advance(301)

    with pytest.raises(InvalidCode):
        await world.login_use_case().execute(LoginRequest(code="c1"))
    assert world.wechat.calls == ["c1", "c1"]


async def test_concurrent_requests_with_one_code_share_one_wechat_call(world: World) -> None:
    world.wechat.delay = 0.01
    world.wechat.add_code("c1", "openid-alice")
    results = await asyncio.gather(
        *(world.login_use_case().execute(LoginRequest(code="c1")) for _ in range(20))
    )

    assert world.wechat.calls == ["c1"]
    assert {r.user_id for r in results} == {results[0].user_id}
    assert sum(r.created for r in results) == 1
    assert len({r.token for r in results}) == 20


async def test_a_busy_wechat_is_not_remembered_so_the_code_can_be_sent_again(
    world: World,
) -> None:
    world.wechat.add_code("c1", "openid-alice")
    world.wechat.failures["c1"] = WeChatBusy()
    with pytest.raises(WeChatBusy):
        await world.login_use_case().execute(LoginRequest(code="c1"))

    del world.wechat.failures["c1"]
    world.clock.advance(2)
    result = await world.login_use_case().execute(LoginRequest(code="c1"))
    assert result.created is True
    assert world.wechat.calls == ["c1", "c1"]


async def test_an_invalid_code_fails_and_creates_nothing(world: World) -> None:
    with pytest.raises(InvalidCode):
        await world.login_use_case().execute(LoginRequest(code="never-issued"))
    assert await world.users.get(1) is None


async def test_a_failed_session_write_leaves_nothing_but_the_user_is_found_again(
    world: World,
) -> None:
    world.wechat.add_code("c1", "openid-alice")
    world.wechat.add_code("c2", "openid-alice")

    async def broken_record_login(login: NewLogin) -> str:
        raise StoreUnavailable()

    working = world.sessions.record_login
    world.sessions.record_login = broken_record_login  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        await world.login_use_case().execute(LoginRequest(code="c1"))
    assert await world.sessions.session_key(1, "default") is None

    world.sessions.record_login = working  # type: ignore[method-assign]
    result = await world.login_use_case().execute(LoginRequest(code="c2"))
    assert result.user_id == 1
    assert result.created is False


async def test_logins_beyond_the_rate_limit_of_an_address_are_refused(world: World) -> None:
    use_case = world.login_use_case(rate_per_minute=2)
    for n in range(2):
        world.wechat.add_code(f"c{n}", "openid-alice")
        await use_case.execute(LoginRequest(code=f"c{n}", client_address="10.0.0.1"))

    with pytest.raises(RateLimited) as refused:
        await use_case.execute(LoginRequest(code="c9", client_address="10.0.0.1"))
    assert 1 <= refused.value.retry_after <= 60
    assert world.wechat.calls == ["c0", "c1"]

    world.wechat.add_code("c3", "openid-bob")
    await use_case.execute(LoginRequest(code="c3", client_address="10.0.0.2"))


async def test_a_login_records_its_code_in_the_same_write_as_its_session(world: World) -> None:
    """One write, not two: the session store gets the code's result and records it."""
    world.wechat.add_code("c1", "openid-alice", session_key="a2V5LWFsaWNl")
    logins: list[NewLogin] = []
    record_login = world.sessions.record_login

    async def spying(login: NewLogin) -> str:
        logins.append(login)
        return await record_login(login)

    world.sessions.record_login = spying  # type: ignore[method-assign]
    result = await world.login_use_case().execute(LoginRequest(code="c1"))

    assert len(logins) == 1
    assert logins[0].code_hash == hash_code("c1")
    assert logins[0].session_key == "a2V5LWFsaWNl"
    assert logins[0].session.user_id == result.user_id
    assert "a2V5LWFsaWNl" not in repr(logins[0])
    assert await world.registry.peek(hash_code("c1")) == ClaimDone(logins[0].exchanged)


async def test_a_login_failing_after_wechat_answered_still_records_the_code(
    world: World,
) -> None:
    """The user store fails after the exchange: the code is recorded all the same, so the
    client's retry with it, even in another worker, logs in without calling WeChat again."""
    world.wechat.add_code("c1", "openid-alice")
    get_or_create = world.users.get_or_create

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailable()

    async def is_recorded() -> bool:
        return isinstance(await world.registry.peek(hash_code("c1")), ClaimDone)

    world.users.get_or_create = broken  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        await world.login_use_case().execute(LoginRequest(code="c1"))
    assert await is_recorded()  # at once, by the failing login

    world.users.get_or_create = get_or_create  # type: ignore[method-assign]
    other_worker = replace(
        world, exchange=CodeExchange(gateway=world.wechat, registry=world.registry)
    )
    result = await other_worker.login_use_case().execute(LoginRequest(code="c1"))
    assert result.created is True
    assert world.wechat.calls == ["c1"]


async def test_until_its_login_records_it_a_code_is_pending_for_everyone(world: World) -> None:
    world.wechat.add_code("c1", "openid-alice")
    first = CodeExchange(
        gateway=world.wechat, registry=world.registry, timings=ExchangeTimings(poll_interval=0.001)
    )
    second = CodeExchange(
        gateway=world.wechat, registry=world.registry, timings=ExchangeTimings(poll_interval=0.001)
    )

    mine = await first.exchange("c1")
    assert await world.registry.peek(hash_code("c1")) == ClaimPending()
    theirs = asyncio.ensure_future(second.exchange("c1"))
    await asyncio.sleep(0.01)
    assert not theirs.done()  # waits on the pending claim, as on WeChat
    await first.remember("c1", mine)

    assert await theirs == mine
    assert world.wechat.calls == ["c1"]


async def test_remember_on_a_store_that_is_down_does_not_raise(world: World) -> None:
    async def down(*args: Any, **kwargs: Any) -> None:
        raise StoreUnavailable()

    world.registry.complete = down  # type: ignore[method-assign]

    await world.exchange.remember("c1", WeChatSession("openid-alice", "a2V5"))


async def test_an_owner_told_code_been_used_finds_an_earlier_owner_s_late_result(
    world: World,
) -> None:
    """Worker A's claim expired before its result was recorded; worker B claimed the code and
    WeChat answered it "code been used"; meanwhile A's result landed. B logs in with it."""
    world.wechat.add_code("c1", "openid-alice")
    first = await world.exchange.exchange("c1")  # worker A: exchanged, not yet recorded
    world.registry._states.pop(hash_code("c1"))  # A's claim expired

    class LateRecordThenUsed:
        async def code_to_session(self, code: str) -> WeChatSession:
            await world.exchange.remember("c1", first)  # A lands
            raise InvalidCode()

    other_worker = CodeExchange(gateway=LateRecordThenUsed(), registry=world.registry)
    assert await other_worker.exchange("c1") == first


async def _until(probe: Callable[[], Awaitable[object]], attempts: int = 200) -> None:
    for _ in range(attempts):
        if await probe():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("never happened")


async def test_a_login_cancelled_after_wechat_answered_still_records_the_code(
    world: World,
) -> None:
    """The client went away (or the request timed out) during the user upsert: the code is
    spent at WeChat, so its result is recorded for the client's retry."""
    world.wechat.add_code("c1", "openid-alice")
    upserting = asyncio.Event()

    async def stalled(*args: Any, **kwargs: Any) -> Any:
        upserting.set()
        await asyncio.Event().wait()

    world.users.get_or_create = stalled  # type: ignore[method-assign]
    login = asyncio.ensure_future(world.login_use_case().execute(LoginRequest(code="c1")))
    await upserting.wait()
    login.cancel()
    with pytest.raises(asyncio.CancelledError):
        await login

    assert isinstance(await world.registry.peek(hash_code("c1")), ClaimDone)


# ---- several apps ----------------------------------------------------------------------------


def two_apps(
    world: World, *, rate_per_minute: int = 0
) -> tuple[LoginUseCase, InMemoryWeChatGateway]:
    """The world's WeChat app ``default`` and a QQ app ``qq`` with its own gateway."""
    qq = InMemoryWeChatGateway()
    exchange = CodeExchange(gateway=qq, registry=world.registry, scope="qq")
    apps = AppDirectory(
        [
            AppServices(APP, world.exchange),
            AppServices(App("qq", "qq", "1110000000"), exchange),
        ]
    )
    return world.login_use_case(rate_per_minute=rate_per_minute, apps=apps), qq


async def test_the_app_named_logs_in_and_the_session_records_it(world: World) -> None:
    use_case, qq = two_apps(world)
    qq.add_code("c1", "o-qq-alice")

    result = await use_case.execute(LoginRequest(code="c1", app="qq"))

    session = await world.sessions.get(result.token)
    assert session is not None
    assert (session.app, session.platform) == ("qq", "qq")
    assert world.wechat.calls == []


async def test_an_unknown_app_or_none_among_several_is_refused_before_any_call(
    world: World,
) -> None:
    use_case, qq = two_apps(world)
    for app in ("nowhere", None):
        with pytest.raises(UnknownApp):
            await use_case.execute(LoginRequest(code="c1", app=app))
    assert world.wechat.calls == qq.calls == []


async def test_one_code_sent_to_two_apps_is_exchanged_at_each(world: World) -> None:
    use_case, qq = two_apps(world)
    world.wechat.add_code("c1", "o-wechat-alice")

    await use_case.execute(LoginRequest(code="c1", app="default"))
    with pytest.raises(InvalidCode) as refused:
        await use_case.execute(LoginRequest(code="c1", app="qq"))

    assert qq.calls == ["c1"]  # never the first app's login
    assert refused.value.platform == "qq"


async def test_the_rate_limit_counts_per_app(world: World) -> None:
    use_case, qq = two_apps(world, rate_per_minute=1)
    world.wechat.add_code("c1", "o-1")
    qq.add_code("c2", "o-2")
    await use_case.execute(LoginRequest(code="c1", app="default", client_address="10.0.0.1"))

    with pytest.raises(RateLimited):
        await use_case.execute(LoginRequest(code="c1", app="default", client_address="10.0.0.1"))
    await use_case.execute(LoginRequest(code="c2", app="qq", client_address="10.0.0.1"))


async def test_a_login_leaves_its_event_and_a_failed_one_its_error_code(world: World) -> None:
    world.wechat.add_code("ok-1", "openid-alice")
    result = await world.login_use_case().execute(
        LoginRequest(code="ok-1", client_address="203.0.113.9", user_agent="ua",
                     request_id="r-1"))
    with pytest.raises(InvalidCode):
        await world.login_use_case().execute(LoginRequest(code="never-issued"))

    login, failed = world.audit.events
    assert (login.type, login.user_id, login.result) == ("login", result.user_id, "ok")
    assert (login.origin.ip, login.origin.user_agent, login.origin.request_id) == (
        "203.0.113.0/24", "ua", "r-1")
    assert (failed.type, failed.user_id, failed.result) == ("login_failed", None, "invalid_code")


async def test_a_user_fenced_off_by_a_ban_gets_no_token(world: World) -> None:
    world.wechat.add_code("ok-1", "openid-alice")
    first = await world.login_use_case().execute(LoginRequest(code="ok-1"))
    await world.sessions.revoke_all(first.user_id, fence_until=world.clock.now() + 300)
    world.wechat.add_code("ok-2", "openid-alice")

    with pytest.raises(UserBanned):
        await world.login_use_case().execute(LoginRequest(code="ok-2"))

    assert await world.sessions.sessions_of(first.user_id) == []
    assert world.audit.events[-1].result == "user_banned"
