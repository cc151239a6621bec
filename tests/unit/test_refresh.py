"""The refresh rules (JWT mode) on the in-memory adapters, with a fake clock."""

from __future__ import annotations

import pytest

from adapters.access_tokens import JoserfcAccessTokenSigner, new_private_key_pem
from adapters.memory import InMemoryCodeExchangeRegistry, InMemorySessionStore
from adapters.memory.refresh_tokens import InMemoryRefreshTokenStore
from domain.credentials import JwtCredentials
from domain.entities import LoginSession, WeChatSession
from domain.errors import InvalidRefreshToken, RefreshTokenReused
from domain.ports import NewLogin
from domain.tokens import hash_code
from domain.use_cases.policy import SessionPolicy
from domain.use_cases.refresh import RefreshRequest, RefreshUseCase
from tests.fakes import FakeClock

SECRET = "unit-test session secret, 32 characters or more"


class LogoutAfterRead(InMemorySessionStore):
    """A logout that lands right after the refresh has read the session as live."""

    async def get_by_id(self, session_id: str) -> LoginSession | None:
        session = await super().get_by_id(session_id)
        await self.logout_by_id(session_id, everywhere=False)
        return session


def refresher(
    clock: FakeClock, sessions: InMemorySessionStore
) -> tuple[RefreshUseCase, JwtCredentials]:
    tokens = InMemoryRefreshTokenStore(clock=clock, session_secret=SECRET)
    signer = JoserfcAccessTokenSigner(signing_key=new_private_key_pem().decode(), verify_keys=[],
                                      issuer="i", audience="a", clock=clock)
    credentials = JwtCredentials(sessions=sessions, signer=signer, refresh_tokens=tokens,
                                 access_ttl=300)
    use_case = RefreshUseCase(sessions=sessions, refresh_tokens=tokens, credentials=credentials,
                              clock=clock, policy=SessionPolicy(ttl=1000, max_age=3000))
    return use_case, credentials


async def logged_in(clock: FakeClock, sessions: InMemorySessionStore,
                    credentials: JwtCredentials) -> str:
    now = clock.now()
    session = LoginSession(user_id=1, user_created_at=now, login_at=now, expires_at=now + 1000,
                           max_expires_at=now + 3000)
    token = await sessions.record_login(NewLogin(session, "sk", hash_code("c"),
                                                 WeChatSession("o", "sk")))
    issued = await credentials.for_login(token, session, now)
    assert issued.refresh_token is not None
    return issued.refresh_token


def store(clock: FakeClock, kind: type[InMemorySessionStore] = InMemorySessionStore
          ) -> InMemorySessionStore:
    return kind(clock=clock, session_secret=SECRET,
                registry=InMemoryCodeExchangeRegistry(clock=clock))


async def test_a_refresh_racing_a_logout_leaves_the_session_ended(clock: FakeClock) -> None:
    sessions = store(clock, LogoutAfterRead)
    use_case, credentials = refresher(clock, sessions)
    refresh_token = await logged_in(clock, sessions, credentials)

    refreshed = await use_case.execute(RefreshRequest(refresh_token))

    claims = credentials.read(refreshed.issued.token)
    assert claims is not None
    assert await InMemorySessionStore.get_by_id(sessions, claims.session_id) is None
    assert refreshed.issued.refresh_token is not None
    with pytest.raises(InvalidRefreshToken):
        await use_case.execute(RefreshRequest(refreshed.issued.refresh_token))


@pytest.mark.parametrize(("later", "reused"), [(0, False), (10, False), (10.01, True)])
async def test_the_reuse_window_is_ten_seconds_from_the_first_use(
    clock: FakeClock, later: float, reused: bool
) -> None:
    sessions = store(clock)
    use_case, credentials = refresher(clock, sessions)
    refresh_token = await logged_in(clock, sessions, credentials)
    await use_case.execute(RefreshRequest(refresh_token))
    clock.advance(later)

    if reused:
        with pytest.raises(RefreshTokenReused):
            await use_case.execute(RefreshRequest(refresh_token))
    else:
        await use_case.execute(RefreshRequest(refresh_token))


async def test_a_refresh_slides_the_session(clock: FakeClock) -> None:
    sessions = store(clock)
    use_case, credentials = refresher(clock, sessions)
    refresh_token = await logged_in(clock, sessions, credentials)
    clock.advance(600)

    refreshed = await use_case.execute(RefreshRequest(refresh_token))

    assert refreshed.issued.refresh_expires_in == 1000
