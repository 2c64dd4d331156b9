"""In-memory nearest-neighbour search over papers' sign-bit codes (see :mod:`.codes`).

Memory: one ``dim``-bit code per paper plus two int32 (the paper id of each row, the row of
each paper id): 40 bytes a paper at 256 bits, 40 MB at a million papers.

Codes are the sign bits of ``vector - center`` (:meth:`VectorIndex.codes`): with ``center``
the corpus' mean vector, each bit splits the papers more evenly and carries more.

Search, in four stages (numpy, chosen by measurement: bench/bench_vectors.py):

1. *coarse*: the hamming distance between the query's code and every paper's, over the first
   ``coarse_bits`` bits. Codes are stored word-major (all papers' first 64 bits, then all
   papers' next 64, ...), so this reads ``coarse_bits / 8`` bytes a paper in one sequential
   sweep, in blocks that stay in the CPU cache; the model is Matryoshka-trained, so the first
   bits are a coarser code of their own. The ``candidates`` nearest (ties at the cut-off
   included, up to twice as many) go on.
2. *hamming*: the hamming distance over all ``dim`` bits; the ``near`` nearest go on.
3. *asymmetric*: the cosine between the query itself (not its code) and each paper's code
   taken as a ±1 vector, through per-byte lookup tables: much closer to the true cosine than
   the hamming distance. The ``shortlist`` best go on.
4. *rescore*: the exact cosine of the shortlisted papers' int8 vectors, fetched by the
   ``rescore`` callback (the store reads them from SQLite). Without a callback the stage-3
   estimate is the score.

Defaults: stage 1 sweeps all bits (so stage 2 is skipped) and keeps 2000, stage 3 keeps
200: the best recall measured at a million papers (bench/bench_vectors.py), about 5 ms a
query there. A 64- or 128-bit first sweep reads less, but stage 2 then gathers the rest of
tens of thousands of scattered codes: timed side by side it was no faster (4.7 and 5.4 ms
with ``candidates=20_000``) and its recall@10 lower (0.61 and 0.74 against 0.78).

A stage is skipped when fewer papers than it would keep reach it (so a small index is
searched exactly by the stage-3 estimate), and stage 2 when ``coarse_bits == dim``.

Threads: any number of searches may run at once, beside one writer at a time (``add`` and
``remove`` take a lock). Searches take no lock: they read an immutable snapshot (arrays and
row count). A writer appends rows past every published snapshot's end before publishing a new
one, marks removed rows dead in place (a search sees the paper or not), writes a replaced
paper's new code over its own row (a search sees the old code, the new or a mix, never another
paper's, and never loses the paper), and never gives a row to another paper:
when the arrays are full, or a quarter of the rows are dead, it copies the live rows into new
arrays and publishes those. numpy releases the GIL inside each array operation, so searches
in reader threads leave the event loop free most of the time (measured in the bench).
"""

from __future__ import annotations

import logging
import math
import operator
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.semantic.codes import from_int8, sign_bits

log = logging.getLogger(__name__)

MAX_PID = 2**31 - 1
CANDIDATES = 2000
"""Stage-1 survivors (see the module doc); these defaults were chosen by recall and time in
bench/bench_vectors.py."""
NEAR = 2000
SHORTLIST = 200
_BLOCK = 1 << 15  # rows per coarse block: 256 KB of one code word, cache-resident
_SAMPLE = 1 << 14  # rows sampled to estimate the coarse cut-off
_STRIDE = 2_654_435_761  # odd, about 2**32 / golden ratio: samples spread over the rows
_DEAD_SHARE = 0.25  # compact when this share of rows is dead

_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).astype(np.float32)
"""(256, 8): the bits of each byte value, most significant first (the order of packbits)."""

Rescore = Callable[[npt.NDArray[np.int64]], npt.NDArray[np.int8]]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    words: npt.NDArray[np.uint64]  # (dim / 64, capacity): word w of every row's code
    pids: npt.NDArray[np.int32]  # (capacity,), -1 for a dead row
    rows: int  # rows in use; rows past it are not yet published


class VectorIndex:
    """Sign-bit codes keyed by integer paper id (``0 <= pid < 2**31``, e.g. SQLite rowids)."""

    def __init__(
        self,
        dim: int = 256,
        *,
        coarse_bits: int | None = None,
        center: npt.ArrayLike | None = None,
    ) -> None:
        if dim <= 0 or dim % 64:
            raise ValueError(f"dim must be a positive multiple of 64, not {dim}")
        coarse_bits = dim if coarse_bits is None else coarse_bits
        if coarse_bits <= 0 or coarse_bits % 64 or coarse_bits > dim:
            raise ValueError(f"coarse_bits must be a multiple of 64 up to {dim}")
        self.dim = dim
        self.coarse_bits = coarse_bits
        self.center = np.zeros(dim, np.float32) if center is None else np.array(center, np.float32)
        if self.center.shape != (dim,) or not np.isfinite(self.center).all():
            raise ValueError(f"center must be a finite vector of {dim} components")
        self._nwords = dim // 64
        self._snap = _Snapshot(
            np.zeros((self._nwords, 0), dtype=np.uint64), np.zeros(0, dtype=np.int32), 0
        )
        self._row_of = np.zeros(0, dtype=np.int32)  # pid -> row + 1 (0: absent)
        self._dead = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self._snap.rows - self._dead

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays."""
        snap = self._snap
        return snap.words.nbytes + snap.pids.nbytes + self._row_of.nbytes

    def __contains__(self, pid: object) -> bool:
        try:
            i = operator.index(pid)  # type: ignore[arg-type]
        except TypeError:
            return False
        row_of = self._row_of
        return 0 <= i < row_of.size and bool(row_of[i])

    def pids(self) -> IntArray:
        """The paper ids in the index, in row order."""
        snap = self._snap
        ids = snap.pids[: snap.rows]
        return ids[ids >= 0].astype(np.int64)

    def codes(self, vectors: npt.ArrayLike) -> npt.NDArray[np.uint8]:
        """The codes of unit vectors (n, dim) for :meth:`add`: sign bits of ``v - center``."""
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"vectors must have shape (n, {self.dim}), not {v.shape}")
        return sign_bits(v - self.center)

    def add(self, pids: npt.ArrayLike, codes: npt.ArrayLike) -> None:
        """Add (or replace) the codes of ``pids``: packed sign bits, uint8 (n, dim / 8), as
        :meth:`codes` makes them."""
        ids = _pid_array(pids)
        packed = np.ascontiguousarray(codes, dtype=np.uint8)
        if packed.ndim != 2 or packed.shape != (ids.size, self.dim // 8):
            raise ValueError(
                f"codes must be uint8 of shape ({ids.size}, {self.dim // 8}), not {packed.shape}"
            )
        if np.unique(ids).size != ids.size:
            raise ValueError("the same paper id appears twice in one add")
        words = packed.view(np.uint64)  # (n, nwords); word w = bytes 8w..8w+7 = bits 64w..
        with self._lock:
            # A paper already here gets its new code in its own row: a search running
            # meanwhile finds it (by the old code or the new), where killing the row and
            # appending another would hide it from every search holding the older snapshot.
            row_of = self._row_of
            rows = np.zeros(ids.size, dtype=np.int32)
            inside = ids < row_of.size
            rows[inside] = row_of[ids[inside]]
            present = rows > 0
            if present.any():
                self._snap.words[:, rows[present] - 1] = words[present].T
            ids, words = ids[~present], words[~present]
            if ids.size:
                snap = self._snap
                if snap.rows + ids.size > snap.pids.size:
                    snap = self._compact(snap, extra=ids.size)
                start, stop = snap.rows, snap.rows + ids.size
                snap.words[:, start:stop] = words.T
                snap.pids[start:stop] = ids
                self._map(ids, np.arange(start + 1, stop + 1, dtype=np.int32))
                self._snap = _Snapshot(snap.words, snap.pids, stop)

    def remove(self, pids: npt.ArrayLike) -> int:
        """Remove ``pids`` (unknown ones are ignored); returns how many were present."""
        ids = _pid_array(pids)
        with self._lock:
            removed = self._kill(np.unique(ids))
            snap = self._snap
            if self._dead and self._dead >= _DEAD_SHARE * snap.rows:
                self._compact(snap, extra=0)
        return removed

    def search(
        self,
        query: npt.ArrayLike,
        k: int,
        *,
        shortlist: int = SHORTLIST,
        candidates: int = CANDIDATES,
        near: int = NEAR,
        rescore: Rescore | None = None,
    ) -> list[tuple[int, float]]:
        """The ``k`` papers nearest to ``query`` (a float vector of ``dim`` components, any
        length), best first, as (pid, score) with scores in [-1, 1]: the cosine of the int8
        vectors that ``rescore`` gives for the shortlisted pids (rows aligned with them; an
        all-zero row drops that paper), else the stage-2 estimate (see the module doc)."""
        q = np.asarray(query, dtype=np.float32)
        if q.shape != (self.dim,):
            raise ValueError(f"query must be a vector of {self.dim} components, not {q.shape}")
        norm = float(np.linalg.norm(q))
        snap = self._snap
        if k <= 0 or snap.rows == 0 or not math.isfinite(norm) or norm == 0:
            return []
        q = q / norm
        centred = q - self.center
        keep = max(shortlist if rescore is not None else k, k)
        near = max(near, keep)
        candidates = max(candidates, keep)
        qwords = sign_bits(centred).view(np.uint64)
        if snap.rows > candidates:
            rows = self._coarse(snap, qwords, candidates)
        else:
            rows = np.arange(snap.rows)
        row_pids = snap.pids[rows]
        alive = row_pids >= 0
        rows, pids = rows[alive], row_pids[alive].astype(np.int64)
        if rows.size > near and self.coarse_bits < self.dim:
            words = snap.words.take(rows, axis=1)  # (nwords, n)
            words ^= qwords[:, None]
            dist = np.bitwise_count(words).sum(axis=0, dtype=np.int64)
            nearest = _smallest(dist, near)
            rows, pids = rows[nearest], pids[nearest]
        estimate = self._asymmetric(snap, rows, centred)
        best = _largest(estimate, keep)
        pids, scores = pids[best], estimate[best]
        if rescore is not None:
            vectors = np.asarray(rescore(pids))
            if vectors.shape != (pids.size, self.dim) or vectors.dtype != np.int8:
                raise ValueError(
                    f"rescore must return int8 of shape ({pids.size}, {self.dim}), "
                    f"not {vectors.dtype} {vectors.shape}"
                )
            present = vectors.any(axis=1)
            pids = pids[present]
            scores = np.clip(from_int8(vectors[present]) @ q, -1.0, 1.0)
            best = np.argsort(-scores, kind="stable")
            pids, scores = pids[best], scores[best]
        out: list[tuple[int, float]] = []
        seen: set[int] = set()
        for pid, score in zip(pids.tolist(), scores.tolist(), strict=True):
            if pid not in seen:  # a paper replaced during this search can show twice
                seen.add(pid)
                out.append((pid, score))
                if len(out) == k:
                    break
        return out

    def _coarse(self, snap: _Snapshot, qwords: npt.NDArray[np.uint64], count: int) -> IntArray:
        """Rows of the ``count`` codes nearest by their first ``coarse_bits`` bits, in row
        order, with every row tied with the last one (up to ``2 * count`` rows in all)."""
        n, nw = snap.rows, self.coarse_bits // 64
        wide = self.coarse_bits > 255  # 256 differing bits do not fit a byte
        dist: npt.NDArray[np.unsignedinteger[Any]] = np.empty(
            n, dtype=np.uint16 if wide else np.uint8
        )
        xor = np.empty(min(n, _BLOCK), dtype=np.uint64)
        part = np.empty(min(n, _BLOCK), dtype=np.uint8)
        for start in range(0, n, _BLOCK):
            stop = min(start + _BLOCK, n)
            x, d, p = xor[: stop - start], dist[start:stop], part[: stop - start]
            np.bitwise_xor(snap.words[0, start:stop], qwords[0], out=x)
            np.bitwise_count(x, out=p)
            d[:] = p
            for w in range(1, nw):
                np.bitwise_xor(snap.words[w, start:stop], qwords[w], out=x)
                np.bitwise_count(x, out=p)
                d += p
        # A histogram of a sample of rows (spread by a large odd stride, so that no period in
        # the row order biases it) estimates the distance within which about twice ``count``
        # rows lie: a full histogram costs as much as the sweep. Those rows hold the answer.
        size = min(n, _SAMPLE)
        picks = dist[(np.arange(size, dtype=np.int64) * _STRIDE) % n]
        sample = np.cumsum(np.bincount(picks, minlength=self.coarse_bits + 1))
        guess = int(np.searchsorted(sample, 2 * count * size / n))
        rows = np.flatnonzero(dist <= guess)
        while rows.size < count:  # the estimate fell short (rare): widen
            guess += 1 + guess // 8
            rows = np.flatnonzero(dist <= guess)
        near = dist[rows]
        cut = int(np.searchsorted(np.cumsum(np.bincount(near)), count))
        if (near <= cut).sum() > 2 * count:  # a huge tie at the cut: the nearer, then some
            below = rows[near < cut]
            return np.concatenate([below, rows[near == cut][: 2 * count - below.size]])
        return rows[near <= cut]

    def _asymmetric(
        self, snap: _Snapshot, rows: IntArray, centred: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.float32]:
        """Cosine between ``centred`` and each row's code taken as a ±1 vector."""
        nbytes = self.dim // 8
        # table[j, byte] = sum of centred[8j + i] over the bits i set in byte (big-endian)
        table = centred.reshape(nbytes, 8) @ _BYTE_BITS.T
        # byte j of every row's code, j = 8 * word + byte within the word
        words = snap.words.take(rows, axis=1)  # (nwords, n), C-contiguous
        by_byte = words.view(np.uint8).reshape(self._nwords, rows.size, 8).transpose(0, 2, 1)
        columns = by_byte.reshape(nbytes, rows.size)
        ones = np.zeros(rows.size, dtype=np.float32)
        for j in range(nbytes):
            ones += table[j].take(columns[j])
        # code . centred with bits as ±1 = 2 * (sum where set) - sum of all
        length = float(np.linalg.norm(centred)) * math.sqrt(self.dim)
        scale = 1.0 / length if length > 0 else 0.0
        estimate: npt.NDArray[np.float32] = (2 * ones - centred.sum()) * np.float32(scale)
        return estimate

    def _kill(self, ids: npt.NDArray[np.int32]) -> int:
        """Mark the rows of ``ids`` dead; the caller holds the lock."""
        row_of = self._row_of
        known = ids[ids < row_of.size]
        rows = row_of[known]
        live = rows > 0
        rows = rows[live] - 1
        if rows.size:
            self._snap.pids[rows] = -1
            row_of[known[live]] = 0
            self._dead += int(rows.size)
        return int(rows.size)

    def _map(self, ids: npt.NDArray[np.int32], rows: npt.NDArray[np.int32]) -> None:
        top = int(ids.max(initial=-1)) + 1
        if top > self._row_of.size:
            grown = np.zeros(max(top, self._row_of.size * 3 // 2), dtype=np.int32)
            grown[: self._row_of.size] = self._row_of
            self._row_of = grown
        self._row_of[ids] = rows

    def _compact(self, snap: _Snapshot, extra: int) -> _Snapshot:
        """Copy the live rows into new arrays with room for ``extra`` more, publish them."""
        live = np.flatnonzero(snap.pids[: snap.rows] >= 0)
        need = live.size + extra
        capacity = max(need, 1024, live.size * 5 // 4 + extra)
        words = np.zeros((self._nwords, capacity), dtype=np.uint64)
        pids = np.full(capacity, -1, dtype=np.int32)
        words[:, : live.size] = snap.words[:, live]
        pids[: live.size] = snap.pids[live]
        self._row_of[:] = 0
        self._map(pids[: live.size], np.arange(1, live.size + 1, dtype=np.int32))
        self._dead = 0
        log.debug("Vector index: %d live rows copied, room for %d", live.size, capacity)
        self._snap = _Snapshot(words, pids, live.size)
        return self._snap


def _smallest(values: IntArray, count: int) -> IntArray:
    """Indices of the ``count`` smallest values, in position order; ties by position."""
    kth = np.partition(values, count - 1)[count - 1]
    below = np.flatnonzero(values < kth)
    tied = np.flatnonzero(values == kth)[: count - below.size]
    return np.sort(np.concatenate([below, tied]))


def _largest(values: npt.NDArray[np.float32], count: int) -> IntArray:
    """Indices of the ``count`` largest values, best first; ties by position."""
    if values.size > count:
        kth = np.partition(values, values.size - count)[values.size - count]
        above = np.flatnonzero(values > kth)
        idx = np.concatenate([above, np.flatnonzero(values == kth)[: count - above.size]])
    else:
        idx = np.arange(values.size)
    return idx[np.argsort(-values[idx], kind="stable")]


def _pid_array(pids: npt.ArrayLike) -> npt.NDArray[np.int32]:
    arr = np.asarray(pids)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise ValueError("paper ids must be a one-dimensional sequence of integers")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) > MAX_PID):
        raise ValueError(f"paper ids must be between 0 and {MAX_PID}")
    return arr.astype(np.int32)
