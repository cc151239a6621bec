"""The settings of this issue are checked at start like every other: a bad value names its
variable, and they reach the container."""

from __future__ import annotations

import pytest

from settings import ConfigError, Settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [("WECHAT_MAX_IN_FLIGHT", "0"), ("WECHAT_MAX_IN_FLIGHT", "many"), ("WECHAT_BACKLOG", "-1"),
     ("REQUEST_TIMEOUT_SECONDS", "0"), ("REQUEST_TIMEOUT_SECONDS", "soon")],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}:"):
        Settings.from_env({variable: value})


def test_the_defaults_bound_wechat_calls_and_slow_clients() -> None:
    config = Settings.from_env({}).as_config()
    assert (config["wechat_max_in_flight"], config["wechat_backlog"]) == (100, 500)
    assert config["request_timeout_seconds"] == 10.0


def test_a_backlog_of_zero_is_allowed_it_refuses_whenever_every_slot_is_busy() -> None:
    assert Settings.from_env({"WECHAT_BACKLOG": "0"}).wechat_backlog == 0
