"""The bench's table: each path's service figures beside its floors, then issue 4's targets.

Pure formatting over plain records, so it is checked without servers (tests/unit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bench.load import Measurement


@dataclass(frozen=True)
class PathResult:
    """One path under load: the service, its I/O floor, and (for ``/me``) the bare floor."""

    name: str
    service: Measurement
    floor: Measurement
    bare: Measurement | None = None


@dataclass(frozen=True)
class RedisMemory:
    """``INFO memory`` used_memory (client buffers left out) before and after the logins."""

    logins: int
    per_session: float
    """Bytes per session of the keys that outlive the login: sessions and the per-user index."""
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


def targets(paths: dict[str, PathResult], memory: RedisMemory | None) -> list[Target]:
    """Issue 4's targets, for whichever paths were measured."""
    found: list[Target] = []
    login0, login50, me = paths.get("login0"), paths.get("login50"), paths.get("me")
    if login0 is not None:
        s, f = login0.service, login0.floor
        found += [
            Target("login, WeChat 0 ms: logins/s", s.rps, 1300, at_least=True, unit="/s"),
            Target("login, WeChat 0 ms: × login floor", _ratio(s.rps, f.rps), 0.6, True, "×"),
            Target("login, WeChat 0 ms: CPU-ms per login", s.cpu_ms_per_request, 0.5, False),
        ]
    if login50 is not None:
        s, f = login50.service, login50.floor
        found += [
            Target("login, WeChat 50 ms: × login floor", _ratio(s.rps, f.rps), 0.9, True, "×"),
            Target(
                "login, WeChat 50 ms: p99 × floor's p99",
                _ratio(s.p99_ms, f.p99_ms),
                1.5,
                False,
                "×",
            ),
        ]
    if me is not None:
        s, f = me.service, me.floor
        found += [
            Target("/me: requests/s", s.rps, 9000, at_least=True, unit="/s"),
            Target("/me: × /me floor", _ratio(s.rps, f.rps), 0.8, True, "×"),
            Target(
                "/me: p99 × plain /me floor's p99", _ratio(s.p99_ms, f.p99_ms), 0.75, False, "×"
            ),
        ]
    auth = paths.get("auth")
    if auth is not None and me is not None:
        found.append(Target(
            "forward auth: CPU-ms per request × /me's", _ratio(
                auth.service.cpu_ms_per_request, me.service.cpu_ms_per_request), 1.1, False, "×"))
    audit = paths.get("audit")
    if audit is not None:
        found.append(Target(
            "login CPU-ms, audit trail on / off",
            _ratio(audit.service.cpu_ms_per_request, audit.floor.cpu_ms_per_request),
            1.05, False, "×",
        ))
    if memory is not None:
        found.append(
            Target(
                "Redis bytes per session (index included)", memory.per_session, 200, at_least=False
            )
        )
    runs = [m for p in paths.values() for m in (p.service, p.floor, p.bare) if m is not None]
    if runs:
        found.append(Target("errors in all runs", sum(m.errors for m in runs), 0, False))
    return found


def _number(value: float, digits: int = 0) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


_LABELS = {
    "login0": "login, WeChat 0 ms",
    "login50": "login, WeChat 50 ms",
    "me": "GET /api/v1/me",
    "auth": "GET /api/v1/auth (forward auth)",
    "login_jwt": "login, JWT mode, WeChat 0 ms",
    "me_jwt": "GET /api/v1/me, JWT mode",
    "audit": "login, WeChat 0 ms: audit trail on (service) and off (AUDIT_RETENTION_DAYS=0)",
}
_HEADER = ("", "conns", "req/s", "p50 ms", "p99 ms", "errors", "CPU-ms/req")


def _row(label: str, m: Measurement) -> tuple[str, ...]:
    return (
        label,
        str(m.connections),
        _number(m.rps),
        _number(m.p50_ms, 1),
        _number(m.p99_ms, 1),
        str(m.errors),
        _number(m.cpu_ms_per_request, 3),
    )


def _ratio_row(label: str, s: Measurement, f: Measurement) -> tuple[str, ...]:
    def times(a: float, b: float) -> str:
        value = _ratio(a, b)
        return "-" if math.isnan(value) else f"{value:.2f}×"

    return (
        label,
        "",
        times(s.rps, f.rps),
        times(s.p50_ms, f.p50_ms),
        times(s.p99_ms, f.p99_ms),
        "",
        times(s.cpu_ms_per_request, f.cpu_ms_per_request),
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


def table(
    paths: dict[str, PathResult], memory: RedisMemory | None, offline: OfflineCost | None = None
) -> str:
    """The whole report: per path the service, floor(s) and ratios; Redis; the downstream's
    offline check of an access token; the targets."""
    rows: list[tuple[str, ...]] = [_HEADER]
    for key, result in paths.items():
        rows.append((_LABELS.get(key, key), "", "", "", "", "", ""))
        rows.append(_row("  service", result.service))
        floor_name = {"me": "  floor (1 Redis GET)", "auth": "  floor (1 Redis GET)",
                      "me_jwt": "  floor (1 Redis GET)", "audit": "  audit trail off"}.get(
            key, "  floor (its I/O only)")
        rows.append(_row(floor_name, result.floor))
        if result.bare is not None:
            rows.append(_row("  bare Sanic floor", result.bare))
        rows.append(_ratio_row("  service / floor", result.service, result.floor))
        if result.bare is not None:
            rows.append(_ratio_row("  service / bare floor", result.service, result.bare))
    lines = _grid(rows) if len(rows) > 1 else []
    if memory is not None:
        lines += [
            "",
            f"Redis, {memory.logins:,} logins: {memory.per_session:,.0f} bytes per session "
            f"(sessions + index); {memory.per_login:,.0f} bytes per login with the 5-minute "
            "code claims",
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
    checks = targets(paths, memory)
    if checks:
        lines += ["", "Targets (issue 4)"]
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
