"""The code grammar is written once (``domain.codes``); every reader of a code agrees with it."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from domain.codes import MAX_CODE_LENGTH, is_well_formed_code
from domain.errors import InvalidRequest
from entrypoints import schemas

codes = st.text(st.characters(min_codepoint=0, max_codepoint=0x200), max_size=MAX_CODE_LENGTH + 2)


def login_accepts(code: str) -> bool:
    try:
        schemas.login_code(orjson.dumps({"js_code": code}))
    except InvalidRequest:
        return False
    return True


def phone_accepts(code: str) -> bool:
    try:
        schemas.read(schemas.PHONE, orjson.dumps({"code": code}))
    except InvalidRequest:
        return False
    return True


@given(codes)
@example("")
@example("!~" * 64)
@example("!~" * 64 + "!")
@example("code\n")
@example("co de")
@example("c\x7fode")
def test_the_login_and_phone_bodies_accept_exactly_the_well_formed_codes(code: str) -> None:
    expected = 0 < len(code) <= MAX_CODE_LENGTH and all("!" <= c <= "~" for c in code)
    assert is_well_formed_code(code) is expected
    assert login_accepts(code) is expected
    assert phone_accepts(code) is expected


@pytest.mark.parametrize(
    ("body", "code"),
    [(b'{"code": "a", "js_code": "b"}', "a"), (b'{"code": "a", "js_code": 5}', "a"),
     (b'{"js_code": "b"}', "b")],
)
def test_code_wins_over_js_code_which_is_then_not_read(body: bytes, code: str) -> None:
    assert schemas.login_code(body) == (code, None)


@pytest.mark.parametrize(
    "body", [b"", b"[1]", b"{}", b'{"code": null, "js_code": "b"}', b'{"code": "a"} x',
             b'{"code": "\\ud800"}'],
)
def test_a_login_body_without_one_well_formed_code_is_invalid(body: bytes) -> None:
    with pytest.raises(InvalidRequest):
        schemas.login_code(body)
