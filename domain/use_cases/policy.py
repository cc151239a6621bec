"""Session lifetime rules shared by the use cases."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """``ttl``: lifetime of a token without use; ``max_age``: the longest a token lives at all."""

    ttl: int = 604_800
    max_age: int = 2_592_000

    def first_expiry(self, login_at: float) -> float:
        return login_at + min(self.ttl, self.max_age)

    def slid_expiry(self, *, now: float, expires_at: float, login_at: float) -> float | None:
        """The new expiry when a use at ``now`` slides the token, else ``None``.

        A token slides when less than half of ``ttl`` is left: back to a full ``ttl``, but never
        past ``max_age`` after the login.
        """
        if expires_at - now >= self.ttl / 2:
            return None
        new_expiry = min(now + self.ttl, login_at + self.max_age)
        return new_expiry if new_expiry > expires_at else None
