"""SingleFlight: one task per key for every concurrent caller, shared outcome, no leaks."""

from __future__ import annotations

import asyncio

import pytest

from domain.single_flight import SingleFlight


class Work:
    """Counts its runs; each run waits for ``release`` and then answers or fails."""

    def __init__(self, answer: str = "done", failure: Exception | None = None) -> None:
        self.runs = 0
        self.release = asyncio.Event()
        self.answer = answer
        self.failure = failure

    async def __call__(self) -> str:
        self.runs += 1
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        return self.answer


async def test_concurrent_callers_with_one_key_share_one_run() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    work = Work()
    callers = [asyncio.ensure_future(flights.run("k", work)) for _ in range(10)]
    await asyncio.sleep(0)
    work.release.set()

    assert await asyncio.gather(*callers) == ["done"] * 10
    assert work.runs == 1


async def test_other_keys_run_apart() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    first, second = Work("a"), Work("b")
    first.release.set()
    second.release.set()

    assert await asyncio.gather(flights.run("a", first), flights.run("b", second)) == ["a", "b"]


async def test_a_finished_run_is_forgotten_and_the_next_call_runs_again() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    work = Work()
    work.release.set()

    await flights.run("k", work)
    await flights.run("k", work)

    assert work.runs == 2


async def test_a_failure_reaches_every_waiter() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    work = Work(failure=ValueError("boom"))
    callers = [asyncio.ensure_future(flights.run("k", work)) for _ in range(3)]
    await asyncio.sleep(0)
    work.release.set()

    outcomes = await asyncio.gather(*callers, return_exceptions=True)

    assert all(isinstance(outcome, ValueError) for outcome in outcomes)
    assert work.runs == 1


async def test_a_caller_that_leaves_does_not_cancel_the_run_for_the_others() -> None:
    flights: SingleFlight[str, str] = SingleFlight()
    work = Work()
    leaving = asyncio.ensure_future(flights.run("k", work))
    staying = asyncio.ensure_future(flights.run("k", work))
    await asyncio.sleep(0)

    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    work.release.set()

    assert await staying == "done"
    assert work.runs == 1
