from __future__ import annotations

import pytest

from domain.errors import Unauthorized
from domain.use_cases.authenticate import AuthenticateRequest
from domain.use_cases.login import LoginRequest, LoginResult
from domain.use_cases.logout import LogoutRequest
from domain.use_cases.policy import SessionPolicy
from tests.unit.conftest import MAX_AGE, TTL, World


async def _login(world: World, code: str, openid: str = "openid-alice") -> LoginResult:
    world.wechat.add_code(code, openid)
    return await world.login_use_case().execute(LoginRequest(code=code))


async def test_a_token_unused_for_its_ttl_expires(world: World) -> None:
    result = await _login(world, "c1")
    world.clock.advance(TTL)
    with pytest.raises(Unauthorized):
        await world.authenticate_use_case().execute(AuthenticateRequest(result.token))


async def test_a_use_in_the_first_half_of_the_ttl_does_not_slide(world: World) -> None:
    result = await _login(world, "c1")
    world.clock.advance(TTL * 0.4)
    current = await world.authenticate_use_case().execute(AuthenticateRequest(result.token))
    assert current.expires_in == int(TTL * 0.6)


async def test_a_use_in_the_second_half_of_the_ttl_slides_to_a_full_ttl(world: World) -> None:
    result = await _login(world, "c1")
    world.clock.advance(TTL * 0.6)
    current = await world.authenticate_use_case().execute(AuthenticateRequest(result.token))
    assert current.expires_in == TTL

    world.clock.advance(TTL * 0.9)
    current = await world.authenticate_use_case().execute(AuthenticateRequest(result.token))
    assert current.expires_in == TTL


async def test_sliding_never_passes_the_max_age(world: World) -> None:
    result = await _login(world, "c1")
    authenticate = world.authenticate_use_case()
    for _ in range(4):
        world.clock.advance(TTL * 0.6)
        await authenticate.execute(AuthenticateRequest(result.token))
    current = await authenticate.execute(AuthenticateRequest(result.token))
    assert current.expires_in == MAX_AGE - int(TTL * 0.6 * 4)

    world.clock.advance(current.expires_in)
    with pytest.raises(Unauthorized):
        await authenticate.execute(AuthenticateRequest(result.token))


def test_a_max_age_below_the_ttl_caps_the_first_expiry() -> None:
    policy = SessionPolicy(ttl=100, max_age=40)
    assert policy.first_expiry(1000.0) == 1040.0


async def test_an_unknown_token_is_unauthorized(world: World) -> None:
    with pytest.raises(Unauthorized):
        await world.authenticate_use_case().execute(AuthenticateRequest("no-such-token-at-all"))


async def test_logout_ends_that_token_only(world: World) -> None:
    phone = await _login(world, "c1")
    tablet = await _login(world, "c2")
    await world.logout_use_case().execute(LogoutRequest(token=phone.token))

    with pytest.raises(Unauthorized):
        await world.authenticate_use_case().execute(AuthenticateRequest(phone.token))
    await world.authenticate_use_case().execute(AuthenticateRequest(tablet.token))


async def test_logout_everywhere_ends_every_token_of_the_user_and_no_other(world: World) -> None:
    phone = await _login(world, "c1")
    tablet = await _login(world, "c2")
    bob = await _login(world, "c3", openid="openid-bob")
    await world.logout_use_case().execute(LogoutRequest(token=phone.token, everywhere=True))

    for token in (phone.token, tablet.token):
        with pytest.raises(Unauthorized):
            await world.authenticate_use_case().execute(AuthenticateRequest(token))
    await world.authenticate_use_case().execute(AuthenticateRequest(bob.token))


async def test_logout_with_a_dead_token_is_unauthorized(world: World) -> None:
    result = await _login(world, "c1")
    await world.logout_use_case().execute(LogoutRequest(token=result.token))
    with pytest.raises(Unauthorized):
        await world.logout_use_case().execute(LogoutRequest(token=result.token))
