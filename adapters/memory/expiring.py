"""A dict whose entries expire, on a given clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class ExpiringDict(Generic[K, V]):
    """Entries vanish at their expiry; expired ones are swept as the dict is written."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._items: dict[K, tuple[V, float]] = {}
        self._writes = 0

    def get(self, key: K) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        value, expires_at = item
        if expires_at <= self._now():
            del self._items[key]
            return None
        return value

    def expiry(self, key: K) -> float | None:
        return self._items[key][1] if self.get(key) is not None else None

    def set(self, key: K, value: V, expires_at: float) -> None:
        self._items[key] = (value, expires_at)
        self._writes += 1
        if self._writes % 1024 == 0:
            self.sweep()

    def pop(self, key: K) -> V | None:
        value = self.get(key)
        self._items.pop(key, None)
        return value

    def sweep(self) -> None:
        now = self._now()
        for key in [k for k, (_, exp) in self._items.items() if exp <= now]:
            del self._items[key]

    def __len__(self) -> int:
        self.sweep()
        return len(self._items)
