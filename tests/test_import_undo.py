"""Undoing an import (a failed file, or `python -m bot undo`) beside other writers: what
someone else wrote meanwhile is kept, and nothing the import did is left behind."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.ingest import IngestError
from bot.models import SOURCE_ARXIV_API, SOURCE_HF_PAGE, Paper, title_id
from bot.store import loader as loader_mod
from bot.store.loader import load_file
from tests.helpers_store import make_store


def _break_after_first(monkeypatch: pytest.MonkeyPatch, written: threading.Event) -> None:
    """The file's reader hands out its first record, then waits (in its worker thread) until
    the test's other writer has committed, then the real read goes on (and hits the break)."""
    real = loader_mod.read_papers

    def read_papers(path: Path, fmt: str | None = None) -> Iterator[object]:
        items = real(path, fmt)

        def gen() -> Iterator[object]:
            for i, item in enumerate(items):
                if i == 1:
                    written.wait(10)
                yield item

        return gen()

    monkeypatch.setattr(loader_mod, "read_papers", read_papers)


def _truncated_gzip(path: Path, records: list[dict[str, object]]) -> Path:
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())
    path.write_bytes(data[: len(data) * 3 // 4])
    return path


async def test_undoing_a_failed_import_keeps_a_paper_another_writer_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A big file is stored in committed batches while the bot goes on writing. The file
    # breaks after its first batch; meanwhile a member looked 2401.00001 up on arXiv (the
    # "Find papers" action stores what arXiv returned) and saved it.
    records: list[dict[str, object]] = [
        {"id": f"2401.{i:05d}", "title": f"Paper number {i} about topic {i * 7}"}
        for i in range(1, 300)
    ]
    broken = _truncated_gzip(tmp_path / "big.jsonl.gz", records)
    monkeypatch.setattr(loader_mod, "WRITER_GAP_SECONDS", 0)
    written = threading.Event()
    _break_after_first(monkeypatch, written)
    store = await make_store(tmp_path)
    try:

        async def member() -> None:
            while await store.papers.get("2401.00001") is None:  # noqa: ASYNC110 (written by the loader)
                await asyncio.sleep(0.005)
            from_arxiv = Paper.create(
                title="Paper number 1 about topic 7",
                arxiv_id="2401.00001v2",
                abstract="The abstract arXiv returned.",
                authors=["Ada Lovelace"],
                source=SOURCE_ARXIV_API,
            )
            await store.papers.upsert_many([from_arxiv], SOURCE_ARXIV_API)
            await store.social.toggle_save(42, "2401.00001")
            written.set()

        task = asyncio.create_task(member())
        with pytest.raises(IngestError):
            await load_file(store, broken, fmt="jsonl", batch_size=1)
        await asyncio.wait_for(task, 10)
        kept = await store.papers.get("2401.00001")
        assert kept is not None, "the failed import's undo deleted the arXiv lookup's paper"
        assert kept.abstract == "The abstract arXiv returned."
        assert await store.social.saved_ids(42) == ["2401.00001"]
    finally:
        written.set()
        await store.close()


async def test_undo_keeps_the_alias_of_a_paper_it_does_not_put_back(tmp_path: Path) -> None:
    title = "Sparse Mixtures of Experts Are Domain Generalizable Learners"
    store = await make_store(tmp_path)
    try:
        page = Paper.create(title=title, source=SOURCE_HF_PAGE, source_rank=3)
        await store.papers.upsert_many([page], SOURCE_HF_PAGE)
        old_id = title_id(title)
        assert (await store.papers.get(old_id)) is not None

        # An import (journaled) gives the trending paper its arXiv id ...
        journal = await store.imports.begin("/data/mine.jsonl")
        arxiv = Paper.create(title=title, arxiv_id="2206.04046", authors=["A. Author"])
        await store.papers.upsert_many([arxiv], "jsonl", journal=journal)
        # ... a later write (the arXiv refresh) updates the same paper ...
        later = Paper.create(
            title=title, arxiv_id="2206.04046", abstract="Newer text.", source=SOURCE_ARXIV_API
        )
        await store.papers.upsert_many([later], SOURCE_ARXIV_API)
        # ... then the import fails and is undone: the later write wins, the paper keeps
        # its arXiv id, so links carrying its former title id must still resolve.
        await store.imports.undo(journal)
        now = await store.papers.get("2206.04046")
        assert now is not None and now.abstract == "Newer text."
        assert (await store.papers.get(old_id)) is not None, "old t- link no longer resolves"
    finally:
        await store.close()


def _daily_lines(path: Path, items: list[tuple[str, str]]) -> bytes:
    data = "".join(
        json.dumps({"paper": {"id": pid, "title": title, "upvotes": 10}}) + "\n"
        for pid, title in items
    ).encode()
    path.write_bytes(data)
    return data


async def test_a_failed_daily_list_does_not_keep_papers_ranked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader_mod, "WRITER_GAP_SECONDS", 0)
    p = ("2501.00001", "Paper P on the Monday list")
    q = ("2501.00002", "Paper Q on the Monday list")
    monday = tmp_path / "monday.jsonl"
    store = await make_store(tmp_path)
    try:
        _daily_lines(monday, [p, q])
        await load_file(store, monday)
        # Tuesday's list (P again first) breaks part-way and is undone.
        others = [(f"2501.{i:05d}", f"Another paper {i}") for i in range(10, 300)]
        data = gzip.compress(_daily_lines(tmp_path / "t.jsonl", [p, *others]))
        broken = tmp_path / "tuesday.jsonl.gz"
        broken.write_bytes(data[: len(data) * 3 // 4])
        with pytest.raises(IngestError):
            await load_file(store, broken, fmt="hf-daily", batch_size=1)
        # A newer Monday list without P replaces the Monday list: P is on no list any more.
        _daily_lines(monday, [q])
        await load_file(store, monday)
        trending = [x.id for x in await store.papers.top_by_source_rank(10)]
        assert trending == ["2501.00002"], "P stays ranked by a list that was never imported"
    finally:
        await store.close()
