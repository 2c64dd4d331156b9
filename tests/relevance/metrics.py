"""Ranking metrics over the judged suite: pure functions, no store, no search engine.

A *ranking* is the list of paper ids a search returned, best first. *relevant* is either the
judged grades (``{id: 1..3}``) or a plain collection of relevant ids. An id that appears twice
in a ranking counts once, at its first position. Papers not judged count as not relevant.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from statistics import fmean
from typing import TypedDict

from tests.relevance.suite import Query

Relevant = Mapping[str, int] | Collection[str]


class Evaluation(TypedDict):
    """Mean metrics (plus the number of ``queries``) over all queries and per kind."""

    overall: dict[str, float]
    by_kind: dict[str, dict[str, float]]


def _relevant_ids(relevant: Relevant, min_grade: int) -> set[str]:
    if isinstance(relevant, Mapping):
        return {pid for pid, grade in relevant.items() if grade >= min_grade}
    return set(relevant)


def _first_occurrences(ranked_ids: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    unique = []
    for pid in ranked_ids:
        if pid not in seen:
            seen.add(pid)
            unique.append(pid)
    return unique


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")


def recall_at(ranked_ids: Sequence[str], relevant: Relevant, k: int, min_grade: int = 1) -> float:
    """Share of the relevant papers (grade >= *min_grade*) found in the first *k* results."""
    _check_k(k)
    wanted = _relevant_ids(relevant, min_grade)
    if not wanted:
        raise ValueError("recall needs at least one relevant paper")
    found = wanted.intersection(_first_occurrences(ranked_ids)[:k])
    return len(found) / len(wanted)


def mrr(ranked_ids: Sequence[str], relevant: Relevant, min_grade: int = 1) -> float:
    """Reciprocal rank of the first relevant result (grade >= *min_grade*); 0 when none is."""
    wanted = _relevant_ids(relevant, min_grade)
    for rank, pid in enumerate(_first_occurrences(ranked_ids), 1):
        if pid in wanted:
            return 1 / rank
    return 0.0


def _dcg(grades: Iterable[int]) -> float:
    # Position i (1-based) gains 2^g - 1, discounted by log2(i + 1).
    return sum((2.0**g - 1) / math.log2(i + 1) for i, g in enumerate(grades, 1))


def ndcg_at(ranked_ids: Sequence[str], relevant_grades: Mapping[str, int], k: int) -> float:
    """Normalised discounted cumulative gain of the first *k* results.

    DCG@k = sum over positions i <= k of (2^grade - 1) / log2(i + 1), divided by the DCG@k of
    the ideal ranking (every judged paper, best grade first).
    """
    _check_k(k)
    ideal = _dcg(sorted((g for g in relevant_grades.values() if g > 0), reverse=True)[:k])
    if ideal == 0:
        raise ValueError("nDCG needs at least one paper with a grade above 0")
    top = _first_occurrences(ranked_ids)[:k]
    return _dcg(relevant_grades.get(pid, 0) for pid in top) / ideal


def judged_ids(query: Query, resolved: Mapping[str, str] | None = None) -> dict[str, int]:
    """A query's grades keyed by stored paper id (refs translated through *resolved*).

    Two refs naming one paper keep the higher grade. Without *resolved* the refs are used as
    they are (an arXiv ref is the stored id; a title ref then matches nothing).
    """
    grades: dict[str, int] = {}
    for ref, grade in query.relevant.items():
        pid = resolved[ref] if resolved is not None else ref
        grades[pid] = max(grade, grades.get(pid, 0))
    return grades


def _means(rows: list[dict[str, float]]) -> dict[str, float]:
    means = {name: fmean(row[name] for row in rows) for name in rows[0]}
    means["queries"] = len(rows)
    return means


def evaluate(
    run: Mapping[str, Sequence[str]],
    queries: Sequence[Query],
    resolved: Mapping[str, str] | None = None,
    k: int = 10,
) -> Evaluation:
    """Mean recall@k, MRR and nDCG@k over *queries*, overall and per kind.

    *run* maps each query text to the ranked ids a search returned (an empty list when it
    found nothing); a query missing from *run* is an error, not a zero. *resolved* is the
    ``ref -> id`` mapping from :func:`tests.relevance.suite.resolve`. Each mean row has
    ``recall@k``, ``mrr``, ``ndcg@k`` and the number of ``queries``.
    """
    if not queries:
        raise ValueError("no queries to evaluate")
    missing = [q.query for q in queries if q.query not in run]
    if missing:
        raise ValueError(f"the run has no ranking for {len(missing)} query(ies): {missing[:5]}")
    rows: dict[str, list[dict[str, float]]] = {}
    for query in queries:
        ranked, grades = run[query.query], judged_ids(query, resolved)
        row = {
            f"recall@{k}": recall_at(ranked, grades, k),
            "mrr": mrr(ranked, grades),
            f"ndcg@{k}": ndcg_at(ranked, grades, k),
        }
        rows.setdefault(query.kind, []).append(row)
    every = [row for kind_rows in rows.values() for row in kind_rows]
    return {
        "overall": _means(every),
        "by_kind": {kind: _means(kind_rows) for kind, kind_rows in rows.items()},
    }
