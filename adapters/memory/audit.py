"""The audit trail in a list: the fakes' and the tests' (``AuditTrail``)."""

from __future__ import annotations

from domain.accounts import AccountEvent, AuditTrail


class InMemoryAuditTrail(AuditTrail):
    def __init__(self) -> None:
        self.events: list[AccountEvent] = []

    def record(self, event: AccountEvent) -> None:
        self.events.append(event)
