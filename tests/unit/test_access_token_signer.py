"""The joserfc signer: what it signs, what it refuses, and its cache of verified signatures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import access_tokens
from adapters.access_tokens import JoserfcAccessTokenSigner, new_private_key_pem
from domain.ports import AccessTokenClaims
from tests.fakes import FakeClock

KEY = new_private_key_pem().decode()


def signer(clock: FakeClock) -> JoserfcAccessTokenSigner:
    return JoserfcAccessTokenSigner(signing_key=KEY, verify_keys=[], issuer="i", audience="a",
                                    clock=clock)


def claims(clock: FakeClock, ttl: int = 300) -> AccessTokenClaims:
    now = int(clock.now())
    return AccessTokenClaims(user_id=7, session_id="sid", app="shop", platform="qq",
                             issued_at=now, expires_at=now + ttl)


def test_a_signed_token_verifies_to_its_claims(clock: FakeClock) -> None:
    tokens = signer(clock)
    issued = claims(clock)
    assert tokens.verify(tokens.sign(issued)) == issued


def test_a_remembered_token_still_expires(clock: FakeClock) -> None:
    tokens = signer(clock)
    token = tokens.sign(claims(clock, ttl=60))
    assert tokens.verify(token) is not None  # verified, and remembered

    clock.advance(61)

    assert tokens.verify(token) is None


def test_another_signer_s_cache_does_not_vouch_for_a_token(clock: FakeClock) -> None:
    token = signer(clock).sign(claims(clock))
    other = JoserfcAccessTokenSigner(signing_key=new_private_key_pem().decode(), verify_keys=[],
                                     issuer="i", audience="a", clock=clock)
    assert other.verify(token) is None


def test_the_cache_keeps_at_most_its_size(
    clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access_tokens, "VERIFIED_CACHE_SIZE", 3)
    tokens = signer(clock)
    issued = [tokens.sign(AccessTokenClaims(n, "sid", "a", "p", clock.now(), clock.now() + 60))
              for n in range(1, 6)]
    for token in issued:
        assert tokens.verify(token) is not None
    assert list(tokens._verified) == issued[-3:]


def test_only_verified_tokens_are_remembered(clock: FakeClock) -> None:
    tokens = signer(clock)
    token = tokens.sign(claims(clock))
    head, _, signature = token.rpartition(".")
    forged = f"{head}.{'A' * len(signature)}"
    assert tokens.verify(forged) is None
    assert forged not in tokens._verified


@given(st.text(max_size=600))
def test_any_text_is_refused_and_never_raises(text: str) -> None:
    assert signer(FakeClock()).verify(text) is None
