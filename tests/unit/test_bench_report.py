"""The bench's tables, target checks and plan (``bench/report.py``, ``bench/run.py``,
``bench/profile.py``), no servers."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from bench.infra import BenchError
from bench.load import XFF_POOL_SIZE, Measurement, address_pool, app_of, combine
from bench.many_apps import apps_toml
from bench.profile import summarise
from bench.report import Comparison, PathResult, RedisMemory, Target, table, targets
from bench.run import PLAN, LoginRun, _family, abba, busiest_address, chosen_groups
from settings.apps import load_apps


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
        "me", service=run(9500, 15, 0.1), floor=run(11000, 25, 0.08), bare=run(14000, 22, 0.05),
        plain=run(10000, 14, 0.09), two_workers=run(16000, 12, 0.1),
    ),
}
MEMORY = RedisMemory(logins=50_000, per_session=150.0, per_login=290.0,
                     families={"wl:s…": (60_000, 50_000, 96.0)})


def labels(checks: list[Target]) -> list[str]:
    return [check.label for check in checks]


def test_targets_met_by_figures_within_every_limit_all_pass() -> None:
    checks = targets(PATHS, MEMORY)

    assert labels(checks) == [
        "login, WeChat 0 ms: logins/s × login floor",
        "login, WeChat 0 ms: CPU-ms per login × floor's",
        "login, WeChat 50 ms: logins/s × login floor",
        "login, WeChat 50 ms: p99 × floor's p99",
        "/me: requests/s × /me floor",
        "/me: p99 × /me floor's p99",
        "Redis bytes per added session (returning users)",
        "/me: WORKERS=2 × WORKERS=1 requests/s (as measured, wrk on the same cores)",
        "errors in all runs (429s included)",
    ]
    assert all(check.met for check in checks), [c.label for c in checks if not c.met]


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        ({"login0": PathResult("login0", run(1700, 30, 0.4), run(3000, 20, 0.3))},
         ["login, WeChat 0 ms: logins/s × login floor"]),  # 0.57×
        ({"login0": PathResult("login0", run(2000, 30, 0.46), run(3000, 20, 0.3))},
         ["login, WeChat 0 ms: CPU-ms per login × floor's"]),  # 1.53×
        ({"login50": PathResult("login50", run(1000, 90, 0.5), run(1160, 80, 0.3))},
         ["login, WeChat 50 ms: logins/s × login floor"]),  # 0.86×
        ({"login50": PathResult("login50", run(1100, 121, 0.5), run(1160, 80, 0.3))},
         ["login, WeChat 50 ms: p99 × floor's p99"]),  # 1.51×
        ({"me": PathResult("me", run(8700, 15, 0.1), run(11000, 25, 0.08))},
         ["/me: requests/s × /me floor"]),  # 0.79×
        ({"me": PathResult("me", run(9500, 26, 0.1), run(11000, 25, 0.08))},
         ["/me: p99 × /me floor's p99"]),  # 1.04×
        ({"me": PathResult("me", run(9500, 15, 0.1), run(11000, 25, 0.08),
                           two_workers=run(15000, 12, 0.1))},
         ["/me: WORKERS=2 × WORKERS=1 requests/s (as measured, wrk on the same cores)"]),
    ],
)
def test_each_target_fails_alone_just_past_its_limit(
    change: dict[str, PathResult], failed: list[str]
) -> None:
    assert labels([c for c in targets(PATHS | change, MEMORY) if not c.met]) == failed


def test_redis_bytes_per_session_over_200_fail() -> None:
    fat = RedisMemory(logins=50_000, per_session=201.0, per_login=290.0)

    assert labels([c for c in targets(PATHS, fat) if not c.met]) == [
        "Redis bytes per added session (returning users)"]


def test_errors_in_any_run_fail_the_errors_target() -> None:
    broken = dict(PATHS, me=PathResult("me", run(9500, 15, 0.1, errors=3), run(11000, 25, 0.08)))

    errors = [check for check in targets(broken, None) if check.label.startswith("errors")]

    assert [(check.measured, check.met) for check in errors] == [(3, False)]


def test_errors_in_a_comparisons_runs_count_too() -> None:
    limited = Comparison("rate limit", "login 0 ms", (run(2000, 30, 0.42, errors=7),),
                         (run(2000, 30, 0.4),))

    errors = [c for c in targets(PATHS, None, {"rate_limit": limited})
              if c.label.startswith("errors")]

    assert [(check.measured, check.met) for check in errors] == [(7, False)]


def test_a_busy_address_past_the_rate_limit_fails() -> None:
    def verdict(busiest: int) -> bool:
        return next(c.met for c in targets(PATHS, None, busiest_address=busiest)
                    if c.label.startswith("busiest"))

    assert (verdict(60), verdict(61)) == (True, False)


def test_a_features_cost_is_the_cpu_difference_pair_by_pair() -> None:
    access = Comparison("access line", "/me", on=(run(1000, 20, 0.50), run(1000, 20, 0.54)),
                        off=(run(1000, 20, 0.40), run(1000, 20, 0.48)))

    assert access.deltas == pytest.approx([0.10, 0.06])
    assert access.cost == pytest.approx(0.08)  # 1.04 − 0.88 CPU-ms over 2 × 10,000 requests
    assert access.ratio == pytest.approx(1.04 / 0.88)


def test_scale_runs_are_held_to_ten_percent_of_the_usual_cpu() -> None:
    def verdict(cpu_ms: float) -> bool:
        big = Comparison("1,000,000 more sessions", "/me", (run(9000, 15, cpu_ms),),
                         (run(9500, 15, 0.1),), "scale")
        return next(c.met for c in targets({}, None, {"sessions_me": big}))

    assert (verdict(0.109), verdict(0.111)) == (True, False)


def test_the_table_shows_each_column_its_ratios_the_features_and_the_verdicts() -> None:
    access = Comparison("access line", "/me", (run(9500, 15, 0.1),), (run(9800, 15, 0.09),))
    text = table(PATHS, MEMORY, comparisons={"access_line": access})

    assert "login, WeChat 0 ms" in text
    assert "service as deployed, 2 workers" in text
    assert "service, bare (1 worker)" in text
    assert "deployed / bare Sanic floor" in text
    assert "2 workers / 1 worker" in text
    assert "0.67×" in text  # 2,000 / 3,000 logins/s
    assert "+0.010" in text  # the access line's cost
    assert "150 bytes per added session" in text
    assert "wl:s…" in text
    assert "FAIL" not in text
    assert text.count("pass") == 9


def test_the_address_pool_is_distinct_dotted_quads() -> None:
    pool = address_pool(70_000)

    assert pool[:2] == ["10.0.0.0", "10.0.0.1"]
    assert pool[-1] == "10.1.17.111"  # 69,999 = 1 × 65,536 + 17 × 256 + 111
    assert len(set(pool)) == 70_000
    assert all(str(ipaddress.IPv4Address(a)) == a for a in pool[::997])


def test_round_the_pool_no_address_nears_the_limit_at_the_benchs_rates() -> None:
    # 3,000 logins a second for a whole minute, in ten runs each starting anywhere
    runs = [LoginRun(started=6.0 * n, ended=6.0 * n + 6, first=n * 7919, logins=18_000)
            for n in range(10)]

    assert busiest_address(runs, XFF_POOL_SIZE) <= 10


def test_the_busiest_address_counts_laps_and_runs_in_one_window() -> None:
    two_laps = LoginRun(started=0.0, ended=10.0, first=5, logins=25)  # 10 addresses
    assert busiest_address([two_laps], 10) == 3  # 25 = 2 laps + 5 more

    same_minute = [LoginRun(0.0, 5.0, 0, 4), LoginRun(10.0, 15.0, 2, 4)]
    assert busiest_address(same_minute, 10) == 2  # addresses 2 and 3

    next_minute = [LoginRun(0.0, 5.0, 0, 4), LoginRun(70.0, 75.0, 2, 4)]
    assert busiest_address(next_minute, 10) == 1

    straddling = [LoginRun(50.0, 65.0, 0, 4), LoginRun(70.0, 75.0, 0, 4)]
    assert busiest_address(straddling, 10) == 2  # counted whole in both windows


def test_abba_runs_the_targets_forth_then_back() -> None:
    assert abba(("a", "b", "c"), 3) == ["a", "b", "c", "c", "b", "a", "a", "b", "c"]


def test_paths_pick_groups_by_name_or_alias_and_refuse_unknown_ones() -> None:
    assert [g.name for g in chosen_groups(("features", "me"))] == [
        "me", "access_line", "metrics", "request_id", "rate_limit"]
    assert [g.name for g in chosen_groups(())] == [g.name for g in PLAN]
    with pytest.raises(BenchError, match="unknown --paths nope"):
        chosen_groups(("nope",))


def test_the_apps_file_of_many_apps_is_one_the_service_accepts(tmp_path: Path) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(apps_toml(100, "http://127.0.0.1:9/", "s3cret-s3cret"))

    apps = load_apps(str(path), production=False)

    assert [app.id for app in apps] == [app_of(n, 100) for n in range(100)]
    assert len({app.appid for app in apps}) == 100
    assert apps[7].api_base == "http://127.0.0.1:9/a007"


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
