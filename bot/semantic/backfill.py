"""Making the vectors: every paper without one gets one, in batches, off the event loop.

Runs in the bot (a background task from start-up: an existing database gets its vectors while
the bot answers searches, lexically until the vectors are in) and at the end of ``python -m bot
load``. Each batch: the papers without a vector (:meth:`VectorRepo.pending`, in pid order), their
title and the start of their abstract embedded in a worker thread, the int8 vectors written in
one short transaction. A paper changed meanwhile is skipped by the write and picked up by the
next pass. Progress (done / total, rate) is logged and kept in :class:`Progress` for ``/about``.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bot.semantic.codes import to_int8
from bot.semantic.model import Embedder, paper_text
from bot.semantic.search import MeaningIndex
from bot.store import Store
from bot.store.vectors import PendingPaper

log = logging.getLogger(__name__)

BATCH = 2_000
# A load worker embeds many papers: a bigger piece cache (words seen once tokenised) pays.
WORKER_CACHE_PIECES = 600_000
LOG_SECONDS = 30.0


@dataclass(slots=True)
class Progress:
    """Where the vectors stand: how many papers have one, of how many, and how fast."""

    done: int = 0
    total: int = 0
    running: bool = False
    rate: float = 0.0  # papers per second during the current (or last) pass
    started: float = field(default_factory=time.monotonic)

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.done >= self.total


async def prepare_model(store: Store, embedder: Embedder) -> bool:
    """Make *embedder* the model of the stored vectors (vectors of another model are dropped
    and rebuilt). Returns True if vectors were dropped."""
    dropped = await store.vectors.use_model(embedder.name)
    if dropped:
        log.info("vectors are now made with %s; any others were dropped", embedder.name)
    return dropped


async def fill_vectors(
    store: Store,
    embedder: Embedder,
    *,
    progress: Progress | None = None,
    batch: int = BATCH,
    report: Callable[[Progress], None] | None = None,
    workers: int = 0,
) -> int:
    """Give every paper without a vector one; returns how many were made.

    Embedding is pure CPU in Python: with *workers* > 1 it runs in that many processes (each
    with its own copy of the model, started with ``spawn``: nothing of this process's threads
    or connections goes with them), for ``python -m bot load``; otherwise in one worker thread
    (the bot's background pass, which must leave the other core to the bot). Reading the next
    batches and writing the finished ones overlap the embedding either way.
    """
    state = progress or Progress()
    state.done, state.total = await store.vectors.counts()
    state.running, state.started = True, time.monotonic()
    made = 0
    after = 0
    logged = time.monotonic()
    loop = asyncio.get_running_loop()
    pool: ProcessPoolExecutor | None = None
    if workers > 1:
        context = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(embedder.dim,)
        )
    depth = max(1, workers) + 1  # batches embedding at once, one more waiting to be stored
    in_flight: deque[tuple[list[PendingPaper], asyncio.Future[npt.NDArray[np.int8]]]] = deque()
    exhausted = False
    try:
        while True:
            while not exhausted and len(in_flight) < depth:
                pending = await store.vectors.pending(after, batch)
                if not pending:
                    exhausted = True
                    break
                after = pending[-1].pid
                parts = [(p.title, p.abstract) for p in pending]
                if pool is not None:
                    job = loop.run_in_executor(pool, _embed_in_worker, parts)
                else:
                    job = loop.run_in_executor(None, _embed_int8, embedder, parts)
                in_flight.append((pending, job))
            if not in_flight:
                break
            pending, job = in_flight.popleft()
            vectors = await job
            rows = [(p, vectors[i].tobytes()) for i, p in enumerate(pending)]
            stored = await store.vectors.store(rows)
            made += stored
            state.done += stored
            elapsed = time.monotonic() - state.started
            state.rate = made / elapsed if elapsed > 0 else 0.0
            if report is not None:
                report(state)
            if time.monotonic() - logged >= LOG_SECONDS:
                logged = time.monotonic()
                log.info("vectors: %d of %d papers (%.0f/s)", state.done, state.total, state.rate)
        state.done, state.total = await store.vectors.counts()
    finally:
        state.running = False
        for _, job in in_flight:
            job.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if made:
        log.info("vectors: made %d; %d of %d papers have one", made, state.done, state.total)
    return made


_WORKER_EMBEDDER: Embedder | None = None


def _start_worker(dim: int) -> None:
    """In an embedding process: load the model once."""
    global _WORKER_EMBEDDER
    _WORKER_EMBEDDER = Embedder.load(dim, cache_pieces=WORKER_CACHE_PIECES)


def _embed_in_worker(parts: list[tuple[str, str]]) -> npt.NDArray[np.int8]:
    assert _WORKER_EMBEDDER is not None, "the worker was not started with _start_worker"
    return _embed_int8(_WORKER_EMBEDDER, parts)


def _embed_int8(embedder: Embedder, parts: list[tuple[str, str]]) -> npt.NDArray[np.int8]:
    """The int8 vectors of ``(title, abstract)`` pairs (the text built here: in the worker)."""
    return to_int8(embedder.embed([paper_text(title, abstract) for title, abstract in parts]))


async def ready_meaning(store: Store, embedder: Embedder) -> MeaningIndex:
    """A :class:`MeaningIndex` over *store* with every paper's vector made and loaded (for the
    command line and benchmarks; the bot fills and loads in the background instead)."""
    await prepare_model(store, embedder)
    await fill_vectors(store, embedder)
    meaning = MeaningIndex(embedder)
    await store.db.read(meaning.sync, snapshot=False)
    return meaning
