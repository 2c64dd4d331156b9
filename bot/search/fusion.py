"""Fusing ranked lists (lexical, meaning) into one order, with exact hits pinned first.

Reciprocal rank fusion (Cormack et al., 2009): a paper's fused score is the sum, over the
lists that hold it, of ``weight / (k + rank)`` (rank from 1). It needs no score calibration
between lists (BM25-like sums and cosine similarities are not comparable), and a paper found
by both lists rises above one found by either. ``k`` = 60 is the paper's value; the weights
and the mode were chosen on the judged suite (``bench/bench_relevance.py``).

Modes:
- ``"rrf"``: one fused order.
- ``"tiered"``: papers with every query word first (in fused order), then the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

RRF_K = 60.0
Mode = Literal["rrf", "tiered"]


def fuse(
    lists: Iterable[tuple[Sequence[int], float]],
    *,
    pinned: Sequence[int] = (),
    first_tier: set[int] | None = None,
    mode: Mode = "rrf",
    k: float = RRF_K,
) -> list[int]:
    """One order for every pid of *lists* (``(ranked pids, weight)`` pairs), *pinned* first.

    With ``mode="tiered"``, the pids of *first_tier* (e.g. every-word matches) come before
    the others, each group in fused order.
    """
    scores: dict[int, float] = {}
    for pids, weight in lists:
        for rank, pid in enumerate(pids, start=1):
            scores[pid] = scores.get(pid, 0.0) + weight / (k + rank)
    order = sorted(scores, key=lambda p: (-scores[p], -p))
    if mode == "tiered" and first_tier:
        order = [p for p in order if p in first_tier] + [p for p in order if p not in first_tier]
    seen = set(pinned)
    return list(dict.fromkeys(pinned)) + [p for p in order if p not in seen]
