"""The candidates of every member's picks: the newest papers' vectors, in memory.

"New papers" are the :data:`POOL_SIZE` papers most recently added to the store (by arrival,
i.e. pid order) among those that have a vector; a paper whose vector is not made yet joins
when it has one. At arXiv's pace (1,000 to 2,000 new papers a day) 20,000 are the last two or
three weeks; a store fed by Hugging Face's daily lists holds far fewer, and all are candidates.

The rows are kept as float32 unit vectors (20 MB for 20,000) and read again, in one query,
when the store's newest vectors change (a higher pid, or a vector made again after its paper's
text changed; looked at most every :data:`CHECK_SECONDS`). A paper deleted meanwhile stays
until then; the picks drop papers the store no longer has. Safe to use from several reader
threads: a refresh publishes a new :class:`PoolSnapshot` and never changes an old one.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.semantic.codes import from_int8
from bot.store import recs as rx

log = logging.getLogger(__name__)

POOL_SIZE = 20_000
CHECK_SECONDS = 5.0

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    pids: IntArray  # (n,), newest first
    vectors: FloatArray  # (n, dim) unit rows
    center: FloatArray  # (dim,) their mean (zeros when empty)
    stamp: tuple[int, int]

    def __len__(self) -> int:
        return int(self.pids.size)

    def rows_of(self, pids: npt.ArrayLike) -> IntArray:
        """Row of each pid, -1 where it is not in the pool (pids are sorted descending)."""
        wanted = np.asarray(pids, dtype=np.int64)
        ascending = self.pids[::-1]
        if not ascending.size:
            return np.full(wanted.shape, -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(ascending, wanted), ascending.size - 1)
        rows = np.where(ascending[at] == wanted, ascending.size - 1 - at, -1)
        return rows.astype(np.int64)


def _empty(dim: int) -> PoolSnapshot:
    return PoolSnapshot(
        np.zeros(0, dtype=np.int64),
        np.zeros((0, dim), dtype=np.float32),
        np.zeros(dim, dtype=np.float32),
        (0, 0),
    )


class CandidatePool:
    def __init__(
        self, *, size: int = POOL_SIZE, dim: int = 256, check_seconds: float = CHECK_SECONDS
    ) -> None:
        self.size = size
        self.dim = dim
        self.check_seconds = check_seconds
        self._snap = _empty(dim)
        self._checked = -float("inf")
        self._lock = threading.Lock()
        self.loads = 0  # how many times the rows were read (for tests and the bench)

    def get(self, conn: sqlite3.Connection) -> PoolSnapshot:
        """The pool, read again first if the store's newest vectors changed."""
        if time.monotonic() - self._checked < self.check_seconds:
            return self._snap
        with self._lock:
            if time.monotonic() - self._checked < self.check_seconds:
                return self._snap
            stamp = rx.pool_stamp(conn)
            if stamp != self._snap.stamp:
                self._snap = self._load(conn, stamp)
            self._checked = time.monotonic()
            return self._snap

    def invalidate(self) -> None:
        """Look at the store again on the next use."""
        self._checked = -float("inf")

    def _load(self, conn: sqlite3.Connection, stamp: tuple[int, int]) -> PoolSnapshot:
        started = time.perf_counter()
        pids, blob = rx.newest_vectors(conn, self.size)
        if not pids:
            return dataclasses.replace(_empty(self.dim), stamp=stamp)
        dim = len(blob) // len(pids)  # the stored model's (256 unless configured otherwise)
        vectors = from_int8(np.frombuffer(blob, dtype=np.int8).reshape(len(pids), dim))
        snap = PoolSnapshot(np.asarray(pids, dtype=np.int64), vectors, vectors.mean(axis=0), stamp)
        self.loads += 1
        log.debug(
            "candidate pool: %d papers read in %.0f ms",
            len(pids),
            (time.perf_counter() - started) * 1000,
        )
        return snap
