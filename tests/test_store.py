"""PaperRepo on real SQLite files: merging, identity, FTS sync, queries; migrations."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ingest import read_papers
from bot.models import (
    SOURCE_ARXIV_API,
    SOURCE_ARXIV_SNAPSHOT,
    SOURCE_HF_DAILY,
    SOURCE_HF_PAGE,
    SOURCE_USER,
    Paper,
    fast_title_key,
    title_id,
    title_key,
)
from bot.store import Store, StoreError
from bot.store.database import Database, load_migrations
from bot.store.papers import UpsertCounts
from bot.store.rows import COLUMNS, paper_to_row, row_to_paper
from tests.helpers_store import SNAPSHOT, TRENDING, fts_match, make_store, table_rows


def arxiv(
    arxiv_id: str, title: str, source: str = SOURCE_ARXIV_SNAPSHOT, **fields: object
) -> Paper:
    fields.setdefault("abstract", f"Abstract of {title}.")
    return Paper.create(title=title, arxiv_id=arxiv_id, source=source, **fields)


def hf_page(title: str, rank: int, **fields: object) -> Paper:
    fields.setdefault("abstract", f"Trending abstract of {title}.")
    return Paper.create(title=title, source=SOURCE_HF_PAGE, source_rank=rank, **fields)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await make_store(tmp_path)
    yield s
    await s.close()


# -- migrations ---------------------------------------------------------------------------------


async def test_open_applies_every_migration_and_migrate_twice_is_a_no_op(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        expected = len(load_migrations())
        assert expected >= 1
        assert await store.db.schema_version() == expected
        schema = await table_rows(store, "sqlite_master")
        assert await store.db.migrate() == expected
        assert await store.db.schema_version() == expected
        assert await table_rows(store, "sqlite_master") == schema
    finally:
        await store.close()
    # Reopening the same file applies nothing either.
    store = await make_store(tmp_path)
    try:
        assert await table_rows(store, "sqlite_master") == schema
    finally:
        await store.close()


async def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={len(load_migrations()) + 1}")
    conn.close()
    db = Database(path)
    try:
        with pytest.raises(StoreError, match="newer than this"):
            await db.open()
    finally:
        await db.close()  # (Database.open leaves the connection open on a StoreError)


# -- row conversion and keys ----------------------------------------------------------------------


def test_paper_row_round_trip() -> None:
    paper = Paper(
        id="2401.00001",
        title="Tëst — a title",
        abstract="An abstract.",
        authors=['Ada "A." Lovelace', "Zoë Ö"],
        published=date(2024, 1, 2),
        categories=["cs.CL", "cs.AI"],
        url_abs="https://arxiv.org/abs/2401.00001",
        url_pdf="https://arxiv.org/pdf/2401.00001",
        url_code="https://github.com/x/y",
        url_project="https://x.y",
        url_hf="https://huggingface.co/papers/2401.00001",
        source=SOURCE_HF_DAILY,
        source_rank=3,
        upvotes=12,
        ai_summary="Summary.",
        ai_keywords=["a", "b"],
    )
    row = paper_to_row(paper)
    assert len(row) == len(COLUMNS)
    assert row[COLUMNS.index("title_key")] == title_key(paper.title)
    assert row_to_paper(row) == paper
    # Names keep their letters in the stored JSON (the FTS index tokenizes it).
    assert "Zoë" in row[COLUMNS.index("authors")]


def test_fast_title_key_agrees_with_models_on_the_fixtures() -> None:
    titles = [p.title for p in read_papers(SNAPSHOT) if isinstance(p, Paper)]
    titles += [p.title for p in read_papers(TRENDING) if isinstance(p, Paper)]
    titles += ["Itô calculus", "A_B  c--d", "  Émile's ÆON ", "x² + y²", "İstanbul"]
    for title in titles:
        assert fast_title_key(title) == title_key(title), title


@given(st.text(max_size=80))
def test_fast_title_key_agrees_with_models(title: str) -> None:
    assert fast_title_key(title) == title_key(title)


# -- upserts ----------------------------------------------------------------------------------


async def test_new_papers_are_stored_whole_and_counted(store: Store) -> None:
    papers = [arxiv("2401.00001", "First paper"), arxiv("2401.00002", "Second paper")]
    counts = await store.papers.upsert_many(papers, SOURCE_ARXIV_SNAPSHOT)
    assert counts == UpsertCounts(new=2, updated=0, unchanged=0)
    assert await store.papers.get("2401.00001") == papers[0]
    assert await store.papers.count() == 2
    assert await store.papers.sources_of("2401.00002") == [SOURCE_ARXIV_SNAPSHOT]


async def test_upserting_the_same_records_again_changes_no_row(store: Store) -> None:
    papers = [arxiv(f"2401.{i:05d}", f"Paper number {i}") for i in range(1, 30)]
    papers += [hf_page("Only a title here", 1)]
    await store.papers.upsert_many(papers, SOURCE_ARXIV_SNAPSHOT)
    before = await table_rows(store, "papers")
    sources = await table_rows(store, "paper_sources")
    counts = await store.papers.upsert_many(papers, SOURCE_ARXIV_SNAPSHOT)
    assert counts == UpsertCounts(new=0, updated=0, unchanged=30)
    assert await table_rows(store, "papers") == before
    assert await table_rows(store, "paper_sources") == sources


async def test_versions_collapse_into_one_paper(store: Store) -> None:
    v1 = arxiv("2401.00001v1", "Old title", abstract="First version.")
    v2 = arxiv("arXiv:2401.00001v2", "New title", abstract="Second version.")
    assert (await store.papers.upsert_many([v1], SOURCE_ARXIV_API)).new == 1
    assert (await store.papers.upsert_many([v2], SOURCE_ARXIV_API)).updated == 1
    assert await store.papers.count() == 1
    stored = await store.papers.get("2401.00001v1")
    assert stored is not None
    assert stored.id == "2401.00001"
    assert (stored.title, stored.abstract) == ("New title", "Second version.")


async def test_duplicates_within_one_batch_merge(store: Store) -> None:
    batch = [
        arxiv("2401.00001v1", "Old title"),
        hf_page("A trending paper", 1),
        arxiv("2401.00001v2", "New title", categories=["cs.CL"]),
        hf_page("A  TRENDING paper!", 1, upvotes=7),  # same title key
        arxiv("2401.00002", "A trending paper"),  # the title-only one gets its arXiv id
    ]
    counts = await store.papers.upsert_many(batch, SOURCE_USER)
    assert counts == UpsertCounts(new=2, updated=0, unchanged=0)
    assert await store.papers.count() == 2
    first = await store.papers.get("2401.00001")
    assert first is not None and first.title == "New title" and first.categories == ["cs.CL"]
    trending = await store.papers.get("2401.00002")
    assert trending is not None
    assert trending.upvotes == 7 and trending.source_rank == 1
    # The arXiv record's title wins over the page's ("A TRENDING paper!").
    assert trending.title == "A trending paper"


async def test_a_title_only_paper_takes_the_arxiv_id_when_it_arrives(store: Store) -> None:
    page = hf_page("Scaling Laws for Everything", 3, abstract="From the trending page.")
    await store.papers.upsert_many([page], SOURCE_HF_PAGE)
    pid = await store.papers.get_pid(page.id)
    assert page.id.startswith("t-") and pid is not None

    later = arxiv("2405.12345v2", "Scaling laws for everything", categories=["cs.LG"])
    counts = await store.papers.upsert_many([later], SOURCE_ARXIV_API)
    assert counts == UpsertCounts(new=0, updated=1, unchanged=0)
    assert await store.papers.count() == 1
    merged = await store.papers.get("2405.12345")
    assert merged is not None
    assert merged.id == "2405.12345"
    assert merged.categories == ["cs.LG"]
    assert merged.title == "Scaling laws for everything"  # arXiv is more authoritative
    assert merged.source_rank == 3  # trending rank kept
    assert await store.papers.get_pid("2405.12345") == pid  # same row: votes etc. stay
    # The old title id still resolves, alone and in get_many.
    assert await store.papers.get(page.id) == merged
    assert await store.papers.get_many([page.id, "2405.12345"]) == [merged, merged]
    assert sorted(await store.papers.sources_of("2405.12345")) == [
        SOURCE_ARXIV_API,
        SOURCE_HF_PAGE,
    ]
    # The trending page imported again joins the arXiv paper instead of making a new one.
    again = await store.papers.upsert_many([page], SOURCE_HF_PAGE)
    assert again.new == 0 and await store.papers.count() == 1


async def test_a_title_only_record_joins_an_arxiv_paper_with_that_title(store: Store) -> None:
    await store.papers.upsert_many([arxiv("2405.00001", "Diffusion Models Beat GANs")], "x")
    page = hf_page("Diffusion models beat GANs", 1, upvotes=99)
    counts = await store.papers.upsert_many([page], SOURCE_HF_PAGE)
    assert counts == UpsertCounts(new=0, updated=1, unchanged=0)
    stored = await store.papers.get("2405.00001")
    assert stored is not None
    assert (stored.upvotes, stored.source_rank, stored.title) == (
        99,
        1,
        "Diffusion Models Beat GANs",
    )


async def test_two_arxiv_papers_with_one_title_stay_apart(store: Store) -> None:
    papers = [arxiv("2401.00001", "Erratum"), arxiv("2402.00002", "Erratum")]
    await store.papers.upsert_many(papers[:1], SOURCE_ARXIV_SNAPSHOT)
    counts = await store.papers.upsert_many(papers[1:], SOURCE_ARXIV_SNAPSHOT)
    assert counts.new == 1
    assert await store.papers.count() == 2


async def test_social_fields_from_hf_and_bibliography_from_arxiv(store: Store) -> None:
    daily = arxiv(
        "2603.21489",
        "HF title",
        source=SOURCE_HF_DAILY,
        abstract="HF abstract",
        upvotes=42,
        ai_summary="AI summary",
    )
    api = arxiv(
        "2603.21489v2", "arXiv title", source=SOURCE_ARXIV_API, categories=["cs.SE", "cs.AI"]
    )
    for order in ([daily, api], [api, daily]):
        await store.papers.upsert_many([order[0]], order[0].source)
        await store.papers.upsert_many([order[1]], order[1].source)
        paper = await store.papers.get("2603.21489")
        assert paper is not None
        assert paper.upvotes == 42 and paper.ai_summary == "AI summary"
        assert paper.categories == ["cs.SE", "cs.AI"]
        assert paper.title == "arXiv title" and paper.source == SOURCE_ARXIV_API
        assert await store.papers.delete("2603.21489")


# -- FTS ------------------------------------------------------------------------------------------


async def test_fts_follows_inserts_updates_and_deletes(store: Store) -> None:
    await store.papers.upsert_many(
        [arxiv("2401.00001", "Quantum walrus dynamics", authors=["Ada Lovelace"])], "x"
    )
    pid = await store.papers.get_pid("2401.00001")
    assert await fts_match(store, "walrus") == [pid]
    assert await fts_match(store, "lovelace") == [pid]

    renamed = arxiv("2401.00001v2", "Classical penguin kinetics", authors=["Ada Lovelace"])
    assert (await store.papers.upsert_many([renamed], "x")).updated == 1
    assert await fts_match(store, "penguin") == [pid]
    assert await fts_match(store, "walrus") == []
    assert await fts_match(store, "lovelace") == [pid]
    await store.papers.check_fts()

    # A change outside the indexed columns leaves the index alone (and consistent).
    upvoted = arxiv("2401.00001", "Classical penguin kinetics", upvotes=5)
    assert (await store.papers.upsert_many([upvoted], SOURCE_HF_DAILY)).updated == 1
    assert await fts_match(store, "penguin") == [pid]
    await store.papers.check_fts()

    assert await store.papers.delete("2401.00001")
    assert await fts_match(store, "penguin") == []
    assert await store.papers.get("2401.00001") is None
    await store.papers.check_fts()


async def test_every_fts_table_over_papers_is_kept_in_sync(store: Store) -> None:
    # Any FTS5 table declared with content='papers' is found and written; this one is
    # created here, so the test holds whatever the search schema declares.
    await store.db.execute(
        "CREATE VIRTUAL TABLE test_abstract_fts USING fts5("
        "abstract, content='papers', content_rowid='pid', detail=none)"
    )
    tables = dict(await store.papers.fts_tables())
    assert tables["papers_fts"] == ("title", "authors", "abstract")
    assert tables["test_abstract_fts"] == ("abstract",)
    assert all(name.endswith("_fts") for name in tables)  # no fts5vocab tables

    await store.papers.upsert_many(
        [arxiv("2401.00001", "Walrus", abstract="about a narwhal")], SOURCE_ARXIV_API
    )
    pid = await store.papers.get_pid("2401.00001")
    assert await fts_match(store, "narwhal", "test_abstract_fts") == [pid]
    changed = arxiv("2401.00001", "Walrus", abstract="about an orca")
    await store.papers.upsert_many([changed], SOURCE_ARXIV_API)
    assert await fts_match(store, "narwhal", "test_abstract_fts") == []
    assert await fts_match(store, "orca", "test_abstract_fts") == [pid]
    await store.papers.check_fts()


async def test_check_fts_notices_an_index_out_of_sync(store: Store) -> None:
    await store.papers.upsert_many([arxiv("2401.00001", "Quantum walrus dynamics")], "x")
    await store.db.execute("UPDATE papers SET title = 'changed behind its back'")
    with pytest.raises(StoreError, match="out of sync"):
        await store.papers.check_fts()


async def test_no_triggers_write_the_fts_index(store: Store) -> None:
    # PaperRepo writes the index itself; a trigger doing it too would index rows twice.
    rows = await store.db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'papers'"
    )
    assert [r[0] for r in rows] == []


# -- queries ----------------------------------------------------------------------------------


async def test_get_accepts_every_spelling_of_an_id(store: Store) -> None:
    await store.papers.upsert_many([arxiv("2401.00001", "A paper")], "x")
    for spelling in (
        "2401.00001",
        "2401.00001v3",
        "arXiv:2401.00001",
        " https://arxiv.org/abs/2401.00001v2 ",
        "https://huggingface.co/papers/2401.00001",
    ):
        paper = await store.papers.get(spelling)
        assert paper is not None and paper.id == "2401.00001", spelling
    assert await store.papers.get("2401.99999") is None
    assert await store.papers.get("") is None
    page = hf_page("Only a title", 1)
    await store.papers.upsert_many([page], SOURCE_HF_PAGE)
    assert await store.papers.get(title_id("Only a title")) == page


async def test_get_many_and_get_by_pids_keep_the_order_given(store: Store) -> None:
    papers = [arxiv(f"2401.{i:05d}", f"Paper {i}") for i in range(1, 6)]
    await store.papers.upsert_many(papers, "x")
    got = await store.papers.get_many(["2401.00003", "nope", "2401.00001", "2401.00005"])
    assert [p.id for p in got] == ["2401.00003", "2401.00001", "2401.00005"]
    assert await store.papers.get_many([]) == []
    pids = [await store.papers.get_pid(i) for i in ("2401.00004", "2401.00002")]
    got = await store.papers.get_by_pids([p for p in pids if p is not None] + [999])
    assert [p.id for p in got] == ["2401.00004", "2401.00002"]


async def test_counts_random_latest_and_trending(store: Store) -> None:
    assert await store.papers.count() == 0
    assert await store.papers.random() is None
    assert await store.papers.latest_added_at() is None
    assert await store.papers.count_by_source() == {}

    await store.papers.upsert_many(
        [
            hf_page("Rank two, few votes", 2, upvotes=1),
            hf_page("Rank one", 1, upvotes=3),
            hf_page("Rank two, many votes", 2, upvotes=50),
        ],
        SOURCE_HF_PAGE,
    )
    await store.papers.upsert_many(
        [arxiv("2401.00001", "Rank one"), arxiv("2401.00002", "Unranked")],
        SOURCE_ARXIV_SNAPSHOT,
    )
    assert await store.papers.count() == 4
    assert await store.papers.count_by_source() == {SOURCE_HF_PAGE: 3, SOURCE_ARXIV_SNAPSHOT: 2}
    top = await store.papers.top_by_source_rank(10)
    assert [p.title for p in top] == ["Rank one", "Rank two, many votes", "Rank two, few votes"]
    assert top[0].id == "2401.00001"
    assert [p.title for p in await store.papers.top_by_source_rank(1, offset=1)] == [
        "Rank two, many votes"
    ]

    latest = await store.papers.latest_added_at()
    assert latest is not None and latest.tzinfo is not None
    assert abs((datetime.now(UTC) - latest).total_seconds()) < 60

    ids = {p.id for p in await store.papers.get_many(["2401.00001", "2401.00002"])}
    everything = {(await store.papers.get_by_pids([pid]))[0].id for pid in range(1, 5)}
    seen = {(await store.papers.random()).id for _ in range(60)}  # type: ignore[union-attr]
    assert seen <= everything and len(seen) > 1
    keep = next(iter(everything - ids))
    for _ in range(20):
        pick = await store.papers.random(exclude_ids=everything - {keep})
        assert pick is not None and pick.id == keep
    assert await store.papers.random(exclude_ids=everything) is None


async def test_stored_json_columns_are_json(store: Store) -> None:
    await store.papers.upsert_many(
        [arxiv("2401.00001", "A paper", authors=["A B", "C D"], ai_keywords=["x"])], "x"
    )
    row = await store.db.fetchone("SELECT authors, ai_keywords, categories FROM papers")
    assert row is not None
    assert json.loads(row[0]) == ["A B", "C D"] and json.loads(row[1]) == ["x"]


async def test_pids_never_reused_after_deleting_the_newest_paper(tmp_path: Path) -> None:
    from bot.models import Paper

    store = await make_store(tmp_path)
    try:
        await store.papers.upsert_many(
            [Paper.create(title=f"Paper {i}", arxiv_id=f"2401.0000{i}") for i in (1, 2)], "jsonl"
        )
        newest = await store.papers.get_pid("2401.00002")
        assert await store.papers.delete("2401.00002")
        await store.papers.upsert_many(
            [Paper.create(title="Paper 3", arxiv_id="2401.00003")], "jsonl"
        )
        assert (await store.papers.get_pid("2401.00003") or 0) > (newest or 0)
    finally:
        await store.close()


async def test_a_transaction_cancelled_while_starting_leaves_the_database_usable(
    tmp_path: Path,
) -> None:
    import asyncio
    import contextlib

    store = await make_store(tmp_path)
    try:

        async def write() -> None:
            async with store.db.transaction() as conn:
                await conn.execute("INSERT INTO meta(key, value) VALUES ('a', '1')")

        for _ in range(20):  # cancel at various points of BEGIN / the body
            task = asyncio.create_task(write())
            await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await store.db.execute("DELETE FROM meta WHERE key = 'a'")
        await store.meta.set("b", "2")
        assert await store.meta.get("b") == "2"
    finally:
        await store.close()
