"""For you, measured: how good the picks are, and how fast at a million papers.

    python -m bench.bench_recs [--members 2000] [--seed 1] [--timing 1000000]

**Quality**, offline, on the bundled real papers (tests/fixtures: the arXiv snapshot sample,
the arXiv API answers, the Hugging Face samples), each embedded by the bot's own model. The
papers that can be judged are those with arXiv categories (the Hugging Face page has none).
Simulated members: a topic is a primary category with at least 8 papers; a member saved 3 to
10 random papers of one topic (uniformly many). Their picks are ranked among every other
judgeable paper, and a pick is relevant when its categories include the topic (cross-lists
count). precision@10 and nDCG@10 (binary gains), mean over members with a 95% interval:

* ``chosen``: what the recommender ships (:func:`bot.recs.model.member_model`: the classifier
  from 3 positives, the centroid below), against a sample of 200 other papers, as in the bot;
* ``classifier``: the logistic regression alone; ``linear SVM``: the squared hinge instead
  (arxiv-sanity-lite's LinearSVC loss);
* ``centroid``: the mean of the member's vectors, centred on the papers' mean;
  ``centroid, raw``: the plain mean; ``nearest saved``: the best cosine to any saved paper;
* ``trending only``: bot.ranking's score today (what a member without a profile gets);
  ``random``.

Two more tables: by how many papers the member saved (1 to 10: where the classifier starts
to beat the centroid, hence ``CLASSIFIER_MIN``), and what 👎 does: the member sees their first
10 picks, dismisses the off-topic ones among them (3 at most), and the next 10 picks are
measured with and without those dismissals counting.

**Speed** (``--timing N``): a synthetic store of N papers (bench/corpus.py, loaded and given
vectors by the bot's own code; cached in bench/out), members with 10, 100 and 500 saves. The
pool read (cold, once per change of the newest vectors), then a whole ``Recommender.personal``
request for 25 picks with their reasons: with the member's model trained in it (the first
request after a signal) and kept (the next ones). The baseline, in the same run: scoring every
paper of the store instead of the newest 20,000 (one query reading all the vectors, then one
matrix product).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.corpus import OUT, write_corpus
from bot import ranking
from bot.recs import model as rm
from bot.recs.pool import CandidatePool
from bot.recs.recommender import Recommender
from bot.semantic.backfill import ready_meaning
from bot.semantic.codes import from_int8
from bot.semantic.model import Embedder
from bot.store import Store
from bot.store import vectors as vx
from bot.store.loader import load_file

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
REAL_FILES = (
    "trending-may-28.txt",
    "arxiv-metadata-oai-snapshot.200.jsonl",
    "daily_papers.sample.json",
    *sorted(f"arxiv-api/{p.name}" for p in (FIXTURES / "arxiv-api").glob("*.xml")),
)
K = 10
TOPIC_MIN = 8
SAVES = (3, 10)
DISMISS_AT_MOST = 3

FloatArray = npt.NDArray[np.float32]
Rows = npt.NDArray[np.int64]


# -- the bundled papers ----------------------------------------------------------------------


@dataclass
class Corpus:
    ids: list[str]
    vectors: FloatArray  # (n, dim) unit rows
    categories: list[list[str]]
    trending: Rows  # rows, best first by bot.ranking today
    center: FloatArray


async def real_corpus(folder: Path) -> Corpus:
    store = await Store.open(folder / "real.db")
    try:
        for name in REAL_FILES:
            await load_file(store, FIXTURES / name)
        await ready_meaning(store, Embedder.load())
        signals = await store.signals.of(list(range(1, await store.papers.latest_pid() + 1)))
        papers = {p.id: p for p in await store.papers.get_many([s.id for s in signals])}
        found = await store.db.read(partial(vx.vectors, pids=[s.pid for s in signals]))
    finally:
        await store.close()
    kept = [s for s in signals if s.pid in found and papers[s.id].categories]
    dim = len(found[kept[0].pid])
    raw = np.frombuffer(b"".join(found[s.pid] for s in kept), dtype=np.int8)
    vectors = from_int8(raw.reshape(len(kept), dim))
    candidates = [
        ranking.Candidate(
            row,
            s.id,
            ranking.Signals(
                source_rank=s.source_rank,
                upvotes=s.upvotes,
                published=s.published,
                added_at=s.added_at,
            ),
        )
        for row, s in enumerate(kept)
    ]
    order = [c.pid for c in ranking.rank(candidates, datetime.now(UTC))]
    return Corpus(
        ids=[s.id for s in kept],
        vectors=vectors,
        categories=[papers[s.id].categories for s in kept],
        trending=np.array(order, dtype=np.int64),
        center=vectors.mean(axis=0),
    )


# -- simulated members -------------------------------------------------------------------------


@dataclass
class Member:
    topic: str
    saved: list[int]  # rows
    relevant: npt.NDArray[np.bool_]  # per row: categories include the topic


def topics(corpus: Corpus) -> dict[str, list[int]]:
    by_primary: dict[str, list[int]] = {}
    for row, cats in enumerate(corpus.categories):
        by_primary.setdefault(cats[0], []).append(row)
    return {t: rows for t, rows in sorted(by_primary.items()) if len(rows) >= TOPIC_MIN}


def members(corpus: Corpus, count: int, saves: tuple[int, int], seed: int) -> list[Member]:
    rng = random.Random(seed)
    by_topic = topics(corpus)
    names = [t for t, rows in by_topic.items() if len(rows) >= saves[0] + 3]
    out = []
    for _ in range(count):
        topic = rng.choice(names)
        rows = by_topic[topic]
        k = rng.randint(saves[0], min(saves[1], len(rows) - 3))
        relevant = np.array([topic in c for c in corpus.categories])
        out.append(Member(topic, rng.sample(rows, k), relevant))
    return out


# -- the methods: scores of every row for a member ---------------------------------------------

Method = Callable[[Corpus, list[int], list[int], np.random.Generator], FloatArray]


def _sample(corpus: Corpus, saved: list[int], rng: np.random.Generator) -> FloatArray:
    allowed = np.setdiff1d(np.arange(len(corpus.ids)), saved)
    rows = rng.choice(allowed, size=min(rm.NEGATIVE_SAMPLE, allowed.size), replace=False)
    return corpus.vectors[np.sort(rows)]


def chosen(
    c: Corpus, saved: list[int], dismissed: list[int], rng: np.random.Generator
) -> FloatArray:
    model = rm.member_model(
        c.vectors[saved], c.vectors[dismissed], _sample(c, saved, rng), c.center
    )
    return model.scores(c.vectors)


def classifier(
    c: Corpus, saved: list[int], dismissed: list[int], rng: np.random.Generator
) -> FloatArray:
    return rm.classifier(c.vectors[saved], _sample(c, saved, rng), c.vectors[dismissed]).scores(
        c.vectors
    )


def svm(c: Corpus, saved: list[int], dismissed: list[int], rng: np.random.Generator) -> FloatArray:
    model = rm.classifier(
        c.vectors[saved], _sample(c, saved, rng), c.vectors[dismissed], loss="hinge", rate=0.5
    )
    return model.scores(c.vectors)


def centroid(
    c: Corpus, saved: list[int], dismissed: list[int], rng: np.random.Generator
) -> FloatArray:
    return rm.centroid(c.vectors[saved], c.vectors[dismissed], c.center).scores(c.vectors)


def centroid_raw(
    c: Corpus, saved: list[int], dismissed: list[int], rng: np.random.Generator
) -> FloatArray:
    zero = np.zeros_like(c.center)
    return rm.centroid(c.vectors[saved], c.vectors[dismissed], zero).scores(c.vectors)


def nearest(
    c: Corpus, saved: list[int], dismissed: list[int], rng: np.random.Generator
) -> FloatArray:
    out: FloatArray = (c.vectors @ c.vectors[saved].T).max(axis=1)
    return out


def trending(
    c: Corpus, saved: list[int], dismissed: list[int], rng: np.random.Generator
) -> FloatArray:
    scores = np.empty(len(c.ids), dtype=np.float32)
    scores[c.trending] = -np.arange(len(c.ids), dtype=np.float32)
    return scores


def random_order(
    c: Corpus, saved: list[int], dismissed: list[int], rng: np.random.Generator
) -> FloatArray:
    return rng.random(len(c.ids)).astype(np.float32)


METHODS: dict[str, Method] = {
    "chosen (recommender)": chosen,
    "classifier (logistic)": classifier,
    "linear SVM (sq. hinge)": svm,
    "centroid (centred)": centroid,
    "centroid, raw": centroid_raw,
    "nearest saved": nearest,
    "trending only": trending,
    "random": random_order,
}


# -- metrics ------------------------------------------------------------------------------------


def top(scores: FloatArray, hidden: Sequence[int], k: int = K) -> Rows:
    s = scores.astype(np.float64)
    s[list(hidden)] = -np.inf
    return np.argsort(-s, kind="stable")[:k]


def precision(picked: Rows, relevant: npt.NDArray[np.bool_]) -> float:
    return float(relevant[picked].mean())


def ndcg(picked: Rows, relevant: npt.NDArray[np.bool_], available: int) -> float:
    gains = relevant[picked].astype(float)
    dcg = float((gains / np.log2(np.arange(2, gains.size + 2))).sum())
    ideal = float((1.0 / np.log2(np.arange(2, min(K, available) + 2))).sum())
    return dcg / ideal if ideal else 0.0


def mean_ci(values: Sequence[float]) -> str:
    m = statistics.fmean(values)
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{m:.3f} ± {half:.3f}"


def evaluate(
    corpus: Corpus, crowd: list[Member], seed: int
) -> dict[str, tuple[list[float], list[float]]]:
    results: dict[str, tuple[list[float], list[float]]] = {}
    for name, method in METHODS.items():
        rng = np.random.default_rng(seed)
        p_at, n_at = [], []
        for m in crowd:
            picked = top(method(corpus, m.saved, [], rng), m.saved)
            left = int(m.relevant.sum()) - sum(bool(m.relevant[r]) for r in m.saved)
            p_at.append(precision(picked, m.relevant))
            n_at.append(ndcg(picked, m.relevant, left))
        results[name] = (p_at, n_at)
    return results


def by_saves(corpus: Corpus, count: int, seed: int) -> list[list[str]]:
    groups = ((1, 1), (2, 2), (3, 4), (5, 7), (8, 10))
    rows = []
    for lo, hi in groups:
        crowd = members(corpus, count, (lo, hi), seed + lo)
        line = [f"{lo}" if lo == hi else f"{lo}–{hi}"]
        for name in ("centroid (centred)", "classifier (logistic)", "chosen (recommender)"):
            rng = np.random.default_rng(seed)
            values = [
                precision(top(METHODS[name](corpus, m.saved, [], rng), m.saved), m.relevant)
                for m in crowd
            ]
            line.append(mean_ci(values))
        rows.append(line)
    return rows


def with_dismissals(corpus: Corpus, crowd: list[Member], seed: int) -> list[list[str]]:
    rows = []
    for name in ("chosen (recommender)", "centroid (centred)", "classifier (logistic)"):
        method = METHODS[name]
        rng = np.random.default_rng(seed)
        before, after, dismissed_n = [], [], []
        for m in crowd:
            first = top(method(corpus, m.saved, [], rng), m.saved).tolist()
            dismissed = [r for r in first if not m.relevant[r]][:DISMISS_AT_MOST]
            seen = [*m.saved, *first]
            before.append(precision(top(method(corpus, m.saved, [], rng), seen), m.relevant))
            after.append(precision(top(method(corpus, m.saved, dismissed, rng), seen), m.relevant))
            dismissed_n.append(len(dismissed))
        rows.append([name, f"{statistics.fmean(dismissed_n):.1f}", mean_ci(before), mean_ci(after)])
    return rows


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# -- speed at scale -------------------------------------------------------------------------------


def _ready(path: Path, done: Path) -> bool:
    """Whether the store was built whole before; if not, whatever is there is removed."""
    if path.exists() and done.exists():
        return True
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return False


async def scale_store(size: int, seed: int) -> Store:
    path = OUT / f"recs-{size}.db"
    done = path.with_suffix(".ready")
    if not _ready(path, done):
        corpus = write_corpus(size, seed)
        store = await Store.open(path)
        t0 = time.perf_counter()
        await load_file(store, corpus)
        print(f"  loaded {size:,} papers in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        t0 = time.perf_counter()
        await ready_meaning(store, Embedder.load())
        print(f"  vectors made in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        await store.close()
        done.write_text(str(size))
    return await Store.open(path)


def _ms(values: Sequence[float], q: float) -> str:
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.0f}"


async def timing(size: int, seed: int, repeats: int = 15) -> str:
    store = await scale_store(size, seed)
    try:
        newest = await store.papers.latest_pid()
        rng = random.Random(seed)
        # Saves: among the newest 200,000 papers (what members could have met lately).
        sample = rng.sample(range(max(1, newest - 200_000), newest + 1), 2_000)
        papers = [s.id for s in await store.signals.of(sample)]
        rows = []
        for count in (10, 100, 500):
            user = 7_000_000 + count
            await store.recs.forget(user)  # an earlier run's member
            for paper_id in rng.sample(papers, count):
                await store.social.toggle_save(user, paper_id)
            embedder = Embedder.load()
            rec = Recommender(store.db, token_model=lambda e=embedder: e)
            t0 = time.perf_counter()
            await store.db.read(rec.pool.get)
            pool_s = time.perf_counter() - t0
            trained, kept = [], []
            for _ in range(repeats):
                rec.forget(user)
                t0 = time.perf_counter()
                picks = await rec.personal(user, 25)
                trained.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await rec.personal(user, 25)
                kept.append(time.perf_counter() - t0)
            assert len(picks.picks) == 25 and picks.model == rm.CLASSIFIER
            rows.append(
                [
                    f"{count}",
                    f"{pool_s * 1000:.0f}",
                    _ms(trained, 0.5),
                    _ms(trained, 0.95),
                    _ms(kept, 0.5),
                    _ms(kept, 0.95),
                ]
            )

        # Baseline: every paper scored (all vectors read, one product), same model.
        def all_papers(conn: sqlite3.Connection) -> float:
            t0 = time.perf_counter()
            rows_ = vx.since(conn, 0, 10 * size)
            blob = b"".join(r[2] for r in rows_)
            vectors = from_int8(np.frombuffer(blob, dtype=np.int8).reshape(len(rows_), -1))
            _ = vectors @ vectors[0]
            return time.perf_counter() - t0

        base = [await store.db.read(all_papers) for _ in range(3)]
        pool = CandidatePool()
        snap = await store.db.read(pool.get)
    finally:
        await store.close()
    return (
        f"{size:,} papers; candidates: the newest {len(snap):,} ({snap.vectors.nbytes / 1e6:.0f} "
        "MB in memory); one request = 25 picks with their reasons\n\n"
        + table(
            [
                "saves",
                "pool read ms (once)",
                "request, model trained p50",
                "p95",
                "request, model kept p50",
                "p95",
            ],
            rows,
        )
        + f"\n\nBaseline, every paper scored instead: {min(base) * 1000:,.0f} ms a request "
        f"(best of 3) before any reasons."
    )


# -- main -----------------------------------------------------------------------------------------


async def main_async(args: argparse.Namespace) -> int:
    if args.members > 0:
        await quality(args)
    for size in args.timing:
        print("\n" + await timing(size, args.seed))
    return 0


async def quality(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = await real_corpus(Path(tmp))
    by_topic = topics(corpus)
    print(
        f"{len(corpus.ids)} judgeable papers; topics (papers): "
        + ", ".join(f"{t} ({len(r)})" for t, r in by_topic.items())
        + f"; {args.members} simulated members, seed {args.seed}\n"
    )
    crowd = members(corpus, args.members, SAVES, args.seed)
    results = evaluate(corpus, crowd, args.seed)
    trend = statistics.fmean(results["trending only"][0])
    base = results["centroid (centred)"][0]
    rows = [
        [
            name,
            mean_ci(p),
            mean_ci(n),
            f"{statistics.fmean(p) / trend:.1f}×" if trend else "–",
            mean_ci([a - b for a, b in zip(p, base, strict=True)]),
        ]
        for name, (p, n) in results.items()
    ]
    print("Members who saved 3–10 papers of one topic:\n")
    print(
        table(
            ["method", "precision@10", "nDCG@10", "vs trending", "p@10 − centroid (paired)"],
            rows,
        )
    )
    print("\nprecision@10 by the number of papers saved:\n")
    print(
        table(
            ["saved", "centroid (centred)", "classifier (logistic)", "chosen (recommender)"],
            by_saves(corpus, args.members, args.seed),
        )
    )
    print(
        "\n👎: the member dismisses the off-topic papers among their first 10 picks (3 at most);"
        " precision@10 of the next 10:\n"
    )
    print(
        table(
            ["method", "dismissed", "next 10, 👎 ignored", "next 10, 👎 counted"],
            with_dismissals(corpus, crowd, args.seed),
        )
    )
    counts = Counter(m.topic for m in crowd)
    print("\nmembers per topic: " + json.dumps(dict(sorted(counts.items()))))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=2000, help="0: no quality tables")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--timing",
        type=lambda s: [int(x) for x in s.split(",") if x],
        default=[],
        help="store sizes to time /foryou at, e.g. 1000000",
    )
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
