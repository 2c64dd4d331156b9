"""Search by meaning in a running bot: load the model, fill missing vectors, keep the index.

:class:`VectorKeeper` runs as one background task from start-up:

1. load the embedding model (in a worker thread: about a second); if it cannot load, say so
   once in the log and in ``/about``, and leave search lexical;
2. make it the model of the stored vectors (vectors of another model are rebuilt);
3. load the stored vectors into a :class:`MeaningIndex` and hand it to search (``attach``);
4. then, forever: give every paper without a vector one (an existing database gets its
   vectors here while the bot already answers, lexically for the papers not done yet), load
   the new vectors into the index, and wait ``POLL_SECONDS`` or until :meth:`wake` (called
   after a refresh stored papers).

A failing pass is logged and retried after a growing pause: the task never ends silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable

from bot.semantic.backfill import Progress, fill_vectors, prepare_model
from bot.semantic.model import Embedder, ModelUnavailable
from bot.semantic.search import MeaningIndex
from bot.store import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 60.0
RETRY_SECONDS = (5.0, 30.0, 120.0, 600.0)


class VectorKeeper:
    def __init__(self, store: Store, *, enabled: bool = True, dim: int = 256) -> None:
        self.store = store
        self.enabled = enabled
        self.dim = dim
        self.progress = Progress()
        self.meaning: MeaningIndex | None = None
        self.problem: str | None = None  # why meaning search is unavailable
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def status(self) -> str:
        """One line for ``/about``."""
        if not self.enabled:
            return "off (PAPERBOT_SEMANTIC=false)"
        if self.problem:
            return f"unavailable: {self.problem}"
        done, total = self.progress.done, self.progress.total
        if self.meaning is None:
            return "starting"
        if total and done < total:
            share = 100.0 * done / total
            return f"{done:,} of {total:,} papers ({share:.0f}%), the rest by words meanwhile"
        return f"on, {done:,} papers"

    def start(self, attach: Callable[[MeaningIndex], None]) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self.run(attach), name="vector-keeper")

    def wake(self) -> None:
        """New papers were stored: fill their vectors now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run(self, attach: Callable[[MeaningIndex], None]) -> None:
        try:
            # float16 weights (summed in float32: the same vectors): 16 MB less resident.
            embedder = await asyncio.to_thread(
                functools.partial(Embedder.load, self.dim, half=True)
            )
        except ModelUnavailable as exc:
            self.problem = str(exc)
            log.warning("search by meaning is off: %s", exc)
            return
        failures = 0
        meaning: MeaningIndex | None = None
        while True:
            try:
                if meaning is None:
                    await prepare_model(self.store, embedder)
                    meaning = MeaningIndex(embedder)
                    loaded = await self.store.db.read(meaning.sync, snapshot=False)
                    self.meaning = meaning
                    attach(meaning)
                    log.info("search by meaning: %d vectors loaded", loaded)
                await fill_vectors(
                    self.store, embedder, progress=self.progress, report=self._after_batch
                )
                await self.store.db.read(meaning.sync, snapshot=False)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                log.exception("making vectors failed; trying again in %.0f s", pause)
                await asyncio.sleep(pause)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    def _after_batch(self, progress: Progress) -> None:
        meaning = self.meaning
        if meaning is not None:
            # Load each batch's vectors as they land (a reader thread; no waiting here).
            task = asyncio.ensure_future(self.store.db.read(meaning.sync, snapshot=False))
            task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("loading new vectors failed", exc_info=task.exception())
