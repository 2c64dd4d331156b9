"""Search quality floors on the judged suite: fusing words and meaning is at least as good as
either alone, overall, on every metric (the numbers themselves are in the README)."""

from __future__ import annotations

from pathlib import Path

from bench.bench_relevance import METRICS, evaluate_all, load_meaning, methods
from tests.relevance.suite import build_store, load_queries


async def test_hybrid_is_at_least_as_good_as_each_method_alone(tmp_path: Path) -> None:
    queries = load_queries()
    store = await build_store(tmp_path / "pool.db")
    try:
        meaning = await load_meaning(store)
        assert meaning is not None
        results = await evaluate_all(store, queries, methods(meaning))
    finally:
        await store.close()
    hybrid = results["hybrid"]["overall"]
    for name in ("all-words", "partial", "meaning"):
        single = results[name]["overall"]
        for metric in METRICS:
            assert hybrid[metric] >= single[metric], (name, metric, hybrid, single)
    # And the point of the work: far better than every-word matching alone.
    assert hybrid["ndcg@10"] >= results["all-words"]["overall"]["ndcg@10"] + 0.2
