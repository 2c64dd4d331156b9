"""Vector search candidates at 100k and 1M papers: build, memory, latency, recall, GIL.

    python -m bench.bench_vectors [--sizes 100000,1000000] [--queries 400] [--slow-up-to N]

The corpus (bench/corpus.py) is embedded once with :class:`bot.semantic.model.Embedder`
(title + first 600 abstract characters) and the float32 matrix cached as
``bench/out/vectors-<N>-s<seed>-<model>.npy``. The last ``--queries`` papers are held out:
half the queries are their titles, half three words from their abstracts. The index at size
``N`` holds the first ``N`` of the other papers. Truth: the 10 nearest by exact float32
cosine. Every candidate searches packed 256-bit sign codes (bot.semantic.codes); "rescored"
rows then rank a shortlist of the nearest codes by the cosine of the papers' int8 vectors
(held in memory here; the store reads them from SQLite). "numpy 256b > 2000" is
bot.semantic.index as configured by default (a full 256-bit hamming sweep keeping 2,000 for
its asymmetric stage); "numpy 64b > 20000 > 2000" sweeps the first 64 bits, keeps 20,000,
then 2,000 by all bits. Codes are centred on the corpus mean unless it says otherwise; the
"codes only" rows rank by the asymmetric estimate.

Columns: build seconds (one thread), the structure's MB, single-thread query p50/p99 in ms
(rescoring included; each query timed 3 times and the fastest kept, since the machine is
shared with other jobs: this is the CPU cost of a query, not a latency under load), recall@10 against the truth, and the share of a search's time another
Python thread could run (100% = the GIL is released throughout), measured on a "codes only" search.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import itertools
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from bench.corpus import OUT, write_corpus
from bot.semantic.codes import from_int8, sign_bits, to_int8
from bot.semantic.index import CANDIDATES, NEAR, VectorIndex
from bot.semantic.model import Embedder, paper_text

K = 10
REPEAT = 3  # each query is timed this many times and the fastest kept
SHORTLISTS = (100, 200, 500)
_WORD = re.compile(r"[A-Za-z][a-z]{3,}")


@dataclass
class Data:
    vectors: npt.NDArray[np.float32]  # (n, dim) unit rows, the indexed papers
    int8: npt.NDArray[np.int8]
    codes: npt.NDArray[np.uint8]
    queries: npt.NDArray[np.float32]  # (q, dim)
    truth: list[set[int]]


def corpus_vectors(size: int, seed: int, held_out: int) -> tuple[np.ndarray, list[str]]:
    """Float32 vectors of the first ``size - held_out`` papers and the held-out query texts."""
    emb = Embedder.load()
    stem = OUT / f"vectors-{size}-s{seed}-{emb.name}"
    npy, qfile = stem.with_suffix(".npy"), stem.with_suffix(".queries.json")
    if npy.exists() and qfile.exists():
        queries = json.loads(qfile.read_text(encoding="utf-8"))
        if len(queries) == held_out:
            return np.load(npy, mmap_mode="r"), queries
    corpus = write_corpus(size, seed)
    rnd = random.Random(seed)
    vectors = np.lib.format.open_memmap(
        npy, mode="w+", dtype=np.float32, shape=(size - held_out, emb.dim)
    )
    queries: list[str] = []
    t0 = time.perf_counter()
    with corpus.open(encoding="utf-8") as fh:
        row = 0
        while True:
            recs = [json.loads(line) for line in itertools.islice(fh, 10_000)]
            if not recs:
                break
            keep = recs[: max(0, size - held_out - row)]
            if keep:
                vectors[row : row + len(keep)] = emb.embed(
                    [paper_text(r["title"], r["abstract"]) for r in keep]
                )
            for rec in recs[len(keep) :]:
                if len(queries) % 2 == 0:
                    queries.append(" ".join(str(rec["title"]).split()))
                else:
                    words = _WORD.findall(rec["abstract"]) or ["paper"]
                    queries.append(" ".join(rnd.sample(words, min(3, len(words)))))
            row += len(keep)
    vectors.flush()
    print(f"  embedded {row:,} papers in {time.perf_counter() - t0:.0f}s -> {npy}")
    qfile.write_text(json.dumps(queries), encoding="utf-8")
    return np.load(npy, mmap_mode="r"), queries


def exact_truth(vectors: np.ndarray, queries: np.ndarray) -> list[set[int]]:
    best = [np.empty(0, dtype=np.int64) for _ in queries]
    best_s = [np.empty(0, dtype=np.float32) for _ in queries]
    for start in range(0, len(vectors), 200_000):
        block = np.asarray(vectors[start : start + 200_000])
        sims = block @ queries.T  # (block, q)
        top = np.argpartition(-sims, K, axis=0)[:K]
        for j in range(len(queries)):
            ids = np.concatenate([best[j], top[:, j] + start])
            sc = np.concatenate([best_s[j], sims[top[:, j], j]])
            keep = np.argsort(-sc)[:K]
            best[j], best_s[j] = ids[keep], sc[keep]
    return [set(b.tolist()) for b in best]


def rescore_top(data: Data, pids: np.ndarray, q: np.ndarray) -> list[int]:
    pids = pids[pids >= 0]
    sims = from_int8(data.int8[pids]) @ q
    return pids[np.argsort(-sims)[:K]].tolist()


class Candidate:
    name = ""

    def build(self, data: Data) -> None:
        raise NotImplementedError

    def nbytes(self) -> int:
        raise NotImplementedError

    def search(self, data: Data, q: np.ndarray, shortlist: int | None) -> list[int]:
        """Top K pids: by code distance (shortlist None) or rescored from a shortlist."""
        raise NotImplementedError


class Ours(Candidate):
    """bot.semantic.index.VectorIndex: coarse and full hamming, asymmetric, int8 rescoring."""

    def __init__(self, coarse_bits: int, candidates: int, centred: bool = True) -> None:
        self.coarse_bits, self.candidates, self.centred = coarse_bits, candidates, centred
        stages = f"{coarse_bits}b > {candidates}" + (f" > {NEAR}" if coarse_bits < 256 else "")
        self.name = f"numpy {stages}" + ("" if centred else " uncentred")

    def build(self, data: Data) -> None:
        center = data.vectors.mean(axis=0) if self.centred else None
        self.index = VectorIndex(256, coarse_bits=self.coarse_bits, center=center)
        self.index.add(np.arange(len(data.vectors)), self.index.codes(data.vectors))

    def nbytes(self) -> int:
        return self.index.nbytes

    def search(self, data: Data, q: np.ndarray, shortlist: int | None) -> list[int]:
        if shortlist is None:
            return [p for p, _ in self.index.search(q, K, candidates=self.candidates)]
        hits = self.index.search(
            q,
            K,
            shortlist=shortlist,
            candidates=self.candidates,
            rescore=lambda pids: data.int8[pids],
        )
        return [p for p, _ in hits]


class FaissFlat(Candidate):
    name = "faiss IndexBinaryFlat"

    def build(self, data: Data) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        self.index = faiss.IndexBinaryFlat(256)
        self.index.add(np.ascontiguousarray(data.codes))

    def nbytes(self) -> int:
        return int(self.index.ntotal) * 32

    def search(self, data: Data, q: np.ndarray, shortlist: int | None) -> list[int]:
        _, ids = self.index.search(sign_bits(q)[None, :], shortlist or K)
        return ids[0].tolist() if shortlist is None else rescore_top(data, ids[0], q)


class FaissHNSW(Candidate):
    def __init__(self, m: int) -> None:
        self.m = m
        self.name = f"faiss IndexBinaryHNSW M={m}"

    def build(self, data: Data) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        self.index = faiss.IndexBinaryHNSW(256, self.m)
        self.index.add(np.ascontiguousarray(data.codes))

    def nbytes(self) -> int:
        import faiss

        return int(faiss.serialize_index_binary(self.index).size)

    def search(self, data: Data, q: np.ndarray, shortlist: int | None) -> list[int]:
        self.index.hnsw.efSearch = max(64, shortlist or K)
        _, ids = self.index.search(sign_bits(q)[None, :], shortlist or K)
        return ids[0].tolist() if shortlist is None else rescore_top(data, ids[0], q)


class USearchExact(Candidate):
    name = "usearch exact b1"

    def build(self, data: Data) -> None:
        self.codes = np.ascontiguousarray(data.codes)

    def nbytes(self) -> int:
        return int(self.codes.nbytes)

    def search(self, data: Data, q: np.ndarray, shortlist: int | None) -> list[int]:
        from usearch.index import MetricKind
        from usearch.index import search as exact_search

        res = exact_search(
            self.codes, sign_bits(q), shortlist or K, MetricKind.Hamming, exact=True, threads=1
        )
        ids = np.asarray(res.keys, dtype=np.int64)
        return ids.tolist() if shortlist is None else rescore_top(data, ids, q)


class USearchHNSW(Candidate):
    def __init__(self, dtype: str) -> None:
        self.dtype = dtype
        self.name = f"usearch HNSW {dtype}"

    def build(self, data: Data) -> None:
        from usearch.index import Index

        n = len(data.codes)
        if self.dtype == "b1":
            self.index = Index(ndim=256, metric="hamming", dtype="b1")
            self.index.add(np.arange(n), data.codes, threads=1)
        else:
            self.index = Index(ndim=256, metric="cos", dtype="i8")
            self.index.add(np.arange(n), data.int8, threads=1)

    def nbytes(self) -> int:
        return int(self.index.memory_usage)

    def search(self, data: Data, q: np.ndarray, shortlist: int | None) -> list[int]:
        vec = sign_bits(q) if self.dtype == "b1" else to_int8(q)
        res = self.index.search(vec, shortlist or K, threads=1)
        ids = np.asarray(res.keys, dtype=np.int64)
        return ids.tolist() if shortlist is None else rescore_top(data, ids, q)


def gil_free_share(fn: Callable[[], Any], seconds: float = 1.0) -> float:
    """Share of the time another Python thread could run while ``fn`` loops in a thread."""

    def count(stop: threading.Event) -> int:
        n = 0
        while not stop.is_set():
            for _ in range(1000):
                n += 1
        return n

    def timed_count() -> int:
        stop = threading.Event()
        timer = threading.Timer(seconds, stop.set)
        timer.start()
        return count(stop)

    alone = timed_count()
    done = threading.Event()

    def loop() -> None:
        while not done.is_set():
            fn()

    worker = threading.Thread(target=loop)
    worker.start()
    beside = timed_count()
    done.set()
    worker.join()
    return min(1.0, beside / alone)


def run(candidate: Candidate, data: Data) -> list[tuple[str, ...]]:
    gc.collect()
    t0 = time.perf_counter()
    candidate.build(data)
    build = time.perf_counter() - t0
    mb = candidate.nbytes() / 1e6
    rows = []
    for shortlist in (None, *SHORTLISTS):
        times, hits = [], 0
        for q, truth in zip(data.queries, data.truth, strict=True):
            fastest = float("inf")
            for _ in range(REPEAT):
                t = time.perf_counter()
                got = candidate.search(data, q, shortlist)
                fastest = min(fastest, time.perf_counter() - t)
            times.append(fastest)
            hits += len(truth & set(got[:K]))
        ms = np.percentile(np.array(times) * 1e3, [50, 99])
        label = "codes only" if shortlist is None else f"rescored {shortlist}"
        rows.append((label, f"{ms[0]:.2f}", f"{ms[1]:.2f}", f"{hits / (K * len(data.truth)):.3f}"))
    q0 = data.queries[0]
    gil = gil_free_share(lambda: candidate.search(data, q0, None))
    first = (candidate.name, f"{build:.1f}", f"{mb:.1f}", *rows[0], f"{gil:.0%}")
    return [first] + [("", "", "", *r, "") for r in rows[1:]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument(
        "--slow-up-to",
        type=int,
        default=200_000,
        help="run HNSW builds and usearch's exact search only up to this size",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    emb = Embedder.load()
    all_vectors, texts = corpus_vectors(max(sizes), args.seed, args.queries)
    queries = emb.embed(texts)
    header = (
        "candidate",
        "build s",
        "MB",
        "shortlist",
        "p50 ms",
        "p99 ms",
        "recall@10",
        "GIL free",
    )
    widths = (30, 8, 7, 14, 8, 8, 10, 9)
    for size in sizes:
        n = min(size, len(all_vectors))
        vectors = np.ascontiguousarray(all_vectors[:n])
        i8 = to_int8(vectors)
        data = Data(vectors, i8, sign_bits(vectors), queries, exact_truth(vectors, queries))
        cands: list[Candidate] = [Ours(256, CANDIDATES), Ours(256, CANDIDATES, centred=False)]
        cands += [Ours(128, 20_000), Ours(64, 20_000)]
        slow = n <= args.slow_up_to
        if importlib.util.find_spec("faiss") is not None:
            cands.append(FaissFlat())
            if slow:
                cands.append(FaissHNSW(16))
        if importlib.util.find_spec("usearch") is not None and slow:
            cands += [USearchExact(), USearchHNSW("b1"), USearchHNSW("i8")]
        print(f"\n{n:,} papers, {len(queries)} queries (held-out titles and 3-word queries)")
        print("".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True)))
        while cands:
            for row in run(cands.pop(0), data):
                print("".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True)), flush=True)
        del data
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
