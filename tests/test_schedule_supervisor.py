"""The watchdog that keeps the daily scheduler alive: restarts with exponential backoff, capped,
and back to a short delay after a healthy run. The clock is injected: nothing really waits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.schedule.supervisor import Backoff, supervise

START = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    """``sleep`` only moves the time on (and remembers how long it was asked to wait)."""

    def __init__(self) -> None:
        self.at = START
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


class CrashingLoop:
    """A loop that dies after running for the given seconds each time, then ends cleanly."""

    def __init__(self, clock: FakeClock, lifetimes: list[float]) -> None:
        self.clock = clock
        self.lifetimes = list(lifetimes)
        self.starts = 0

    async def __call__(self) -> None:
        self.starts += 1
        if not self.lifetimes:
            return
        self.clock.advance(self.lifetimes.pop(0))
        raise RuntimeError("scheduler bug")


async def test_restarts_back_off_exponentially_up_to_a_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    loop = CrashingLoop(clock, [0.0] * 12)
    await supervise("the daily scheduler", loop, clock, backoff=Backoff(first=1.0, cap=300.0))
    assert loop.starts == 13
    assert clock.sleeps == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]
    assert "the daily scheduler stopped unexpectedly (12 in a row); restarting in 300 s" in (
        caplog.text
    )


async def test_a_healthy_run_resets_the_backoff() -> None:
    clock = FakeClock()
    # Three quick crashes, then one after an hour of good work, then quick ones again.
    loop = CrashingLoop(clock, [1.0, 1.0, 1.0, 3600.0, 1.0])
    await supervise("loop", loop, clock, backoff=Backoff(first=1.0, cap=300.0, healthy=600.0))
    assert clock.sleeps == [1, 2, 4, 1, 2]


async def test_a_clean_return_or_a_stop_ends_supervision() -> None:
    clock = FakeClock()
    loop = CrashingLoop(clock, [1.0] * 5)
    stopping = False

    async def crash_while_stopping() -> None:
        nonlocal stopping
        stopping = True
        await loop()

    await supervise("loop", crash_while_stopping, clock, stopping=lambda: stopping)
    assert loop.starts == 1 and clock.sleeps == []  # shutting down: no restart

    async def forever() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(supervise("loop", forever, clock))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
