"""Search quality on the judged suite (tests/relevance): Recall@10, MRR and nDCG@10 per method.

    python -m bench.bench_relevance             # the table: methods x metrics, overall
    python -m bench.bench_relevance --by-kind   # also per query kind
    python -m bench.bench_relevance --sweep     # fusion weights and modes compared too

Methods, all in one run on one store holding the judged pool (371 real papers):

* ``all-words``: lexical, every word required (the search before meaning) - the baseline;
* ``partial``: lexical, plus papers holding most of the query's weight;
* ``meaning``: nearest papers by embedding only;
* ``hybrid``: partial lexical and meaning fused (what the bot runs).

Each query's ranking is taken to depth 100 (MRR looks that deep; the @10 metrics at 10).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot.search import SearchEngine, Tuning
from bot.search.engine import Meaning
from bot.store import Store
from tests.relevance.metrics import evaluate
from tests.relevance.suite import Query, build_store, load_queries, resolve

DEPTH = 100
METRICS = ("recall@10", "mrr", "ndcg@10")


def methods(meaning: Meaning | None) -> dict[str, tuple[Tuning, Meaning | None]]:
    hybrid = Tuning()
    found: dict[str, tuple[Tuning, Meaning | None]] = {
        "all-words": (Tuning(partial=False), None),
        "partial": (Tuning(), None),
    }
    if meaning is not None:
        found["meaning"] = (Tuning(lexical=False), meaning)
        found["hybrid"] = (hybrid, meaning)
    return found


def sweep(meaning: Meaning) -> dict[str, tuple[Tuning, Meaning | None]]:
    found: dict[str, tuple[Tuning, Meaning | None]] = {}
    base = Tuning()
    found["meaning always"] = (replace(base, meaning_below=None), meaning)
    for below in (5, 10, 25, 100):
        found[f"meaning only below {below} hits"] = (replace(base, meaning_below=below), meaning)
    for mode in ("rrf", "tiered"):
        for lex, mean in ((1.0, 1.0), (1.0, 0.5), (1.0, 0.75), (0.75, 1.0), (1.0, 1.5)):
            tuning = replace(base, mode=mode, lexical_weight=lex, meaning_weight=mean)
            found[f"{mode} lex={lex} mean={mean}"] = (tuning, meaning)
    return found


async def run_method(
    store: Store, tuning: Tuning, meaning: Meaning | None, queries: Sequence[Query]
) -> dict[str, list[str]]:
    engine = SearchEngine(store.db, meaning=meaning, tuning=tuning)
    await engine.warm()
    run: dict[str, list[str]] = {}
    for query in queries:
        result = await engine.search(query.query, limit=DEPTH)
        run[query.query] = [hit.paper.id for hit in result.hits]
    return run


async def load_meaning(store: Store) -> Meaning | None:
    """The bot's meaning search over *store* (vectors made now), or None without the model."""
    from bot.semantic.backfill import ready_meaning
    from bot.semantic.model import Embedder, ModelUnavailable

    try:
        embedder = Embedder.load()
    except ModelUnavailable as exc:
        print(f"meaning search unavailable: {exc}", file=sys.stderr)
        return None
    return await ready_meaning(store, embedder)


async def evaluate_all(
    store: Store, queries: Sequence[Query], chosen: dict[str, tuple[Tuning, Meaning | None]]
) -> dict[str, Any]:
    resolved = await resolve(store, queries)
    results: dict[str, Any] = {}
    for name, (tuning, meaning) in chosen.items():
        run = await run_method(store, tuning, meaning, queries)
        results[name] = evaluate(run, queries, resolved, k=10)
    return results


def table(results: dict[str, Any], by_kind: bool) -> str:
    lines = [f"{'method':<28}" + "".join(f"{m:>11}" for m in METRICS)]
    for name, evaluation in results.items():
        overall = evaluation["overall"]
        lines.append(f"{name:<28}" + "".join(f"{overall[m]:>11.3f}" for m in METRICS))
    if by_kind:
        kinds = sorted({k for e in results.values() for k in e["by_kind"]})
        for metric in ("ndcg@10", "recall@10"):
            lines.append("")
            lines.append(f"{metric} by kind".ljust(28) + "".join(f"{k[:10]:>11}" for k in kinds))
            for name, evaluation in results.items():
                row = evaluation["by_kind"]
                lines.append(f"{name:<28}" + "".join(f"{row[k][metric]:>11.3f}" for k in kinds))
        counts = next(iter(results.values()))["by_kind"]
        lines.append(
            "queries".ljust(28) + "".join(f"{int(counts[k]['queries']):>11}" for k in kinds)
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    queries = load_queries()
    with tempfile.TemporaryDirectory() as tmp:
        store = await build_store(Path(tmp) / "pool.db")
        try:
            meaning = await load_meaning(store)
            chosen = methods(meaning)
            if args.sweep and meaning is not None:
                chosen.update(sweep(meaning))
            results = await evaluate_all(store, queries, chosen)
        finally:
            await store.close()
    print(f"{len(queries)} judged queries over the bundled real papers; depth {DEPTH}")
    print(table(results, args.by_kind))
    if meaning is None:
        print("(meaning search is not available: meaning and hybrid left out)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--by-kind", action="store_true", help="also per query kind")
    parser.add_argument("--sweep", action="store_true", help="compare fusion settings too")
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
