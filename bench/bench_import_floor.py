"""What one paper of `python -m bot load` costs, stage by stage, against the 15,000/s target.

    python -m bench.bench_import_floor [--papers 100000] [--seed 1]

Takes the first ``--papers`` records of the synthetic arXiv snapshot corpus (bench/corpus.py,
the same records bench_store imports at 1M) and measures, on this machine:

* *parse*: reading the file into papers (:func:`bot.ingest.reader.read_papers`, orjson),
  CPU time of one thread;
* *write*: `load_file` into a new store (the real loader: journaled batches, rows, aliases,
  sources, both full-text tables), split into the full-text inserts (``INSERT INTO …_fts
  SELECT``, timed around each call) and the rest of the writer's time. The loader parses in a
  thread beside the writer, so the writer's time is the load's wall time;
* *vectors*: embedding title + abstract (:class:`bot.semantic.model.Embedder`), CPU time of
  one thread with a warm piece cache, as the vector pass's workers run it.

The baseline in the same run is the target itself: 15,000 papers/s on the machine's cores is a
budget of ``cores / 15,000`` CPU-seconds a paper. A stage sum above it means no schedule of
these stages on these cores reaches the target, however well they overlap; one writer (SQLite
allows one) above ``1 / 15,000`` s a paper means the same on any number of cores.

This is measured at 100k papers, where the B-trees and the full-text segments are smaller than
at 1M: the costs at 1M are higher (bench_store's import at 1M is slower per paper than at 100k).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.corpus import write_corpus
from bot.ingest.reader import read_papers
from bot.models import Paper
from bot.semantic.model import Embedder, paper_text
from bot.store import Store
from bot.store import papers as papers_module
from bot.store.loader import load_file

TARGET = 15_000  # papers/s, issue 12


def _sample(corpus: Path, count: int, into: Path) -> Path:
    with corpus.open("rb") as src, into.open("wb") as dst:
        dst.writelines(itertools.islice(src, count))
    return into


def parse_cost(path: Path) -> tuple[list[Paper], float]:
    began = time.thread_time()
    found = [item for item in read_papers(path) if isinstance(item, Paper)]
    return found, time.thread_time() - began


def vector_cost(papers: list[Paper]) -> float:
    embedder = Embedder.load()
    texts = [paper_text(p.title, p.abstract or "") for p in papers]
    embedder.embed(texts[: len(texts) // 5])  # the piece cache warms as the workers' does
    rest = texts[len(texts) // 5 :]
    began = time.process_time()
    embedder.embed(rest)
    return (time.process_time() - began) * len(texts) / len(rest)


async def write_cost(path: Path, db: Path) -> tuple[float, float, int]:
    """(load wall seconds, of which full-text inserts, papers stored)."""
    spent = [0.0]
    real_index = papers_module._index

    async def timed_index(*args: Any) -> None:
        began = time.perf_counter()
        try:
            await real_index(*args)
        finally:
            spent[0] += time.perf_counter() - began

    papers_module._index = timed_index  # type: ignore[assignment]
    try:
        store = await Store.open(db)
        began = time.perf_counter()
        report = await load_file(store, path)
        wall = time.perf_counter() - began
        await store.close()
    finally:
        papers_module._index = real_index
    return wall, spent[0], report.papers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    corpus = write_corpus(1_000_000, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        sample = _sample(corpus, args.papers, Path(tmp) / "sample.jsonl")
        papers, parse_s = parse_cost(sample)
        n = len(papers)
        wall, fts_s, stored = asyncio.run(write_cost(sample, Path(tmp) / "floor.db"))
        vectors_s = vector_cost(papers)
    us = 1e6 / n
    stages = [
        ("parse (one thread)", parse_s * us),
        ("write: rows, sources, aliases, journal", (wall - fts_s) * us),
        ("write: full-text index (2 FTS5 tables)", fts_s * us),
        ("vectors: embedding (one thread)", vectors_s * us),
    ]
    total = sum(cost for _, cost in stages)
    writer = wall * us
    budget = cores * 1e6 / TARGET
    print(f"Import floor: {n:,} papers of the 1M corpus, {cores} cores; stored {stored:,}")
    print(f"{'stage':42} {'µs a paper':>11} {'alone, papers/s':>16}")
    print("-" * 71)
    for name, cost in stages:
        print(f"{name:42} {cost:11.1f} {1e6 / cost:16,.0f}")
    print("-" * 71)
    print(f"{'all stages (CPU)':42} {total:11.1f}")
    print(f"{'baseline: the target on these cores':42} {budget:11.1f} {TARGET:16,}")
    print(
        f"\nbest case, every stage overlapped on {cores} cores: {cores * 1e6 / total:,.0f}/s "
        f"({total / budget:.1f}x the budget); the one writer alone: {1e6 / writer:,.0f}/s "
        f"({writer / (1e6 / TARGET):.1f}x its budget of {1e6 / TARGET:.1f} µs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
