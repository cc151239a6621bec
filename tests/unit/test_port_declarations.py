"""Adapters declare the port they implement by subclassing its ``Protocol``, so that the type
check compares each method's signature with the port's: a drifted adapter fails ``mypy``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

import adapters

NOT_PORTS = {
    # Machinery of the adapters themselves, not implementations of a domain port.
    "adapters.instrumented.Timer",
    "adapters.port_metrics.StoreTimer",
    "adapters.port_metrics.WeChatTimer",
    "adapters.redis.client._Client",
    "adapters.redis.client._Cluster",
    # Release 0.1.0's sessions: LegacyAwareSessionStore serves them through the SessionStore port.
    "adapters.redis.legacy_sessions.LegacySessionReader",
    "adapters.redis.pool.BoundedPool",
    # A session store's token calls, each by the token's session id: mixed into the stores.
    "adapters.token_calls.TokenCallsById",
    "adapters.sqlalchemy.outbox.WebhookMessages",  # a helper on the account store's connection
    # Webhook delivery: background machinery of the adapters, no use case drives it.
    "adapters.sqlalchemy.outbox.SqlAlchemyOutbox",
    "adapters.webhooks.WebhookSender",
}
ROOT = Path(__file__).resolve().parents[2]


def _ports_of(cls: type) -> list[str]:
    return [base.__name__ for base in cls.__mro__[1:]
            if getattr(base, "_is_protocol", False) and base.__module__.startswith("domain.")]


def _adapter_classes() -> list[type]:
    found = []
    for module_info in pkgutil.walk_packages(adapters.__path__, "adapters."):
        module = importlib.import_module(module_info.name)
        for cls in vars(module).values():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                found.append(cls)
    return found


def test_every_adapter_with_asynchronous_methods_declares_its_port() -> None:
    undeclared = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _adapter_classes()
        if any(inspect.iscoroutinefunction(member) for name, member in vars(cls).items()
               if not name.startswith("_"))
        and not _ports_of(cls)
        and f"{cls.__module__}.{cls.__qualname__}" not in NOT_PORTS
    ]
    assert undeclared == []


@pytest.mark.parametrize(
    ("adapter", "ports"),
    [
        ("adapters.memory.InMemorySessionStore", ["SessionStore"]),
        ("adapters.redis.RedisRateLimiter", ["RateLimiter"]),
        ("adapters.sqlalchemy.users.SqlAlchemyUserRepository", ["UserRepository"]),
        ("adapters.sqlalchemy.accounts.SqlAlchemyAccountStore",
         ["AccountStore", "UserPhoneStore"]),
        ("adapters.wechat.platform.AiohttpWeChatPlatform", ["WeChatPlatform"]),
        ("adapters.crypto.CryptographyCipher", ["Cipher"]),
        ("adapters.system.SystemClock", ["Clock"]),
    ],
)
def test_adapters_without_asynchronous_methods_declare_theirs_too(
    adapter: str, ports: list[str]
) -> None:
    module, _, name = adapter.rpartition(".")
    assert _ports_of(getattr(importlib.import_module(module), name)) == ports


DECLARED = """
from domain.ports import RateLimiter

class SampleLimiter(RateLimiter):
    async def hit(self, key: str, *, limit: int, window: int, now: float) -> int | None:
        return None

SampleLimiter()
"""
DRIFTED = """
from domain.ports import RateLimiter

class SampleLimiter(RateLimiter):
    async def hit(self, key: str, *, limit: int, now: float) -> int | None:
        return None
"""
INCOMPLETE = """
from domain.ports import UserRepository

class SampleUsers(UserRepository):
    async def ping(self) -> None:
        return None

SampleUsers()
"""


def _type_check(tmp_path: Path, source: str) -> tuple[str, int]:
    sample = tmp_path / "sample_adapter.py"
    sample.write_text(textwrap.dedent(source))
    stdout, _, status = mypy_api.run([
        "--strict", "--no-incremental", "--follow-imports=silent",
        "--cache-dir", str(tmp_path / "cache"), "--python-version", "3.11", str(sample),
    ])
    return stdout, status


@pytest.mark.usefixtures("_at_the_root")
def test_a_drifted_or_missing_method_fails_the_type_check(tmp_path: Path) -> None:
    stdout, status = _type_check(tmp_path, DECLARED)
    assert status == 0, stdout

    stdout, status = _type_check(tmp_path, DRIFTED)
    assert status == 1
    assert 'Signature of "hit" incompatible with supertype' in stdout, stdout

    stdout, status = _type_check(tmp_path, INCOMPLETE)
    assert status == 1
    assert 'Cannot instantiate abstract class "SampleUsers"' in stdout, stdout


@pytest.fixture
def _at_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # where mypy finds the domain package
