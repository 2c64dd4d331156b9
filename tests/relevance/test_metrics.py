"""The ranking metrics on small cases worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import pytest

from tests.relevance.metrics import evaluate, judged_ids, mrr, ndcg_at, recall_at
from tests.relevance.suite import Query

# log2(2) = 1, log2(3) = 1.5849625, log2(4) = 2.


def test_recall_counts_the_relevant_papers_in_the_first_k() -> None:
    ranked = ["d", "a", "e", "c"]
    grades = {"a": 3, "b": 2, "c": 1}
    # Top 2 = {d, a}: 1 of the 3 relevant papers (a, b, c).
    assert recall_at(ranked, grades, 2) == pytest.approx(1 / 3)
    # Top 4 = {d, a, e, c}: a and c, 2 of 3.
    assert recall_at(ranked, grades, 4) == pytest.approx(2 / 3)
    # Only grade >= 2 counts: relevant = {a, b}; top 4 holds a: 1 of 2.
    assert recall_at(ranked, grades, 4, min_grade=2) == pytest.approx(1 / 2)
    # A plain set of ids works the same way; k beyond the ranking just takes it all.
    assert recall_at(ranked, {"a", "c"}, 50) == 1.0


def test_recall_counts_a_repeated_id_once() -> None:
    # Top 2 of [a, a, c] after dropping the repeat is [a, c]: both relevant papers.
    assert recall_at(["a", "a", "c"], {"a": 1, "c": 1}, 2) == 1.0


def test_mrr_is_one_over_the_rank_of_the_first_relevant_result() -> None:
    ranked = ["d", "e", "c", "a"]
    grades = {"a": 3, "c": 1}
    assert mrr(ranked, grades) == pytest.approx(1 / 3)  # c at rank 3
    assert mrr(ranked, grades, min_grade=3) == pytest.approx(1 / 4)  # a at rank 4
    assert mrr(ranked, {"z": 3}) == 0.0
    assert mrr([], grades) == 0.0
    # A repeat does not push the next result down: [d, d, a] ranks a second.
    assert mrr(["d", "d", "a"], grades) == pytest.approx(1 / 2)


def test_ndcg_of_a_three_item_ranking() -> None:
    # Ranking b, a, c with grades a=3, b=1, c=2; gains 2^g - 1 are a=7, b=1, c=3.
    # DCG  = 1/log2(2) + 7/log2(3) + 3/log2(4) = 1 + 4.4165083 + 1.5 = 6.9165083
    # IDCG (a, c, b) = 7/1 + 3/1.5849625 + 1/2  = 7 + 1.8927893 + 0.5 = 9.3927893
    # nDCG = 6.9165083 / 9.3927893 = 0.7363636
    assert ndcg_at(["b", "a", "c"], {"a": 3, "b": 1, "c": 2}, 3) == pytest.approx(0.7363636)


def test_ndcg_cuts_both_rankings_at_k() -> None:
    # Ranking x, a, y with a=3, b=3 judged; k=2.
    # DCG@2  = 0 + 7/log2(3) = 4.4165083
    # IDCG@2 = 7/1 + 7/log2(3) = 11.4165083  (both grade-3 papers fit in the first two)
    # nDCG   = 4.4165083 / 11.4165083 = 0.3868528
    assert ndcg_at(["x", "a", "y"], {"a": 3, "b": 3}, 2) == pytest.approx(0.3868528)


def test_ndcg_bounds_and_repeats() -> None:
    grades = {"a": 3, "c": 2}
    assert ndcg_at(["a", "c", "zz"], grades, 10) == 1.0  # the ideal order
    assert ndcg_at(["zz", "yy"], grades, 10) == 0.0  # nothing judged relevant
    # [a, a, c] counts a once: DCG = 7 + 3/log2(3) = IDCG, so 1.0 (not above 1).
    assert ndcg_at(["a", "a", "c"], grades, 2) == pytest.approx(1.0)


def test_metrics_reject_what_has_no_answer() -> None:
    with pytest.raises(ValueError, match="at least one relevant"):
        recall_at(["a"], {}, 10)
    with pytest.raises(ValueError, match="grade above 0"):
        ndcg_at(["a"], {"a": 0}, 10)
    with pytest.raises(ValueError, match="k must be at least 1"):
        ndcg_at(["a"], {"a": 3}, 0)


def test_judged_ids_translates_refs_and_keeps_the_higher_grade() -> None:
    query = Query("q", "title", {"title:Foo": 2, "2401.00001": 3, "t-alias": 1}, "")
    resolved = {"title:Foo": "2401.00001", "2401.00001": "2401.00001", "t-alias": "t-1"}
    assert judged_ids(query, resolved) == {"2401.00001": 3, "t-1": 1}
    assert judged_ids(query) == {"title:Foo": 2, "2401.00001": 3, "t-alias": 1}


def test_evaluate_gives_means_per_kind_and_overall() -> None:
    queries = [
        Query("foo paper", "title", {"title:Foo": 3}),
        Query("two papers", "keyword", {"p1": 3, "p2": 1}),
        Query("nothing found", "keyword", {"p3": 2}),
    ]
    resolved = {"title:Foo": "t-1", "p1": "p1", "p2": "p2", "p3": "p3"}
    run = {"foo paper": ["x", "t-1"], "two papers": ["p2", "z", "p1"], "nothing found": []}
    result = evaluate(run, queries, resolved, k=10)
    # "foo paper": recall 1; MRR 1/2; nDCG = (7/log2(3)) / 7 = 1/1.5849625 = 0.6309298
    # "two papers": recall 2/2 = 1; MRR 1 (p2, grade 1, first);
    #   DCG = 1/1 + 0 + 7/log2(4) = 4.5, IDCG = 7 + 1/log2(3) = 7.6309298, nDCG = 0.5897053
    # "nothing found": all 0.
    title, keyword = result["by_kind"]["title"], result["by_kind"]["keyword"]
    assert title == pytest.approx(
        {"recall@10": 1.0, "mrr": 0.5, "ndcg@10": 0.6309298, "queries": 1}
    )
    # keyword: recall (1 + 0)/2, MRR (1 + 0)/2, nDCG (0.5897053 + 0)/2 = 0.2948527
    assert keyword == pytest.approx(
        {"recall@10": 0.5, "mrr": 0.5, "ndcg@10": 0.2948527, "queries": 2}
    )
    # overall: recall (1+1+0)/3, MRR (0.5+1+0)/3, nDCG (0.6309298+0.5897053+0)/3 = 0.4068784
    assert result["overall"] == pytest.approx(
        {"recall@10": 2 / 3, "mrr": 0.5, "ndcg@10": 0.4068784, "queries": 3}
    )


def test_evaluate_refuses_a_run_that_skips_a_query() -> None:
    queries = [Query("a", "id", {"p": 3}), Query("b", "id", {"q": 3})]
    with pytest.raises(ValueError, match=r"no ranking for 1 query.*'b'"):
        evaluate({"a": ["p"]}, queries)
