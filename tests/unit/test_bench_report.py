"""The bench's table and target checks (``bench/report.py``, ``bench/profile.py``), no servers."""

from __future__ import annotations

import pytest

from bench.load import Measurement, combine
from bench.profile import summarise
from bench.report import PathResult, RedisMemory, table, targets
from bench.run import _family


def run(rps: float, p99_ms: float, cpu_ms: float, errors: int = 0) -> Measurement:
    requests = round(rps * 10)
    return Measurement(
        requests=requests,
        seconds=10.0,
        p50_ms=p99_ms / 3,
        p99_ms=p99_ms,
        errors=errors,
        cpu_seconds=cpu_ms * requests / 1000,
        connections=32,
    )


PATHS = {
    "login0": PathResult("login0", service=run(2000, 30, 0.4), floor=run(3000, 20, 0.3)),
    "login50": PathResult("login50", service=run(1100, 90, 0.5), floor=run(1160, 80, 0.3)),
    "me": PathResult(
        "me", service=run(9500, 15, 0.1), floor=run(11000, 25, 0.08), bare=run(14000, 22, 0.05)
    ),
}
MEMORY = RedisMemory(logins=50_000, per_session=150.0, per_login=290.0,
                     families={"wl:s…": (60_000, 50_000, 96.0)})


def test_targets_met_by_figures_within_every_limit_all_pass() -> None:
    checks = targets(PATHS, MEMORY)

    assert len(checks) == 10
    assert all(check.met for check in checks), [c.label for c in checks if not c.met]


def test_a_slow_service_fails_the_throughput_and_ratio_targets_only() -> None:
    slow = dict(PATHS, login0=PathResult("login0", run(1000, 30, 0.4), run(3000, 20, 0.3)))

    failed = [check.label for check in targets(slow, MEMORY) if not check.met]

    assert failed == ["login, WeChat 0 ms: logins/s", "login, WeChat 0 ms: × login floor"]


def test_errors_in_any_run_fail_the_errors_target() -> None:
    broken = dict(PATHS, me=PathResult("me", run(9500, 15, 0.1, errors=3), run(11000, 25, 0.08)))

    errors = [check for check in targets(broken, None) if check.label == "errors in all runs"]

    assert [(check.measured, check.met) for check in errors] == [(3, False)]


def test_the_table_shows_each_path_its_ratios_redis_and_the_verdicts() -> None:
    text = table(PATHS, MEMORY)

    assert "login, WeChat 0 ms" in text
    assert "service / bare floor" in text
    assert "0.67×" in text  # 2,000 / 3,000 logins/s
    assert "150 bytes per session" in text
    assert "wl:s…" in text
    assert "FAIL" not in text
    assert text.count("pass") == 10


def test_the_profile_summary_sums_samples_by_library_and_function() -> None:
    raw = "\n".join([
        "<module> (entrypoints/__main__.py:1);run (/x/site-packages/sanic/app.py:10) 3",
        "<module> (entrypoints/__main__.py:1);execute (/w/domain/use_cases/login.py:5);"
        "get (/x/site-packages/redis/client.py:9) 1",
    ])

    summary = summarise(raw)

    assert "4 samples" in summary
    assert " 75.0 %  sanic" in summary
    assert " 25.0 %  execute (use_cases/login.py)" in summary


def test_runs_of_one_process_combine_into_totals_and_mean_percentiles() -> None:
    combined = combine([run(1000, 30, 0.4), run(3000, 60, 0.2, errors=2)])

    assert combined.requests == 40_000
    assert combined.seconds == 20.0
    assert combined.rps == 2000
    assert combined.p99_ms == 45
    assert combined.errors == 2
    assert abs(combined.cpu_ms_per_request - 0.25) < 1e-9  # (4 + 6) CPU-s over 40,000


@pytest.mark.parametrize(
    ("key", "family"),
    [
        (b"wl:u:Zk3-q_0aBcDeFgHi", "wl:u…"),
        (b"wl:c:" + b"ab" * 32, "wl:c…"),
        (b"wl:rlogin:127.0.0.1:29000000", "wl:r…"),
        (b"staging:u:Zk3-q_0aBcDeFgHi", "staging:u…"),
    ],
)
def test_redis_keys_are_grouped_by_their_kind_letter(key: bytes, family: str) -> None:
    assert _family(key) == family
