"""What the benchmarks print: percentiles and right-aligned tables."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pct(values: Sequence[float], p: float) -> float:
    """The *p*-th percentile of *values* (NaNs left out), interpolated; NaN when empty."""
    ordered = sorted(v for v in values if not math.isnan(v))
    if not ordered:
        return math.nan
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def table(rows: list[list[str]], header: list[str]) -> str:
    """*rows* under *header*, each column right-aligned to its widest cell."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])
