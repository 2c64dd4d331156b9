"""Search by meaning over the store's paper vectors: what :class:`bot.search.engine.Meaning` asks.

:class:`MeaningIndex` keeps a :class:`~bot.semantic.index.VectorIndex` of every stored vector in
memory (about 40 bytes a paper) and keeps it current from the store: vectors are numbered by
``seq`` as they are written (by this process's backfill or by another process's ``load``), and
:meth:`MeaningIndex.sync` reads the ones above the last it saw; deleted vectors (a paper
deleted, or its text changed) are logged in order too, and the sync forgets those papers (a
dead code would take a shortlist place from a live paper). It runs in reader threads:
:meth:`search` and :meth:`neighbours` take the reader's connection, look for new vectors at
most every ``SYNC_SECONDS``, embed the query (the piece cache makes that a fraction of a
millisecond), and rescore the coarse shortlist with the exact int8 vectors read from SQLite.

The coarse codes are the sign bits of ``vector - center``, with ``center`` the mean of the
first vectors this process loads (a fixed point for the process's lifetime; codes are never
stored, so processes need not agree on it).

A search answers only papers at least ``MIN_SIMILARITY`` alike (cosine; chosen on the judged
suite, bench/bench_relevance.py), so text with nothing near in the store finds nothing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import numpy as np
import numpy.typing as npt

from bot.semantic.codes import from_int8
from bot.semantic.index import VectorIndex
from bot.semantic.model import Embedder
from bot.store import vectors as vx

log = logging.getLogger(__name__)

SYNC_SECONDS = 2.0  # how often a search looks for vectors written since the last look
SYNC_BATCH = 10_000  # vectors read per query while syncing (10 MB of float32 at a time)
CENTER_SAMPLE = 10_000  # vectors averaged for the codes' center (the first batch)
MIN_SIMILARITY = 0.35


class MeaningIndex:
    """The papers' vectors in memory, searchable from any reader thread."""

    def __init__(self, embedder: Embedder, *, min_similarity: float = MIN_SIMILARITY) -> None:
        self.embedder = embedder
        self.min_similarity = min_similarity
        self._index: VectorIndex | None = None
        self._seq = 0
        self._gone: int | None = None  # the last deletion log entry seen
        self.version = 0  # syncs that loaded vectors: a replaced vector changes answers too
        self._synced_at = 0.0
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.embedder.dim

    def __len__(self) -> int:
        return 0 if self._index is None else len(self._index)

    @property
    def nbytes(self) -> int:
        return 0 if self._index is None else self._index.nbytes

    # -- keeping up with the store ------------------------------------------------------------

    def sync(self, conn: sqlite3.Connection, *, limit: int | None = None) -> int:
        """Load the vectors written since the last sync (all of them, or *limit*); returns
        how many. Safe to call from several threads: one syncs, the others return 0."""
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            if self._gone is None:  # first: deletions from now on are read at the next sync
                self._gone = vx.gone_top(conn)
            else:
                self._forget(conn, limit)
            loaded = 0
            while limit is None or loaded < limit:
                rows = vx.since(conn, self._seq, SYNC_BATCH)
                if not rows:
                    break
                self._add(rows)
                loaded += len(rows)
                self._seq = rows[-1][1]
                self.version += 1
            self._synced_at = time.monotonic()
            return loaded
        finally:
            self._lock.release()

    def _forget(self, conn: sqlite3.Connection, limit: int | None) -> None:
        """Remove the papers whose vectors were deleted since the last sync (and that have
        none again: a changed paper's new vector replaces its code when it is loaded)."""
        assert self._gone is not None
        own = not conn.in_transaction  # the reads below must see one snapshot
        if own:
            conn.execute("BEGIN")
        try:
            read = 0
            while limit is None or read < limit:
                found = vx.gone_since(conn, self._gone, SYNC_BATCH)
                if found is None:  # the log was trimmed past us: compare every pid
                    top = vx.gone_top(conn)
                    stored = np.fromiter(vx.vector_pids(conn), dtype=np.int64)
                    held = np.empty(0, np.int64) if self._index is None else self._index.pids()
                    gone, last = np.setdiff1d(held, stored).tolist(), top
                else:
                    gone, last = found
                if gone and self._index is not None:
                    self._index.remove(gone)
                    self.version += 1
                if found is None or last == self._gone:
                    self._gone = last
                    break
                self._gone = last
                read += SYNC_BATCH
        finally:
            if own:
                conn.execute("COMMIT")

    def _add(self, rows: list[tuple[int, int, bytes]]) -> None:
        pids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        raw = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.int8)
        vectors = from_int8(raw.reshape(len(rows), self.dim))
        if self._index is None:
            center = vectors[:CENTER_SAMPLE].mean(axis=0)
            self._index = VectorIndex(self.dim, center=center)
        self._index.add(pids, self._index.codes(vectors))

    def _maybe_sync(self, conn: sqlite3.Connection) -> None:
        if time.monotonic() - self._synced_at >= SYNC_SECONDS:
            # A search catches up a little at a time: the bulk is loaded at start-up.
            self.sync(conn, limit=SYNC_BATCH)

    # -- searching (the engine's Meaning protocol) -----------------------------------------------

    def search(self, conn: sqlite3.Connection, text: str, k: int) -> list[tuple[int, float]]:
        """``(pid, cosine)`` of the papers nearest in meaning to *text*, best first."""
        self._maybe_sync(conn)
        if self._index is None or not text.strip():
            return []
        query = self.embedder.embed([text])[0]
        return self._nearest(conn, query, k, exclude=None)

    def neighbours(self, conn: sqlite3.Connection, pid: int, k: int) -> list[tuple[int, float]]:
        """``(pid, cosine)`` of the papers nearest in meaning to paper *pid*, not itself."""
        self._maybe_sync(conn)
        raw = vx.vector_of(conn, pid)
        if self._index is None or raw is None:
            return []
        query = from_int8(np.frombuffer(raw, dtype=np.int8).reshape(1, self.dim))[0]
        return self._nearest(conn, query, k, exclude=pid)

    def _nearest(
        self, conn: sqlite3.Connection, query: npt.NDArray[np.float32], k: int, exclude: int | None
    ) -> list[tuple[int, float]]:
        index = self._index
        if index is None or not np.any(query):
            return []

        def rescore(pids: npt.NDArray[np.int64]) -> npt.NDArray[np.int8]:
            found = vx.vectors(conn, pids.tolist())
            out = np.zeros((pids.size, self.dim), dtype=np.int8)
            for row, pid in enumerate(pids.tolist()):
                vec = found.get(pid)
                if vec is not None:  # a paper deleted since it was loaded: a zero row drops it
                    out[row] = np.frombuffer(vec, dtype=np.int8)
            return out

        hits = index.search(query, k + (exclude is not None), rescore=rescore)
        return [
            (pid, score) for pid, score in hits if pid != exclude and score >= self.min_similarity
        ][:k]
