"""The bench's tables: each path's service beside its floors (as deployed, bare, 2 workers),
the per-feature costs and the runs at scale (A/B pairs), then the targets with pass or fail.

Pure formatting over plain records, so it is checked without servers (tests/unit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.load import LOGIN_RATE_PER_MINUTE, Measurement, combine


@dataclass(frozen=True)
class PathResult:
    """One path under load: the service, its I/O floor, and (for ``/me``) the bare Sanic floor.

    On the paths measured as deployed, ``service`` is the service as deployed with 1 worker,
    ``plain`` the same service bare (no access line, no rate limit: how the bench ran it before)
    and ``two_workers`` the deployed service with WORKERS=2."""

    name: str
    service: Measurement
    floor: Measurement
    bare: Measurement | None = None
    plain: Measurement | None = None
    two_workers: Measurement | None = None


@dataclass(frozen=True)
class Comparison:
    """An A/B of one service against another alike but for one thing, in ABBA order: run ``i``
    of ``on`` and run ``i`` of ``off`` are a pair, measured one right after the other.

    ``kind`` "feature": ``on`` has a per-request feature and ``off`` lacks it (its cost is the
    CPU difference); "scale": ``on`` is the service at scale (a million sessions, a hundred
    apps) and ``off`` the usual one (the ratio should stay within noise of 1)."""

    label: str
    path: str
    on: tuple[Measurement, ...]
    off: tuple[Measurement, ...]
    kind: str = "feature"

    @property
    def deltas(self) -> list[float]:
        """CPU-ms per request, on − off, pair by pair."""
        return [a.cpu_ms_per_request - b.cpu_ms_per_request
                for a, b in zip(self.on, self.off, strict=False)]

    @property
    def ratios(self) -> list[float]:
        """CPU-ms per request, on / off, pair by pair."""
        return [_ratio(a.cpu_ms_per_request, b.cpu_ms_per_request)
                for a, b in zip(self.on, self.off, strict=False)]

    @property
    def cost(self) -> float:
        """CPU-ms per request with − without, over all the pairs' requests."""
        return combine(list(self.on)).cpu_ms_per_request - combine(
            list(self.off)).cpu_ms_per_request

    @property
    def ratio(self) -> float:
        return _ratio(combine(list(self.on)).cpu_ms_per_request,
                      combine(list(self.off)).cpu_ms_per_request)


@dataclass(frozen=True)
class RedisMemory:
    """``INFO memory`` used_memory (client buffers left out) before and after the logins."""

    logins: int
    per_session: float
    """Bytes per session added by the logins of users who already hold one (what outlives the
    login); the user's own key, paid once per user, is the contract test's to measure."""
    per_login: float
    """Bytes per login with the code-exchange claims, which expire after the code's 5 minutes."""
    families: dict[str, tuple[int, int, float]] = field(default_factory=dict)
    """Key family -> (keys, keys added by the logins, mean ``MEMORY USAGE`` of one), after the
    code claims are gone."""


@dataclass(frozen=True)
class OfflineCost:
    """A downstream service's CPU per access token it checks offline with PyJWT."""

    count: int
    decode_us: float
    """``jwt.decode`` with the key at hand: signature, ``iss``, ``aud``, ``exp``."""
    with_jwks_client_us: float
    """The same, the key looked up by ``kid`` in ``PyJWKClient``'s cache first."""


@dataclass(frozen=True)
class Target:
    label: str
    measured: float
    limit: float
    at_least: bool
    unit: str = ""

    @property
    def met(self) -> bool:
        if math.isnan(self.measured):
            return False
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def targets(
    paths: dict[str, PathResult],
    memory: RedisMemory | None,
    comparisons: dict[str, Comparison] | None = None,
    busiest_address: int | None = None,
) -> list[Target]:
    """The targets of the service as deployed (1 worker against the floors), for whichever
    paths were measured; then forward auth, the audit trail, the runs at scale, the client
    address pool (``busiest_address``: the most logins one address can have made in a minute)
    and the errors."""
    found: list[Target] = []
    comparisons = comparisons or {}
    login0, login50, me = paths.get("login0"), paths.get("login50"), paths.get("me")
    if login0 is not None:
        s, f = login0.service, login0.floor
        found += [
            Target("login, WeChat 0 ms: logins/s × login floor", _ratio(s.rps, f.rps), 0.6,
                   True, "×"),
            Target("login, WeChat 0 ms: CPU-ms per login × floor's",
                   _ratio(s.cpu_ms_per_request, f.cpu_ms_per_request), 1.5, False, "×"),
        ]
    if login50 is not None:
        s, f = login50.service, login50.floor
        found += [
            Target("login, WeChat 50 ms: logins/s × login floor", _ratio(s.rps, f.rps), 0.9,
                   True, "×"),
            Target("login, WeChat 50 ms: p99 × floor's p99", _ratio(s.p99_ms, f.p99_ms), 1.5,
                   False, "×"),
        ]
    if me is not None:
        s, f = me.service, me.floor
        found += [
            Target("/me: requests/s × /me floor", _ratio(s.rps, f.rps), 0.8, True, "×"),
            Target("/me: p99 × /me floor's p99", _ratio(s.p99_ms, f.p99_ms), 1.0, False, "×"),
        ]
    if memory is not None:
        found.append(Target("Redis bytes per added session (returning users)",
                            memory.per_session, 200, at_least=False))
    if me is not None and me.two_workers is not None:
        found.append(Target(
            "/me: WORKERS=2 × WORKERS=1 requests/s (as measured, wrk on the same cores)",
            _ratio(me.two_workers.rps, me.service.rps), 1.6, True, "×"))
    auth = paths.get("auth")
    if auth is not None and me is not None:
        # forward auth runs on the bare service: against /me on the same one
        same = me.plain or me.service
        found.append(Target(
            "forward auth: CPU-ms per request × /me's", _ratio(
                auth.service.cpu_ms_per_request, same.cpu_ms_per_request), 1.1, False, "×"))
    audit = paths.get("audit")
    if audit is not None:
        found.append(Target(
            "login CPU-ms, audit trail on / off",
            _ratio(audit.service.cpu_ms_per_request, audit.floor.cpu_ms_per_request),
            1.05, False, "×",
        ))
    for comparison in comparisons.values():
        if comparison.kind == "scale":
            found.append(Target(f"{comparison.path}: CPU-ms, {comparison.label} × usual",
                                comparison.ratio, 1.1, False, "×"))
    if busiest_address is not None:
        found.append(Target("busiest client address: logins in a minute (at most)",
                            busiest_address, LOGIN_RATE_PER_MINUTE, False))
    runs = [m for p in paths.values()
            for m in (p.service, p.floor, p.bare, p.plain, p.two_workers) if m is not None]
    runs += [m for c in comparisons.values() for m in (*c.on, *c.off)]
    if runs:
        found.append(Target("errors in all runs (429s included)", sum(m.errors for m in runs),
                            0, False))
    return found


def _number(value: float, digits: int = 0) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


_LABELS = {
    "login0": "login, WeChat 0 ms",
    "login50": "login, WeChat 50 ms",
    "me": "GET /api/v1/me",
    "auth": "GET /api/v1/auth (forward auth), bare service",
    "login_jwt": "login, JWT mode, WeChat 0 ms, bare service",
    "me_jwt": "GET /api/v1/me, JWT mode, bare service",
    "audit": "login, WeChat 0 ms, bare: audit trail on / off",
}
_HEADER = ("", "conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU-ms/req", "cores", "wrk cores")


def _row(label: str, m: Measurement) -> tuple[str, ...]:
    return (
        label,
        str(m.connections),
        _number(m.rps),
        _number(m.p50_ms, 1),
        _number(m.p99_ms, 1),
        str(m.errors),
        _number(m.cpu_ms_per_request, 3),
        _number(_ratio(m.cpu_seconds, m.seconds), 2),
        _number(_ratio(m.load_cpu_seconds, m.seconds), 2),
    )


def _times(a: float, b: float) -> str:
    value = _ratio(a, b)
    return "-" if math.isnan(value) else f"{value:.2f}×"


def _ratio_row(label: str, s: Measurement, f: Measurement) -> tuple[str, ...]:
    return (
        label,
        "",
        _times(s.rps, f.rps),
        _times(s.p50_ms, f.p50_ms),
        _times(s.p99_ms, f.p99_ms),
        "",
        _times(s.cpu_ms_per_request, f.cpu_ms_per_request),
        "",
        "",
    )


def _grid(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _path_rows(key: str, result: PathResult) -> list[tuple[str, ...]]:
    deployed = result.plain is not None or result.two_workers is not None
    rows = [(_LABELS.get(key, key), *[""] * (len(_HEADER) - 1))]
    floor_name = {"me": "  floor (1 Redis GET)", "auth": "  floor (1 Redis GET)",
                  "me_jwt": "  floor (1 Redis GET)", "audit": "  audit trail off"}.get(
        key, "  floor (its I/O only)")
    if result.bare is not None:
        rows.append(_row("  bare Sanic floor", result.bare))
    rows.append(_row(floor_name, result.floor))
    if result.plain is not None:
        rows.append(_row("  service, bare (1 worker)", result.plain))
    rows.append(_row("  service as deployed, 1 worker" if deployed else "  service",
                     result.service))
    if result.two_workers is not None:
        rows.append(_row("  service as deployed, 2 workers", result.two_workers))
    name = "deployed" if deployed else "service"
    rows.append(_ratio_row(f"  {name} / floor", result.service, result.floor))
    if result.bare is not None:
        rows.append(_ratio_row(f"  {name} / bare Sanic floor", result.service, result.bare))
    if result.plain is not None:
        rows.append(_ratio_row("  bare service / floor", result.plain, result.floor))
        rows.append(_ratio_row("  deployed / bare service", result.service, result.plain))
    if result.two_workers is not None:
        rows.append(_ratio_row("  2 workers / 1 worker", result.two_workers, result.service))
    return rows


def _signed(values: list[float]) -> str:
    return ", ".join("-" if math.isnan(v) else f"{v:+.3f}" for v in values)


def comparison_lines(comparisons: dict[str, Comparison]) -> list[str]:
    """The per-feature costs and the runs at scale, each from its ABBA pairs."""
    lines: list[str] = []
    features = [c for c in comparisons.values() if c.kind == "feature"]
    if features:
        lines += ["", "Per-request features as deployed (1 worker): CPU-ms a request with the "
                  "feature − without it, ABBA pairs"]
        rows = [("feature", "path", "with", "without", "cost", "pairs", "share", "req/s with",
                 "without")]
        for c in features:
            on, off = combine(list(c.on)), combine(list(c.off))
            rows.append((
                c.label, c.path, _number(on.cpu_ms_per_request, 3),
                _number(off.cpu_ms_per_request, 3), f"{c.cost:+.3f}", _signed(c.deltas),
                f"{100 * _ratio(c.cost, on.cpu_ms_per_request):.1f} %", _number(on.rps),
                _number(off.rps),
            ))
        lines += _grid(rows)
    scale = [c for c in comparisons.values() if c.kind == "scale"]
    if scale:
        lines += ["", "At scale, as deployed (1 worker), against the usual service: ABBA pairs"]
        rows = [("", "path", "usual CPU-ms", "at scale", "×", "pairs ×", "usual req/s",
                 "at scale", "×")]
        for c in scale:
            on, off = combine(list(c.on)), combine(list(c.off))
            rows.append((
                c.label, c.path, _number(off.cpu_ms_per_request, 3),
                _number(on.cpu_ms_per_request, 3), _times(on.cpu_ms_per_request,
                                                          off.cpu_ms_per_request),
                ", ".join(f"{r:.2f}" for r in c.ratios), _number(off.rps), _number(on.rps),
                _times(on.rps, off.rps),
            ))
        lines += _grid(rows)
    return lines


def table(
    paths: dict[str, PathResult], memory: RedisMemory | None, offline: OfflineCost | None = None,
    *, comparisons: dict[str, Comparison] | None = None, busiest_address: int | None = None,
    notes: list[str] | None = None,
) -> str:
    """The whole report: per path the service, floor(s) and ratios; the features' costs and
    the runs at scale; Redis; the downstream's offline check of an access token; the targets."""
    rows: list[tuple[str, ...]] = [_HEADER]
    for key, result in paths.items():
        rows += _path_rows(key, result)
    lines = _grid(rows) if len(rows) > 1 else []
    lines += comparison_lines(comparisons or {})
    if memory is not None:
        lines += [
            "",
            f"Redis, {memory.logins:,} logins of users who already had a session: "
            f"{memory.per_session:,.0f} bytes per added session (what outlives a login); "
            f"{memory.per_login:,.0f} bytes per login with the 5-minute code claims (a user's "
            "own key is measured by the session store's contract test)",
        ]
        lines += [
            f"  {family:<8} {count:>9,} keys ({added:+,}), ~{size:,.0f} bytes each (MEMORY USAGE)"
            for family, (count, added, size) in sorted(memory.families.items())
        ]
    if offline is not None:
        lines += [
            "",
            f"Offline check of an access token (PyJWT, EdDSA, {offline.count:,} in a row): "
            f"{offline.decode_us:,.0f} CPU-µs each with the key at hand, "
            f"{offline.with_jwks_client_us:,.0f} through PyJWKClient's key cache",
        ]
    if notes:
        lines += ["", *notes]
    checks = targets(paths, memory, comparisons, busiest_address)
    if checks:
        lines += ["", "Targets (the service as deployed, 1 worker, against the floors)"]
        rows = [("target", "measured", "limit", "")]
        for check in checks:
            digits = 2 if check.unit == "×" or 0 < check.limit < 10 else 0
            sign = "≥" if check.at_least else "≤"
            rows.append(
                (
                    check.label,
                    _number(check.measured, digits) + check.unit,
                    f"{sign} {_number(check.limit, digits)}{check.unit}",
                    "pass" if check.met else "FAIL",
                )
            )
        lines += _grid(rows)
    return "\n".join(lines)
