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
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bot.semantic.codes import to_int8
from bot.semantic.model import Embedder, paper_text
from bot.semantic.search import MeaningIndex
from bot.store import Store

log = logging.getLogger(__name__)

BATCH = 2_000
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
) -> int:
    """Give every paper without a vector one; returns how many were made."""
    state = progress or Progress()
    state.done, state.total = await store.vectors.counts()
    state.running, state.started = True, time.monotonic()
    made = 0
    after = 0
    logged = time.monotonic()
    try:
        while True:
            pending = await store.vectors.pending(after, batch)
            if not pending:
                break
            after = pending[-1].pid
            texts = [paper_text(p.title, p.abstract) for p in pending]
            vectors = await asyncio.to_thread(_embed_int8, embedder, texts)
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
    if made:
        log.info("vectors: made %d; %d of %d papers have one", made, state.done, state.total)
    return made


def _embed_int8(embedder: Embedder, texts: list[str]) -> npt.NDArray[np.int8]:
    return to_int8(embedder.embed(texts))


async def ready_meaning(store: Store, embedder: Embedder) -> MeaningIndex:
    """A :class:`MeaningIndex` over *store* with every paper's vector made and loaded (for the
    command line and benchmarks; the bot fills and loads in the background instead)."""
    await prepare_model(store, embedder)
    await fill_vectors(store, embedder)
    meaning = MeaningIndex(embedder)
    await store.db.read(meaning.sync, snapshot=False)
    return meaning
