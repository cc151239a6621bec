"""The account domain's small rules: networks, user agents, cursors."""

from __future__ import annotations

import pytest

from domain.accounts import clip_user_agent, cursor_text, network_of, parse_cursor


@pytest.mark.parametrize(("address", "network"), [
    ("203.0.113.77", "203.0.113.0/24"),
    ("2001:db8:1234:5678::1", "2001:db8:1234::/48"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"),
    (" 10.1.2.3 ", "10.1.2.0/24"),
    ("", None),
    ("not an address", None),
    ("203.0.113.0/24", None),
])
def test_a_client_address_is_kept_as_its_network_only(address: str, network: str | None) -> None:
    assert network_of(address) == network


def test_a_user_agent_is_cut_to_256_characters_and_an_empty_one_is_none() -> None:
    assert clip_user_agent("x" * 300) == "x" * 256
    assert clip_user_agent("") is None
    assert clip_user_agent(None) is None


def test_a_cursor_reads_back_and_anything_else_is_no_cursor() -> None:
    assert parse_cursor(cursor_text((1765011600000000, 7))) == (1765011600000000, 7)
    for text in ("", "7", "-7", "a-b", "1-", "-1", "1-2-3", "١-٢", "1" * 20 + "-1"):
        assert parse_cursor(text) is None, text
