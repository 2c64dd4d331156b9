"""The trending score (bot.ranking): the documented formula and the orders it gives."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

from bot.ranking import Candidate, Signals, age_days, log_score, rank, score, signal

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
IMPORTED = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def cand(pid: int, **kw: object) -> Candidate:
    return Candidate(pid=pid, id=f"2406.{pid:05d}", signals=Signals(**kw))  # type: ignore[arg-type]


def test_formula_matches_the_docstring() -> None:
    s = Signals(source_rank=4, upvotes=31, published=date(2024, 5, 25), votes=(NOW,))
    expected_signal = 1 + 10 / 2 + 2 * 5 + 4 * 1
    assert math.isclose(signal(s, NOW), expected_signal)
    age = (NOW - datetime(2024, 5, 25, tzinfo=UTC)).total_seconds() / 86400
    assert math.isclose(age_days(s, NOW), age)
    assert math.isclose(score(s, NOW), expected_signal * 0.5 ** (age / 7))


def test_trending_list_without_dates_or_upvotes_ranks_by_list_position() -> None:
    # the default store: one trending list, everything imported at the same moment
    papers = [cand(i, source_rank=r, added_at=IMPORTED) for i, r in enumerate([3, 1, 50, 2, 10], 1)]
    ordered = rank(papers, NOW)
    assert [c.signals.source_rank for c in ordered] == [1, 2, 3, 10, 50]


def test_paper_weight_halves_every_week() -> None:
    fresh = Signals(source_rank=1, published=date(2024, 6, 1))
    week = Signals(source_rank=1, published=date(2024, 5, 25))
    assert math.isclose(score(week, NOW) / score(fresh, NOW), 0.5)


def test_server_votes_lift_a_paper_and_fade_with_their_age() -> None:
    top = cand(1, source_rank=1, added_at=IMPORTED)
    voted = cand(2, source_rank=5, added_at=IMPORTED, votes=(NOW, NOW, NOW))
    assert [c.pid for c in rank([top, voted], NOW)] == [2, 1]
    old_votes = cand(2, source_rank=5, added_at=IMPORTED, votes=(NOW - timedelta(days=12),) * 3)
    assert [c.pid for c in rank([top, old_votes], NOW)] == [1, 2]
    one = Signals(votes=(NOW - timedelta(days=3),))
    assert math.isclose(signal(one, NOW), 1 + 4 * 0.5)


def test_upvotes_count_logarithmically() -> None:
    a = Signals(upvotes=1)
    b = Signals(upvotes=1000)
    assert signal(a, NOW) < signal(b, NOW) < 25


def test_no_signals_means_newest_first() -> None:
    old = cand(1, published=date(2020, 1, 1))
    new = cand(2, published=date(2024, 5, 30))
    undated = cand(3, added_at=NOW - timedelta(days=3))
    assert [c.pid for c in rank([old, new, undated], NOW)] == [2, 3, 1]


def test_very_old_papers_still_order_correctly() -> None:
    a = cand(1, source_rank=1, published=date(1995, 1, 1))
    b = cand(2, source_rank=2, published=date(1995, 1, 1))
    c = cand(3, published=date(1994, 1, 1))
    assert score(a.signals, NOW) == 0.0  # underflows, but the order is kept
    assert log_score(a.signals, NOW) > log_score(b.signals, NOW) > log_score(c.signals, NOW)
    assert [x.pid for x in rank([c, b, a], NOW)] == [1, 2, 3]


def test_ties_are_broken_deterministically() -> None:
    a = Candidate(7, "b-paper", Signals(added_at=IMPORTED))
    b = Candidate(8, "a-paper", Signals(added_at=IMPORTED))
    assert [c.id for c in rank([a, b], NOW)] == ["a-paper", "b-paper"]
    assert [c.id for c in rank([b, a], NOW)] == ["a-paper", "b-paper"]


def test_future_dates_count_as_new_not_newer() -> None:
    future = Signals(published=date(2024, 6, 10))
    assert age_days(future, NOW) == 0.0
