"""The loader on real files: the fixtures, merges across formats, rejects, rollback, data/."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ingest import IngestError, UnknownFormatError
from bot.models import (
    SOURCE_ARXIV_API,
    SOURCE_HF_DAILY,
    SOURCE_HF_PAGE,
    SOURCE_USER,
    Paper,
    title_id,
)
from bot.store import Store
from bot.store import loader as loader_mod
from bot.store.loader import MAX_ERRORS, data_files, load_data_dir, load_file
from tests.helpers_store import (
    ARXIV_API,
    DAILY,
    SNAPSHOT,
    TRENDING,
    fts_instances,
    fts_match,
    make_store,
    table_rows,
    write_jsonl,
)

ROICTRL = "ROICtrl: Boosting Instance Control for Visual Generation"
ATOM_ONE = ARXIV_API / "id_1605.08386_s0_m100_199195aa31ad.xml"
HAS_PROC = os.path.isdir("/proc/self/fdinfo")
ALL_FIXTURES = [TRENDING, DAILY, SNAPSHOT, *sorted(ARXIV_API.glob("*.xml"))]


async def snapshot_state(store: Store) -> dict[str, list[tuple[object, ...]]]:
    state = {
        table: await table_rows(store, table)
        for table in ("papers", "paper_sources", "paper_aliases")
    }
    for index in ("papers_fts", "papers_title_fts"):
        state[index] = fts_instances(store, index)
    return state


async def test_every_fixture_loads_and_reimporting_changes_nothing(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        first = [await load_file(store, path) for path in ALL_FIXTURES]
        assert [r.format for r in first[:3]] == ["hf-page", "hf-daily", "arxiv-snapshot"]
        assert first[0].new == 64 and first[2].new == 200
        assert all(r.rejected == 0 and not r.skipped for r in first)
        total = await store.papers.count()
        assert total == sum(r.new for r in first)
        state = await snapshot_state(store)

        again = [await load_file(store, path) for path in ALL_FIXTURES]
        for before, after in zip(first, again, strict=True):
            assert (after.new, after.updated) == (0, 0), after.path
            assert after.unchanged == before.new + before.updated + before.unchanged
        assert await snapshot_state(store) == state
        await store.papers.check_fts()
        files = await store.db.fetchall("SELECT path, format, papers FROM imported_files")
        assert len(files) == len(ALL_FIXTURES)
    finally:
        await store.close()


async def test_a_canonical_file_gives_a_trending_paper_its_arxiv_id(tmp_path: Path) -> None:
    canonical = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {
                "id": "2411.17949v1",
                "title": "ROICtrl: boosting instance control for visual generation",
                "authors": ["Yuchao Gu", "Mike Zheng Shou"],
                "published": "2024-11-26",
                "categories": ["cs.CV"],
            },
            {"id": "2401.00001", "title": "Something else entirely"},
        ],
    )
    store = await make_store(tmp_path)
    try:
        await load_file(store, TRENDING)
        page = await store.papers.get(title_id(ROICTRL))
        assert page is not None and page.source_rank == 1
        pid = await store.papers.get_pid(page.id)

        report = await load_file(store, canonical)
        assert (report.format, report.new, report.updated, report.unchanged) == ("jsonl", 1, 1, 0)
        assert await store.papers.count() == 65
        merged = await store.papers.get("2411.17949")
        assert merged is not None
        assert await store.papers.get_pid("2411.17949") == pid
        assert merged.source_rank == 1 and merged.abstract == page.abstract
        assert merged.categories == ["cs.CV"]
        assert merged.authors == ["Yuchao Gu", "Mike Zheng Shou"]
        assert merged.title == "ROICtrl: boosting instance control for visual generation"
        assert await store.papers.get(title_id(ROICTRL)) == merged
        assert sorted(await store.papers.sources_of("2411.17949")) == [SOURCE_HF_PAGE, SOURCE_USER]
        # The index follows the new title and authors, under the same row.
        assert await fts_match(store, "zheng") == [pid]
        await store.papers.check_fts()
        # The trending page imported again (a new day's copy) still lands on that paper.
        again = await load_file(store, TRENDING)
        assert again.new == 0 and await store.papers.count() == 65
    finally:
        await store.close()


def daily_with_upvotes(tmp_path: Path) -> Path:
    items = json.loads(DAILY.read_text("utf-8"))
    items[0]["paper"]["upvotes"] = 42
    path = tmp_path / "daily.json"
    path.write_text(json.dumps(items), "utf-8")
    return path


def atom_for(tmp_path: Path, arxiv_id: str, title: str) -> Path:
    text = ATOM_ONE.read_text("utf-8").replace("1605.08386", arxiv_id)
    text = text.replace("Heat-bath random walks with Markov bases", title)
    path = tmp_path / f"{arxiv_id}.xml"
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize("daily_first", [True, False])
async def test_daily_and_atom_records_of_one_paper_merge(tmp_path: Path, daily_first: bool) -> None:
    daily = daily_with_upvotes(tmp_path)
    first_item = json.loads(daily.read_text("utf-8"))[0]["paper"]
    atom = atom_for(tmp_path, first_item["id"], "Effective strategies (arXiv title)")
    store = await make_store(tmp_path)
    try:
        order = [daily, atom] if daily_first else [atom, daily]
        reports = [await load_file(store, path) for path in order]
        assert sum(r.new for r in reports) == 5  # 5 daily papers, the Atom one among them
        paper = await store.papers.get(first_item["id"])
        assert paper is not None
        assert paper.upvotes == 42  # from Hugging Face
        assert paper.ai_summary == first_item["ai_summary"]
        assert paper.categories == ["math.CO", "math.ST"]  # from arXiv
        assert paper.title == "Effective strategies (arXiv title)"  # arXiv is authoritative
        assert paper.source == SOURCE_ARXIV_API
        assert sorted(await store.papers.sources_of(paper.id)) == [
            SOURCE_ARXIV_API,
            SOURCE_HF_DAILY,
        ]
        await store.papers.check_fts()
    finally:
        await store.close()


async def test_malformed_records_are_reported_and_the_rest_loads(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            {"id": "2401.00001", "title": "Good one"},
            "{not json",
            {"id": "2401.00002", "title": ""},
            {"id": "2401.00003", "title": "Bad date", "published": 5},
            {"id": "2401.00004", "title": "Good two"},
        ],
    )
    store = await make_store(tmp_path)
    try:
        report = await load_file(store, path)
        assert (report.new, report.rejected, report.records) == (2, 3, 5)
        assert [e.line for e in report.errors] == [2, 3, 4]
        assert "invalid JSON" in report.errors[0].reason
        assert "title" in report.errors[1].reason
        assert "published" in report.errors[2].reason
        assert [p.id for p in await store.papers.get_many(["2401.00001", "2401.00004"])] == [
            "2401.00001",
            "2401.00004",
        ]
        row = await store.db.fetchone("SELECT papers, rejected FROM imported_files")
        assert row is not None and tuple(row) == (2, 3)
    finally:
        await store.close()


async def test_the_error_list_is_capped_but_every_reject_is_counted(tmp_path: Path) -> None:
    lines: list[dict[str, object] | str] = ["{bad"] * (MAX_ERRORS + 50)
    lines.append({"id": "2401.00001", "title": "The only good one"})
    store = await make_store(tmp_path)
    try:
        report = await load_file(store, write_jsonl(tmp_path / "bad.jsonl", lines), batch_size=40)
        assert report.rejected == MAX_ERRORS + 50 and len(report.errors) == MAX_ERRORS
        assert report.errors[0].line == 1 and report.errors[-1].line == MAX_ERRORS
        assert report.new == 1
    finally:
        await store.close()


def truncated_gzip_of_changed_snapshot(tmp_path: Path) -> Path:
    """The snapshot fixture with every title changed, gzipped and cut in the middle."""
    lines = SNAPSHOT.read_text("utf-8").splitlines()
    changed = []
    for line in lines:
        record = json.loads(line)
        record["title"] = "Xyzzyplugh " + record["title"]
        changed.append(json.dumps(record))
    changed += [
        json.dumps({**json.loads(lines[0]), "id": f"2501.{i:05d}", "title": f"New {i}"})
        for i in range(1, 200)
    ]
    data = gzip.compress(("\n".join(changed) + "\n").encode())
    path = tmp_path / "snapshot.jsonl.gz"
    path.write_bytes(data[: int(len(data) * 0.7)])
    return path


@pytest.mark.parametrize("bulk", [False, True])
async def test_a_truncated_gzip_is_rolled_back_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    if bulk:  # the bulk-load FTS settings must be rolled back too
        monkeypatch.setattr(loader_mod, "BULK_BYTES", 0)
    broken = truncated_gzip_of_changed_snapshot(tmp_path)
    store = await make_store(tmp_path)
    try:
        await load_file(store, SNAPSHOT)
        await load_file(store, TRENDING)
        state = await snapshot_state(store)
        config = await table_rows(store, "papers_fts_config")
        files = await table_rows(store, "imported_files")
        calls: list[tuple[int, int, int]] = []
        with pytest.raises(IngestError, match=r"snapshot\.jsonl\.gz"):
            await load_file(store, broken, batch_size=25, progress=calls_to(calls))
        assert len(calls) >= 4  # several batches were written before the break...
        assert await snapshot_state(store) == state  # ...and all were rolled back
        assert await table_rows(store, "papers_fts_config") == config
        assert await table_rows(store, "imported_files") == files
        assert await fts_match(store, "xyzzyplugh") == []
        await store.papers.check_fts()
        # The store is still writable afterwards.
        assert (await load_file(store, TRENDING)).unchanged == 64
    finally:
        await store.close()


async def test_bulk_mode_leaves_the_index_consistent_and_settings_restored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader_mod, "BULK_BYTES", 0)
    store = await make_store(tmp_path)
    try:
        cache = await store.db.fetchval("PRAGMA cache_size")
        await load_file(store, SNAPSHOT, batch_size=30)
        await load_file(store, TRENDING)
        await store.papers.check_fts()
        assert await fts_match(store, "diphoton") != []
        # A new edition of the snapshot, every title changed: all updated, index follows.
        edition = tmp_path / "edition.jsonl"
        edition.write_text(
            "".join(
                json.dumps({**r, "title": "Xyzzyplugh " + r["title"]}) + "\n"
                for r in map(json.loads, SNAPSHOT.read_text("utf-8").splitlines())
            ),
            "utf-8",
        )
        report = await load_file(store, edition, batch_size=30)
        assert (report.new, report.updated, report.unchanged) == (0, 200, 0)
        await store.papers.check_fts()
        for table, cols in await store.papers.fts_tables():
            if "title" in cols:
                assert len(await fts_match(store, "xyzzyplugh", table)) == 200, table
            config = dict(await table_rows(store, f"{table}_config"))
            assert config.get("automerge", 4) == 4
            assert config.get("crisismerge", 16) == 16
        assert await store.db.fetchval("PRAGMA cache_size") == cache  # set back
    finally:
        await store.close()


async def test_unknown_formats_are_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\nthese are my notes, not papers\n", "utf-8")
    store = await make_store(tmp_path)
    try:
        with pytest.raises(UnknownFormatError):
            await load_file(store, notes)
        with pytest.raises(UnknownFormatError):
            await load_file(store, TRENDING, fmt="no-such-format")
        with pytest.raises(IngestError):
            await load_file(store, tmp_path / "missing.jsonl")
        assert await store.papers.count() == 0
        assert await table_rows(store, "imported_files") == []
    finally:
        await store.close()


def calls_to(calls: list[tuple[int, int, int]]) -> Callable[[int, int, int], None]:
    def progress(done: int, read: int, total: int) -> None:
        calls.append((done, read, total))

    return progress


async def test_progress_reports_records_and_bytes(tmp_path: Path) -> None:
    gz = tmp_path / "snapshot.jsonl.gz"
    gz.write_bytes(gzip.compress(SNAPSHOT.read_bytes()))
    store = await make_store(tmp_path)
    try:
        for path in (SNAPSHOT, gz):
            calls: list[tuple[int, int, int]] = []
            report = await load_file(store, path, batch_size=50, progress=calls_to(calls))
            size = path.stat().st_size
            assert calls[-1] == (report.records, size, size)
            assert [c[0] for c in calls] == sorted(c[0] for c in calls)
            assert all(0 <= c[1] <= size and c[2] == size for c in calls)
            if HAS_PROC:
                assert calls[0][1] > 0  # the reader's position is known mid-file
    finally:
        await store.close()


def make_data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "hf").mkdir(parents=True)
    (data / "trending.txt").write_bytes(TRENDING.read_bytes())
    (data / "hf" / "daily.json").write_bytes(DAILY.read_bytes())
    write_jsonl(data / "mine.jsonl", [{"id": "2401.00001", "title": "Mine"}])
    (data / "README.md").write_text("# what goes here\n", "utf-8")
    (data / ".hidden.jsonl").write_text('{"title": "hidden"}\n', "utf-8")
    (data / ".git").mkdir()
    (data / ".git" / "x.jsonl").write_text('{"title": "in a dot folder"}\n', "utf-8")
    return data


async def test_load_data_dir_imports_only_what_changed(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path)
    store = await make_store(tmp_path)
    try:
        first = await load_data_dir(store, data)
        names = [r.path.relative_to(data).as_posix() for r in first]
        assert names == ["hf/daily.json", "mine.jsonl", "trending.txt"]
        assert not any(r.skipped for r in first) and await store.papers.count() == 64 + 5 + 1

        second = await load_data_dir(store, data)
        assert all(r.skipped for r in second)

        # Touched but identical: the sha256 says so, and the new mtime is remembered.
        trending = data / "trending.txt"
        os.utime(trending, ns=(trending.stat().st_atime_ns, trending.stat().st_mtime_ns + 10**9))
        third = await load_data_dir(store, data)
        assert all(r.skipped for r in third)
        row = await store.db.fetchone(
            "SELECT mtime_ns FROM imported_files WHERE path = ?", (str(trending.resolve()),)
        )
        assert row is not None and row[0] == trending.stat().st_mtime_ns

        # Changed (same size even): re-imported, the others skipped.
        mine = data / "mine.jsonl"
        write_jsonl(mine, [{"id": "2401.00001", "title": "Mind"}])
        (data / "broken.jsonl.gz").write_bytes(gzip.compress(b'{"title": "x"}\n' * 50)[:40])
        fourth = {r.path.name: r for r in await load_data_dir(store, data)}
        assert fourth["mine.jsonl"].updated == 1 and not fourth["mine.jsonl"].skipped
        assert fourth["trending.txt"].skipped and fourth["daily.json"].skipped
        assert fourth["broken.jsonl.gz"].failed is not None
        paper = await store.papers.get("2401.00001")
        assert paper is not None and paper.title == "Mind"
    finally:
        await store.close()


async def test_data_files_skips_the_database_itself(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = await make_store(data, "paperbot.db")
    try:
        await store.papers.count()
        write_jsonl(data / "a.jsonl", [{"title": "A"}])
        assert [p.name for p in data_files(data)] != ["a.jsonl"]  # the db files are there
        reports = await load_data_dir(store, data)
        assert [r.path.name for r in reports] == ["a.jsonl"]
        assert reports[0].new == 1
    finally:
        await store.close()


def newer_page(path: Path, count: int) -> Path:
    """A newer trending page: the header, then the last *count* papers of the fixture's
    page in reverse order (so every rank changes)."""
    lines = [line for line in TRENDING.read_text(encoding="utf-8").splitlines() if line.strip()]
    header, body = lines[:5], lines[5:]  # "new" ... "May 28", then title/abstract pairs
    pairs = [body[i : i + 2] for i in range(0, len(body) - 1, 2)]
    chosen = list(reversed(pairs[-count:]))
    text = "\n\n".join(header + [line for pair in chosen for line in pair])
    path.write_text(text.replace("May 28", "May 29") + "\n")
    return path


async def test_a_newer_trending_list_replaces_the_old_ranks(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        await load_file(store, TRENDING)
        ranked = await store.db.fetchall(
            "SELECT title, source_rank FROM papers WHERE source_rank IS NOT NULL"
        )
        assert len(ranked) == 64
        page = newer_page(tmp_path / "trending-may-29.txt", 10)
        report = await load_file(store, page)
        assert report.papers == 10
        now = await store.db.fetchall(
            "SELECT title, source_rank FROM papers WHERE source_rank IS NOT NULL "
            "ORDER BY source_rank"
        )
        # Only the newer list's ten papers are ranked, in its order; nothing was deleted.
        assert [r["source_rank"] for r in now] == list(range(1, 11))
        old_order = {r["title"]: r["source_rank"] for r in ranked}
        assert [old_order[r["title"]] for r in now] == list(range(64, 54, -1))
        assert await store.papers.count() == 64
        # A daily list in another file is a list of its own: it leaves the page's ranks alone.
        await load_file(store, DAILY)
        still = await store.db.fetchval(
            "SELECT count(*) FROM papers WHERE rank_list = 'hf-page' AND source_rank IS NOT NULL"
        )
        assert still == 10
    finally:
        await store.close()


async def test_a_failed_trending_list_leaves_the_old_ranks(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        await load_file(store, TRENDING)
        before = await table_rows(store, "papers")
        page = newer_page(tmp_path / "trending-may-29.txt", 10)
        broken = tmp_path / "trending-may-29.txt.gz"
        data = gzip.compress(page.read_bytes())
        broken.write_bytes(data[: len(data) - 12])  # cut: the gzip ends early
        with pytest.raises(IngestError):
            await load_file(store, broken)
        assert await table_rows(store, "papers") == before
    finally:
        await store.close()


# -- beside a running bot ------------------------------------------------------------------


def test_live_batch_size_aims_at_the_hold_time() -> None:
    hold = loader_mod.LIVE_HOLD_SECONDS
    assert loader_mod.live_batch_size(1000, hold * 2, 5000) == 500  # too slow: halve
    assert loader_mod.live_batch_size(1000, hold / 2, 5000) == 2000  # quick: grow
    assert loader_mod.live_batch_size(1000, hold * 1000, 5000) == loader_mod.LIVE_MIN_BATCH
    assert loader_mod.live_batch_size(1000, hold / 1000, 5000) == 5000  # never past the largest
    assert loader_mod.live_batch_size(1000, 0.0, 5000) == 5000


@pytest.mark.parametrize("bot_running", [False, True])
async def test_a_load_beside_a_running_bot_commits_in_short_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bot_running: bool
) -> None:
    # The bot's writes wait for the loader's transaction: beside a bot (a live process lease,
    # as bot/app.py holds one), batches shrink until each holds the lock about
    # LIVE_HOLD_SECONDS. Here that is made tiny, so they shrink to the minimum.
    monkeypatch.setattr(loader_mod, "LIVE_HOLD_SECONDS", 1e-9)
    monkeypatch.setattr(loader_mod, "LIVE_MIN_BATCH", 20)
    store = await make_store(tmp_path)
    try:
        if bot_running:
            now = datetime.now(UTC)
            await store.leases.register(
                "process:other",
                "host:1:abc",
                ttl=timedelta(minutes=3),
                now=now,
                info="",
                prefix="process:",
                conflicts=lambda lease: False,
            )
        calls: list[int] = []
        report = await load_file(
            store, SNAPSHOT, batch_size=50, progress=lambda records, *_: calls.append(records)
        )
        assert report.new == 200 and await store.papers.count() == 200
        batches = len(calls) - 1  # progress is told once per batch, and once at the end
        # Beside a bot: 50, then 50 (read while the first was written), then 20 at a time.
        assert batches == (2 + 100 // 20 if bot_running else 200 // 50)
    finally:
        await store.close()


async def test_an_arxiv_url_id_merges_with_the_same_paper(tmp_path: Path) -> None:
    title = "Attention Is All You Need"
    first = write_jsonl(tmp_path / "a.jsonl", [{"id": "1706.03762", "title": title}])
    second = write_jsonl(
        tmp_path / "b.jsonl",
        [{"id": "https://arxiv.org/abs/1706.03762v7", "title": title, "doi": "10.1000/xyz"}],
    )
    store = await make_store(tmp_path)
    try:
        await load_file(store, first)
        await load_file(store, second)
        ids = [r[0] for r in await store.db.fetchall("SELECT id FROM papers")]
        assert ids == ["1706.03762"], ids
        paper = await store.papers.get("https://arxiv.org/abs/1706.03762v7")
        assert paper is not None and paper.doi == "10.1000/xyz"
    finally:
        await store.close()


async def test_a_record_with_another_kind_of_id_merges_with_its_arxiv_paper(
    tmp_path: Path,
) -> None:
    # A record of the member's own list, identified by a DOI or an OpenReview id: the same
    # paper as the arXiv record of that title, never a second card with arXiv links to an
    # arXiv id that does not exist.
    title = "Graph Attention Networks"
    mine = write_jsonl(
        tmp_path / "mine.jsonl",
        [
            {"id": "doi:10.1145/3366423.3380211", "title": title, "abstract": "Mine."},
            {"id": "openreview:rJXMpikCZ", "title": "A paper only on OpenReview"},
        ],
    )
    arxiv = write_jsonl(tmp_path / "arxiv.jsonl", [{"id": "1710.10903", "title": title}])
    store = await make_store(tmp_path)
    try:
        await load_file(store, mine)
        await load_file(store, arxiv)
        rows = await store.db.fetchall("SELECT id, title FROM papers ORDER BY pid")
        assert [r[0] for r in rows] == ["1710.10903", title_id("A paper only on OpenReview")]
        paper = await store.papers.get("1710.10903")
        assert paper is not None and paper.doi == "10.1145/3366423.3380211"
        other = await store.papers.get(title_id("A paper only on OpenReview"))
        assert other is not None and other.arxiv_id is None and other.url_abs is None
    finally:
        await store.close()


async def _vector_of(store: Store, paper_id: str) -> bytes | None:
    value = await store.db.fetchval(
        "SELECT v.vec FROM paper_vectors v JOIN papers p USING (pid) WHERE p.id = ?", (paper_id,)
    )
    return None if value is None else bytes(value)


async def _give_vectors(store: Store) -> None:
    pending = await store.vectors.pending(0, 1000)
    rows = [(p, bytes([p.pid % 100 + 1]) * 256) for p in pending]
    assert await store.vectors.store(rows) == len(pending)


async def test_a_paper_twice_in_a_file_keeps_its_vector_when_the_file_is_loaded_again(
    tmp_path: Path,
) -> None:
    # The same paper in two batches of one file (an older and a newer record): reloading the
    # file changes it and changes it back, so its vector (of its text) must stay.
    older = {"id": "2401.00001", "title": "A paper", "abstract": "The first version."}
    newer = {**older, "abstract": "The second version."}
    others = [{"id": f"2401.{n:05d}", "title": f"Paper {n}"} for n in range(2, 6)]
    path = write_jsonl(tmp_path / "mine.jsonl", [older, *others, newer])
    store = await make_store(tmp_path)
    try:
        await load_file(store, path, batch_size=2)
        await _give_vectors(store)
        vector = await _vector_of(store, "2401.00001")
        assert vector is not None
        await load_file(store, path, batch_size=2)
        paper = await store.papers.get("2401.00001")
        assert paper is not None and paper.abstract == "The second version."
        assert await _vector_of(store, "2401.00001") == vector
        assert await store.vectors.counts() == (5, 5)
        # A change of the text embedded drops it; a change of the authors alone does not.
        await store.papers.upsert_many(
            [Paper.create(title="A paper", arxiv_id="2401.00001", authors=["A. Writer"])],
            SOURCE_USER,
        )
        assert await _vector_of(store, "2401.00001") == vector
        await store.papers.upsert_many(
            [Paper.create(title="A paper", arxiv_id="2401.00001", abstract="Third.")],
            SOURCE_USER,
        )
        assert await _vector_of(store, "2401.00001") is None
    finally:
        await store.close()
