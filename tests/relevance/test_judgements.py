"""The judged queries are well formed and every judgement names a paper of the real pool."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from bot.models import title_id
from tests.relevance.suite import (
    JUDGED_POOL_SIZE,
    KINDS,
    TITLE_REF,
    Query,
    SuiteError,
    build_store,
    load_queries,
    resolve,
)

MIN_QUERIES = 60
MIN_PER_KIND = 4
ROICTRL = "ROICtrl: Boosting Instance Control for Visual Generation"


def normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def test_enough_queries_of_every_kind() -> None:
    queries = load_queries()
    assert len(queries) >= MIN_QUERIES
    kinds = Counter(q.kind for q in queries)
    assert set(kinds) <= set(KINDS)
    thin = {kind: kinds[kind] for kind in KINDS if kinds[kind] < MIN_PER_KIND}
    assert not thin, f"kinds with fewer than {MIN_PER_KIND} queries: {thin}"


def test_no_query_is_asked_twice() -> None:
    counts = Counter(normalised(q.query) for q in load_queries())
    assert [text for text, n in counts.items() if n > 1] == []


def test_grades_are_1_to_3_and_every_query_has_a_clear_answer() -> None:
    for query in load_queries():
        assert set(query.relevant.values()) <= {1, 2, 3}, query.query
        assert max(query.relevant.values()) >= 2, f"no grade 2 or 3 paper for {query.query!r}"
        assert query.note.strip(), f"no note for {query.query!r}"


async def test_every_ref_resolves_in_a_store_built_from_the_fixtures(tmp_path: Path) -> None:
    queries = load_queries()
    store = await build_store(tmp_path / "pool.db")
    try:
        count = await store.papers.count()
        assert count == JUDGED_POOL_SIZE, (
            f"the pool now holds {count} papers, the queries were judged on {JUDGED_POOL_SIZE}: "
            "judge the new papers against every query, then update JUDGED_POOL_SIZE"
        )
        ids = await resolve(store, queries)
    finally:
        await store.close()
    refs = {ref for q in queries for ref in q.relevant}
    assert set(ids) == refs
    assert ids[TITLE_REF + ROICTRL] == title_id(ROICTRL)
    assert ids["2202.12139"] == "2202.12139" and ids["hep-ph/0301050"] == "hep-ph/0301050"
    for query in queries:
        papers = [ids[ref] for ref in query.relevant]
        assert len(set(papers)) == len(papers), f"two refs name one paper in {query.query!r}"


async def test_resolve_names_every_ref_that_does_not_resolve(tmp_path: Path) -> None:
    queries = [
        Query("good", "title", {TITLE_REF + ROICTRL: 3, "0704.0001": 2}),
        Query("bad", "id", {"title:No Such Paper": 3, "9912.99999": 1, "0704.0001v2": 2}),
    ]
    store = await build_store(tmp_path / "pool.db")
    try:
        with pytest.raises(SuiteError) as caught:
            await resolve(store, queries)
        assert await resolve(store, queries[:1]) == {
            TITLE_REF + ROICTRL: title_id(ROICTRL),
            "0704.0001": "0704.0001",
        }
    finally:
        await store.close()
    message = str(caught.value)
    assert message.startswith("3 judgement ref(s) do not resolve")
    assert "'title:No Such Paper' (query 'bad') names no stored paper" in message
    assert "'9912.99999'" in message
    assert "'0704.0001v2' (query 'bad') should be written '0704.0001'" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "not a JSON object"),
        ('{"query": "x", "kind": "fuzzy", "relevant": {"p": 3}}', "'kind' is 'fuzzy'"),
        ('{"query": "x", "kind": "id", "relevant": {"p": 4}}', "grade of 'p' is 4"),
        ('{"query": "x", "kind": "id", "relevant": {"p": true}}', "grade of 'p' is True"),
        ('{"query": "x", "kind": "id", "relevant": {}}', "'relevant' must be a non-empty"),
        ('{"query": " ", "kind": "id", "relevant": {"p": 3}}', "'query' must be"),
        ('{"query": "x", "kind": "id", "relevant": {"p": 3}, "grade": 1}', "unknown field"),
    ],
)
def test_a_malformed_line_is_reported_with_its_line_number(
    tmp_path: Path, line: str, reason: str
) -> None:
    good = json.dumps({"query": "fine", "kind": "id", "relevant": {"p": 3}, "note": "ok"})
    path = tmp_path / "queries.jsonl"
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(SuiteError, match=rf"^queries\.jsonl line 3: .*{re.escape(reason)}"):
        load_queries(path)
    path.write_text(f"{good}\n\n", encoding="utf-8")
    assert load_queries(path) == [Query("fine", "id", {"p": 3}, "ok")]
