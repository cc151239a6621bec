"""One wrapper that times every call of a port into Prometheus metrics.

The container wraps the real adapters (or the tests' fakes) with :func:`instrumented`, so neither
the domain nor the adapters know about metrics. What is wrapped is read from the port itself (its
``Protocol`` classes) when the wrapper is made: every asynchronous method of the port is timed,
and the wrapper has nothing else; no ``__getattr__`` forwards a name untimed. A port member that
cannot be timed (an attribute, a synchronous method not declared pure, a method the adapter
lacks, inherits from the Protocol or has synchronous) is a ``TypeError`` at construction, that
is, at start. The metrics, their labels and the timers are in ``adapters/port_metrics.py``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar, cast

from adapters.port_metrics import (
    AccessTokenRefreshes,
    PortMetrics,
    StoreTimer,
    WeChatTimer,
    wechat_errcode,
    wechat_outcome,
)
from domain.platform import WeChatPlatform
from domain.ports import SessionStore, UserRepository, WeChatGateway

__all__ = ["Port", "PortMetrics", "instrumented", "wechat_errcode", "wechat_outcome"]

P = TypeVar("P")
T = TypeVar("T")


class Timer(Protocol):
    """Times (and counts) one port's calls under a bounded label."""

    async def timed(self, label: str, call: Awaitable[T]) -> T: ...


class Hook(Protocol):
    """Something more to record about one method's calls, after its timer has."""

    def ok(self, result: object) -> None: ...

    def failed(self, failure: Exception) -> None: ...


@dataclass(frozen=True)
class Port(Generic[P]):
    """How to instrument one port ``P``: its ``Protocol`` classes (the methods to time), its
    timer, the labels of methods not labelled by their own name, the synchronous methods that
    are pure (no I/O: forwarded as they are) and the extra hooks of some methods."""

    protocols: tuple[type, ...]
    timer: Callable[[PortMetrics], Timer]
    labels: Mapping[str, str] = field(default_factory=dict)
    pure: frozenset[str] = frozenset()
    hooks: Mapping[str, Callable[[PortMetrics], Hook]] = field(default_factory=dict)

    def members(self) -> dict[str, object]:
        """Every public member that the protocols declare, as declared."""
        found: dict[str, object] = {}
        for protocol in self.protocols:
            for cls in reversed(protocol.__mro__):
                if cls in (object, Protocol, Generic):
                    continue
                names = {**vars(cls), **dict.fromkeys(vars(cls).get("__annotations__", {}))}
                for name, declared in names.items():
                    if not name.startswith("_"):
                        found[name] = declared
        return found

    def wrap(self, inner: P, metrics: PortMetrics) -> P:
        """:func:`instrumented` with this port (typed as the port where the caller uses it)."""
        return instrumented(inner, port=self, metrics=metrics)


class _Instrumented:
    """The wrapper's type: its public attributes are the timed methods, set at construction."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def __repr__(self) -> str:
        return f"instrumented({self._inner!r})"


def instrumented(inner: P, *, port: Port[P], metrics: PortMetrics) -> P:
    """``inner`` seen through ``port``, every asynchronous method of the port timed.

    Raises ``TypeError`` for a member of the port that cannot be timed or forwarded safely."""
    timer = port.timer(metrics)
    wrapper = _Instrumented(inner)
    for name, declared in port.members().items():
        method = getattr(inner, name, None)
        if getattr(type(inner), name, None) is declared:  # inherited from the Protocol: a stub
            raise TypeError(f"{type(inner).__name__} does not implement {name}")
        if name in port.pure and inspect.isfunction(declared) and callable(method):
            setattr(wrapper, name, method)  # synchronous and pure: nothing to time
        elif inspect.iscoroutinefunction(declared) and inspect.iscoroutinefunction(method):
            hook = port.hooks[name](metrics) if name in port.hooks else None
            setattr(wrapper, name, _timed(method, port.labels.get(name, name), timer, hook))
        else:
            raise TypeError(
                f"cannot time {type(inner).__name__}.{name} (declared by the port as "
                f"{declared!r}): the port's methods must be asynchronous, or declared pure"
            )
    return cast(P, wrapper)


def _timed(
    method: Callable[..., Awaitable[object]], label: str, timer: Timer, hook: Hook | None
) -> Callable[..., Awaitable[object]]:
    if hook is None:
        @functools.wraps(method)
        async def timed(*args: object, **kwargs: object) -> object:
            return await timer.timed(label, method(*args, **kwargs))
        return timed

    @functools.wraps(method)
    async def hooked(*args: object, **kwargs: object) -> object:
        try:
            result = await timer.timed(label, method(*args, **kwargs))
        except Exception as failure:
            hook.failed(failure)
            raise
        hook.ok(result)
        return result
    return hooked


class UserStore(UserRepository, Protocol):
    """The user store as the use cases see it."""


SESSIONS: Port[SessionStore] = Port(
    (SessionStore,),
    lambda metrics: StoreTimer("sessions", metrics.session_store_seconds),
    # By token or by the session's id, one operation each (the labels dashboards know).
    labels={"get_by_id": "get", "extend_by_id": "extend", "logout_by_id": "logout"},
    pure=frozenset({"session_id"}),
)
USERS: Port[UserStore] = Port(
    (UserStore,), lambda metrics: StoreTimer("users", metrics.user_store_seconds)
)
WECHAT_GATEWAY: Port[WeChatGateway] = Port(
    (WeChatGateway,), WeChatTimer, labels={"code_to_session": "jscode2session"}
)
WECHAT_PLATFORM: Port[WeChatPlatform] = Port(
    (WeChatPlatform,),
    WeChatTimer,
    labels={
        "phone_number": "getuserphonenumber",
        "check_session": "checksession",
        "send_subscribe_message": "subscribe_send",
    },
    hooks={"stable_token": AccessTokenRefreshes},
)
