"""The shared access_token: one fetch at a time, refreshed ahead of expiry, retried once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from adapters.memory.platform import InMemoryAccessTokenCache, InMemoryWeChatPlatform
from domain.access_token import AccessTokenProvider, TokenTimings
from domain.errors import StoreUnavailable, WeChatBusy, WeChatError
from domain.platform import AccessToken, PhoneNumber
from domain.platform_errors import AccessTokenBusy, AccessTokenInvalid
from tests.fakes import FakeClock

FAST = TokenTimings(refresh_margin=300, lock_ttl=10, wait=0.3, poll_interval=0.005)


@pytest.fixture
def platform() -> InMemoryWeChatPlatform:
    return InMemoryWeChatPlatform(delay=0.01)


@pytest.fixture
def cache(clock: FakeClock) -> InMemoryAccessTokenCache:
    return InMemoryAccessTokenCache(clock=clock)


def provider_for(
    platform: InMemoryWeChatPlatform, cache: InMemoryAccessTokenCache, clock: FakeClock,
    timings: TokenTimings = FAST,
) -> AccessTokenProvider:
    return AccessTokenProvider(platform=platform, cache=cache, clock=clock, timings=timings)


@pytest.fixture
def provider(
    platform: InMemoryWeChatPlatform, cache: InMemoryAccessTokenCache, clock: FakeClock
) -> AccessTokenProvider:
    return provider_for(platform, cache, clock)


# ---- one fetch ------------------------------------------------------------------------------


async def test_a_hundred_concurrent_callers_on_a_cold_cache_cause_one_fetch(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform
) -> None:
    tokens = await asyncio.gather(*(provider.get() for _ in range(100)))

    assert platform.token_fetches == 1
    assert set(tokens) == platform.valid_tokens


async def test_providers_sharing_a_cache_fetch_once_between_them(
    platform: InMemoryWeChatPlatform, cache: InMemoryAccessTokenCache, clock: FakeClock
) -> None:
    first, second = provider_for(platform, cache, clock), provider_for(platform, cache, clock)

    tokens = await asyncio.gather(*(p.get() for _ in range(50) for p in (first, second)))

    assert platform.token_fetches == 1
    assert len(set(tokens)) == 1


async def test_a_cached_token_is_reused_without_a_fetch(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform, clock: FakeClock
) -> None:
    token = await provider.get()
    clock.advance(7200 - 301)

    assert await provider.get() == token
    assert platform.token_fetches == 1


async def test_the_token_is_refreshed_ahead_of_its_expiry(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform,
    cache: InMemoryAccessTokenCache, clock: FakeClock,
) -> None:
    await provider.get()
    clock.advance(7200 - 299)

    await asyncio.gather(*(provider.get() for _ in range(20)))

    assert platform.token_fetches == 2
    cached = await cache.get()
    assert cached is not None
    assert cached.expires_at == clock.now() + 7200
    assert cached.refresh_at == clock.now() + 7200 - 300


async def test_a_token_that_comes_with_little_life_is_refreshed_at_half_of_it(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform,
    cache: InMemoryAccessTokenCache, clock: FakeClock,
) -> None:
    platform.token_lifetime = 400

    await provider.get()

    cached = await cache.get()
    assert cached is not None
    assert cached.refresh_at == clock.now() + 200
    await provider.get()
    assert platform.token_fetches == 1


async def test_while_another_holder_refreshes_the_current_token_is_handed_out_at_once(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform,
    cache: InMemoryAccessTokenCache, clock: FakeClock,
) -> None:
    token = await provider.get()
    clock.advance(7200 - 100)
    assert await cache.try_lock("another-process", ttl=10)

    assert await asyncio.wait_for(provider.get(), 0.05) == token
    assert platform.token_fetches == 1


# ---- waiting for another holder -------------------------------------------------------------


async def test_a_waiter_gets_the_token_the_lock_holder_stores(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform,
    cache: InMemoryAccessTokenCache, clock: FakeClock,
) -> None:
    assert await cache.try_lock("another-process", ttl=10)

    async def other_process_finishes() -> None:
        await asyncio.sleep(0.05)
        now = clock.now()
        await cache.set(AccessToken("THEIRS", expires_at=now + 7200, refresh_at=now + 6900))
        await cache.unlock("another-process")

    finishing = asyncio.ensure_future(other_process_finishes())
    assert await provider.get() == "THEIRS"
    await finishing

    assert platform.token_fetches == 0


async def test_a_waiters_wait_is_bounded_and_ends_busy_without_a_fetch(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform,
    cache: InMemoryAccessTokenCache,
) -> None:
    assert await cache.try_lock("a-stuck-process", ttl=10)
    loop = asyncio.get_running_loop()
    started = loop.time()

    with pytest.raises(AccessTokenBusy) as raised:
        await provider.get()

    assert 0.3 <= loop.time() - started < 1.0
    assert isinstance(raised.value, WeChatBusy)
    assert raised.value.code == "platform_busy"
    assert platform.token_fetches == 0


async def test_the_lock_of_a_holder_that_died_lapses_and_a_waiter_fetches(
    platform: InMemoryWeChatPlatform, cache: InMemoryAccessTokenCache, clock: FakeClock
) -> None:
    provider = provider_for(platform, cache, clock, TokenTimings(wait=2, poll_interval=0.005))
    assert await cache.try_lock("a-dead-process", ttl=10)
    waiting = asyncio.ensure_future(provider.get())
    await asyncio.sleep(0.02)
    assert not waiting.done()

    clock.advance(10)

    assert await waiting in platform.valid_tokens
    assert platform.token_fetches == 1


async def test_the_lock_is_released_after_a_fetch_and_after_a_failed_one(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform,
    cache: InMemoryAccessTokenCache,
) -> None:
    platform.fail_next("stable_token", WeChatError())
    with pytest.raises(WeChatError):
        await provider.get()
    assert await cache.try_lock("probe", ttl=1)
    await cache.unlock("probe")

    await provider.get()

    assert await cache.try_lock("probe", ttl=1)


async def test_a_failed_fetch_fails_the_concurrent_callers_once_and_the_next_call_fetches(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform
) -> None:
    platform.fail_next("stable_token", WeChatBusy())

    outcomes = await asyncio.gather(*(provider.get() for _ in range(10)), return_exceptions=True)

    assert all(isinstance(outcome, WeChatBusy) for outcome in outcomes)
    assert platform.token_fetches == 1
    assert await provider.get() in platform.valid_tokens
    assert platform.token_fetches == 2


async def test_a_caller_that_goes_away_does_not_cancel_the_fetch_of_the_others(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform
) -> None:
    leaving = asyncio.ensure_future(provider.get())
    staying = asyncio.ensure_future(provider.get())
    await asyncio.sleep(0)
    leaving.cancel()

    assert await staying in platform.valid_tokens
    assert platform.token_fetches == 1


async def test_a_store_that_cannot_be_reached_fails_without_a_fetch(
    platform: InMemoryWeChatPlatform, clock: FakeClock
) -> None:
    class DownCache(InMemoryAccessTokenCache):
        async def get(self) -> AccessToken | None:
            raise StoreUnavailable()

    provider = AccessTokenProvider(platform=platform, cache=DownCache(clock=clock), clock=clock)

    with pytest.raises(StoreUnavailable):
        await provider.get()
    assert platform.token_fetches == 0


async def test_invalidating_a_token_keeps_a_newer_one(
    provider: AccessTokenProvider, cache: InMemoryAccessTokenCache, clock: FakeClock
) -> None:
    now = clock.now()
    await cache.set(AccessToken("NEWER", expires_at=now + 7200, refresh_at=now + 6900))

    await provider.invalidate("OLDER")
    assert await provider.get() == "NEWER"

    await provider.invalidate("NEWER")
    assert await cache.get() is None


# ---- calls with the token --------------------------------------------------------------------


def phone_call(
    platform: InMemoryWeChatPlatform, code: str = "phone-1"
) -> Callable[[str], Awaitable[PhoneNumber]]:
    platform.phones[code] = PhoneNumber("13800138000", "86")
    return lambda token: platform.phone_number(token, code)


async def test_a_refused_token_is_dropped_refreshed_once_and_the_call_retried_once(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform,
    cache: InMemoryAccessTokenCache,
) -> None:
    stale = await provider.get()
    platform.revoke_tokens()  # e.g. a force_refresh elsewhere: WeChat answers 40001

    phone = await provider.call_with_token(phone_call(platform))

    assert phone.e164 == "+8613800138000"
    assert platform.token_fetches == 2
    fresh = await cache.get()
    assert fresh is not None
    assert [token for _, token in platform.calls] == [stale, fresh.value]


async def test_a_second_refusal_is_a_wechat_error_after_exactly_one_retry(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform,
    cache: InMemoryAccessTokenCache,
) -> None:
    platform.refuse_tokens = True

    with pytest.raises(WeChatError) as raised:
        await provider.call_with_token(phone_call(platform))

    assert not isinstance(raised.value, AccessTokenInvalid)
    assert raised.value.code == "platform_error"
    assert len(platform.calls) == 2
    assert platform.token_fetches == 2
    assert await cache.get() is None  # the refused token is not kept for the next request


async def test_wechat_busy_on_a_call_is_not_retried(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform
) -> None:
    platform.fail_next("phone_number", WeChatBusy())

    with pytest.raises(WeChatBusy):
        await provider.call_with_token(phone_call(platform))

    assert len(platform.calls) == 1
    assert platform.token_fetches == 1


async def test_concurrent_calls_refused_together_share_one_refresh(
    provider: AccessTokenProvider, platform: InMemoryWeChatPlatform
) -> None:
    await provider.get()
    platform.revoke_tokens()
    calls = [phone_call(platform, f"phone-{n}") for n in range(20)]

    await asyncio.gather(*(provider.call_with_token(call) for call in calls))

    assert platform.token_fetches == 2
