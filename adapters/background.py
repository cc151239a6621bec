"""Background loops of a worker (the audit trail's writer, the webhook sender): paced, and
stopped between two of their steps."""

from __future__ import annotations

import asyncio
import contextlib
import logging

logger = logging.getLogger("weapp_login.background")


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less when ``stop`` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def finish(task: asyncio.Task[None], stop: asyncio.Event, grace: float) -> None:
    """Stop a background loop between two of its steps (a step cut off inside a database call
    would leave the connection unclosed), cancelling it only after ``grace`` seconds."""
    stop.set()
    try:
        await asyncio.wait_for(task, grace)
    except TimeoutError:
        logger.warning("a background task was cut off", extra={"event": "task_cut_off"})
