"""The trending score: which paper is the most worth posting today. Pure, no I/O.

One formula, for the daily post and anywhere else "trending" is needed::

    signal(p) = 1
              + 10 / sqrt(rank)                   if p is on a trending list at position rank (1 = top)
              + 2 * log2(1 + upvotes)             Hugging Face upvotes
              + 4 * sum over this server's 👍 votes v of 0.5 ** (age(v) / 3 days)
    score(p)  = signal(p) * 0.5 ** (age(p) / 7 days)

    age(p) = now - publication date, or now - when the paper entered the store when it has
             no date (never negative); age(v) = now - when the vote was cast.

So a paper's weight halves every week, each server vote counts 4 points when fresh and fades
with a half-life of three days, the top of a trending list is worth 11 points (position 4: 6,
position 100: 2), 100 upvotes about 13 points. With no signal at all a paper still scores
``0.5 ** (age / 7 days)``: newer first. A store that is only a trending list (no dates, no
upvotes, everything imported at once) therefore ranks by list position.

Ties (equal scores) go to the better list position, then more upvotes, then the paper id, so
the order is total and deterministic. Comparisons use ``log_score`` (the natural log of the
score) so that very old papers (whose score underflows a float) still order correctly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

__all__ = [
    "PAPER_HALF_LIFE_DAYS",
    "VOTE_HALF_LIFE_DAYS",
    "Candidate",
    "Signals",
    "age_days",
    "log_score",
    "rank",
    "score",
    "signal",
]

PAPER_HALF_LIFE_DAYS = 7.0
VOTE_HALF_LIFE_DAYS = 3.0
BASE_POINTS = 1.0
RANK_POINTS = 10.0
UPVOTE_POINTS = 2.0
VOTE_POINTS = 4.0
_DAY = 86400.0
_LN2 = math.log(2.0)


@dataclass(frozen=True, slots=True)
class Signals:
    """What the score is computed from. Every field is optional (None / empty = unknown)."""

    source_rank: int | None = None
    upvotes: int | None = None
    published: date | None = None
    added_at: datetime | None = None
    votes: Sequence[datetime] = field(default_factory=tuple)  # this server's 👍, when cast


@dataclass(frozen=True, slots=True)
class Candidate:
    """A paper to rank: its store key, its public id and its signals."""

    pid: int
    id: str
    signals: Signals


def _days_between(earlier: datetime, now: datetime) -> float:
    return max(0.0, (now - earlier).total_seconds() / _DAY)


def age_days(s: Signals, now: datetime) -> float:
    """Days since publication (or since the paper entered the store), never negative."""
    if s.published is not None:
        return _days_between(datetime.combine(s.published, time(0, 0), tzinfo=UTC), now)
    if s.added_at is not None:
        return _days_between(s.added_at, now)
    return 0.0


def signal(s: Signals, now: datetime) -> float:
    """The points before age decay (always >= 1)."""
    points = BASE_POINTS
    if s.source_rank is not None and s.source_rank >= 1:
        points += RANK_POINTS / math.sqrt(s.source_rank)
    if s.upvotes:
        points += UPVOTE_POINTS * math.log2(1 + max(0, s.upvotes))
    for cast in s.votes:
        points += VOTE_POINTS * 0.5 ** (_days_between(cast, now) / VOTE_HALF_LIFE_DAYS)
    return points


def log_score(s: Signals, now: datetime) -> float:
    """ln(score): ln(signal) - ln 2 * age / half-life. Safe for any age."""
    return math.log(signal(s, now)) - _LN2 * age_days(s, now) / PAPER_HALF_LIFE_DAYS


def score(s: Signals, now: datetime) -> float:
    """The score itself (``signal * 0.5 ** (age / 7 days)``); 0.0 once it underflows."""
    return math.exp(log_score(s, now))


def _order_key(c: Candidate, now: datetime) -> tuple[float, int, int, str]:
    rank_pos = c.signals.source_rank if c.signals.source_rank else 2**62
    return (-log_score(c.signals, now), rank_pos, -(c.signals.upvotes or 0), c.id)


def rank(candidates: Iterable[Candidate], now: datetime) -> list[Candidate]:
    """*candidates* best first (highest score, then the tie-breaks in the module docstring)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return sorted(candidates, key=lambda c: _order_key(c, now))
