"""Keep a background loop alive: restart it when it dies, waiting longer each time it keeps
dying (exponential backoff with a cap), and only a short while again once it has run well.

The loop (:meth:`bot.schedule.runner.DailyRunner.run_forever`) already survives a failing
tick; this is the last line for a bug that ends the loop itself. Restarting at once would
turn such a bug into a hot loop filling the log; never restarting would silently stop every
daily post. Time comes from the injected clock, so tests do not wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.schedule.leased import Clock

log = logging.getLogger(__name__)


class Backoff:
    """Restart delays: *first* seconds, doubling on each crash in a row up to *cap*; a run
    that lasted *healthy* seconds or more before crashing starts the series over."""

    def __init__(self, first: float = 1.0, cap: float = 300.0, healthy: float = 600.0) -> None:
        self.first = first
        self.cap = cap
        self.healthy = healthy
        self.failures = 0  # crashes in a row

    def after_crash(self, ran_for: float) -> float:
        """Seconds to wait before restarting a loop that crashed after *ran_for* seconds."""
        if ran_for >= self.healthy:
            self.failures = 0
        self.failures += 1
        return float(min(self.cap, self.first * 2.0 ** (self.failures - 1)))


async def supervise(
    name: str,
    run: Callable[[], Awaitable[None]],
    clock: Clock,
    *,
    backoff: Backoff | None = None,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Run ``run()`` until it returns or is cancelled; when it raises, log the error and run
    it again after the backoff delay (not when *stopping* says the owner is shutting down)."""
    backoff = backoff or Backoff()
    while True:
        started = clock.now()
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            if stopping():
                return
            delay = backoff.after_crash((clock.now() - started).total_seconds())
            log.exception(
                "%s stopped unexpectedly (%d in a row); restarting in %.0f s",
                name,
                backoff.failures,
                delay,
            )
        await clock.sleep(delay)
        if stopping():
            return


class SupervisedTask:
    """A loop kept alive by :func:`supervise` in an asyncio task: :meth:`start` from a cog's
    ``cog_load``, :meth:`stop` from its ``cog_unload`` (*halt* asks the loop itself to end:
    a cancellation alone can be lost, see ``DailyRunner.stop``)."""

    def __init__(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        clock: Clock,
        *,
        halt: Callable[[], None],
        task_name: str,
    ) -> None:
        self.name = name
        self.run = run
        self.clock = clock
        self.halt = halt
        self.task_name = task_name
        self.task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self.task = asyncio.create_task(
            supervise(self.name, self.run, self.clock, stopping=lambda: self._stopping),
            name=self.task_name,
        )

    async def stop(self) -> None:
        self._stopping = True
        self.halt()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
