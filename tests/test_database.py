"""One writer and read-only readers: what each sees, and a big load that never locks the bot out.

Everything runs on real SQLite files; "another process" is a second Store on the same file
(its own connections, exactly what a second process has) or a real ``python -m bot load``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.models import Paper
from bot.store import Store
from bot.store.database import Database, ReadBudgetExceeded, StoreError
from bot.store.loader import load_file
from tests.helpers_store import SNAPSHOT, TRENDING, fts_instances, make_store, table_rows

ROOT = Path(__file__).resolve().parent.parent


def paper(n: int) -> Paper:
    return Paper(id=f"2601.{n:05d}", title=f"Paper number {n} on graphs", abstract="words")


def many_records(path: Path, count: int) -> Path:
    """*count* arXiv-snapshot records: the real 200, repeated under new ids."""
    real = [json.loads(line) for line in SNAPSHOT.read_text().splitlines()]
    with open(path, "w", encoding="utf-8") as out:
        for i in range(count):
            record = dict(real[i % len(real)])
            record["id"] = f"2512.{i:05d}"
            record["title"] = f"{record['title']} (copy {i})"
            out.write(json.dumps(record) + "\n")
    return path


async def test_readers_never_see_uncommitted_rows(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        await store.papers.upsert_many([paper(1)], "jsonl")
        async with store.db.transaction() as conn:
            await store.papers.upsert_many([paper(2), paper(3)], "jsonl", conn=conn)
            # The writer sees its own rows; every reader still sees the last commit.
            async with conn.execute("SELECT count(*) FROM papers") as cur:
                row = await cur.fetchone()
            assert row is not None and row[0] == 3
            assert await store.papers.count() == 1
            assert await store.papers.get("2601.00002") is None
        assert await store.papers.count() == 3  # committed: visible at once
    finally:
        await store.close()


async def test_a_read_runs_in_one_snapshot_off_the_event_loop(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        await store.papers.upsert_many([paper(1)], "jsonl")
        seen: list[int] = []
        loop_thread = os.getpid(), asyncio.get_running_loop()

        def two_counts(conn: sqlite3.Connection) -> list[int]:
            first = conn.execute("SELECT count(*) FROM papers").fetchone()[0]
            # A commit by the writer between the two statements (the read holds a snapshot).
            asyncio.run_coroutine_threadsafe(
                store.papers.upsert_many([paper(2)], "jsonl"), loop_thread[1]
            ).result(timeout=10)
            second = conn.execute("SELECT count(*) FROM papers").fetchone()[0]
            return [first, second]

        seen = await store.db.read(two_counts)
        assert seen == [1, 1]
        assert await store.papers.count() == 2
    finally:
        await store.close()


async def test_a_read_past_its_budget_is_stopped(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:

        def endless(conn: sqlite3.Connection) -> int:
            sql = (
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                "SELECT count(*) FROM n"
            )
            return int(conn.execute(sql).fetchone()[0])

        began = time.monotonic()
        with pytest.raises(ReadBudgetExceeded, match="budget"):
            await store.db.read(endless, budget=0.05)
        assert time.monotonic() - began < 5
        # The reader is usable again afterwards (no handler left behind).
        assert await store.db.fetchval("SELECT 41 + 1") == 42
    finally:
        await store.close()


async def test_readers_cannot_write(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            await store.db.fetchall("DELETE FROM papers")
    finally:
        await store.close()


async def test_an_in_memory_database_is_refused_with_a_reason() -> None:
    with pytest.raises(StoreError, match="in-memory"):
        Database(":memory:")


async def test_a_write_waits_for_another_process_then_gives_up_clearly(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    other = sqlite3.connect(tmp_path / "paperbot.db", isolation_level=None)
    try:
        store.db.write_timeout = 0.3
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreError, match="locked by another process"):
            await store.meta.set("k", "v")
        other.execute("ROLLBACK")
        # Released: the same write now goes through.
        await store.papers.upsert_many([paper(1)], "jsonl")
        assert await store.papers.count() == 1
    finally:
        other.close()
        await store.close()


async def test_a_big_load_lets_another_writer_in_between_batches(tmp_path: Path) -> None:
    """The bot (one Store) keeps writing while another Store (the CLI) loads a big file.

    Before: one transaction per file, so the bot's writes waited for the whole file (or
    failed with "database is locked"), and no write could land while the load ran.
    """
    big = many_records(tmp_path / "big.jsonl", 3_000)
    loader_side = await make_store(tmp_path)
    bot_side = await Store.open(tmp_path / "paperbot.db")
    try:
        await bot_side.papers.upsert_many([paper(1)], "jsonl")
        counts_at_write: list[int] = []
        errors: list[BaseException] = []
        loading = asyncio.Event()

        async def bot_writes() -> None:
            await loading.wait()
            user = 0
            while loading.is_set():
                user += 1
                try:
                    await bot_side.social.toggle_vote(1, user, "2601.00001")
                except Exception as exc:
                    errors.append(exc)
                    return
                counts_at_write.append(await bot_side.papers.count())
                await asyncio.sleep(0.005)

        def progress(done: int, read: int, total: int) -> None:
            loading.set()

        writer = asyncio.create_task(bot_writes())
        report = await load_file(loader_side, big, batch_size=100, progress=progress)
        loading.clear()
        await writer
        assert errors == []
        assert report.new == 3_000
        # Some votes landed while the file was half-loaded.
        assert any(1 < n < 3_001 for n in counts_at_write), counts_at_write[:5]
        votes = await bot_side.db.fetchval("SELECT count(*) FROM votes")
        assert votes == len(counts_at_write)
    finally:
        await bot_side.close()
        await loader_side.close()


async def test_while_a_load_is_journaled_alert_scanners_stop_below_it(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        await load_file(store, TRENDING)
        settled_before = await store.imports.settled_pid()
        assert settled_before == await store.papers.latest_pid() == 64
        journal = await store.imports.begin("some file")
        async with store.db.transaction() as conn:
            await store.papers.upsert_many(
                [paper(1), paper(2)], "jsonl", conn=conn, journal=journal
            )
        assert await store.papers.latest_pid() == 66  # visible to searches...
        assert await store.imports.settled_pid() == 64  # ...not to alert scanners yet
        async with store.db.transaction() as conn:
            await store.imports.finish(conn, journal)
        assert await store.imports.settled_pid() == 66
    finally:
        await store.close()


async def test_undo_puts_back_changed_rows_and_removes_new_ones(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        await load_file(store, TRENDING)
        await load_file(store, SNAPSHOT)
        before = {t: await table_rows(store, t) for t in ("papers", "paper_sources")}
        index = fts_instances(store)
        target = (await store.papers.get_many(["0704.0001"]))[0]
        journal = await store.imports.begin("edit")
        changed = Paper(
            id=target.id,
            title=target.title,
            abstract="A completely different abstract about zebras.",
            source="hf-daily",
            upvotes=7,
        )
        async with store.db.transaction() as conn:
            await store.papers.upsert_many(
                [changed, paper(9)], "hf-daily", conn=conn, journal=journal
            )
        assert (await store.papers.get("0704.0001")).upvotes == 7  # type: ignore[union-attr]
        report = await store.imports.undo(journal)
        assert (report.restored, report.deleted) == (1, 1)
        assert {t: await table_rows(store, t) for t in ("papers", "paper_sources")} == before
        assert fts_instances(store) == index
        await store.papers.check_fts()
        assert await store.imports.running() == 0
        # The removed paper's pid is never handed out again.
        await store.papers.upsert_many([paper(10)], "jsonl")
        assert await store.papers.get_pid("2601.00010") == 266
    finally:
        await store.close()


async def test_undo_leaves_a_later_change_by_someone_else(tmp_path: Path) -> None:
    store = await make_store(tmp_path)
    try:
        await load_file(store, SNAPSHOT)
        journal = await store.imports.begin("edit")
        async with store.db.transaction() as conn:
            await store.papers.upsert_many(
                [Paper(id="0704.0001", title="x", source="hf-daily", upvotes=3)],
                "hf-daily",
                conn=conn,
                journal=journal,
            )
        await asyncio.sleep(0.01)  # updated_at has millisecond resolution
        await store.papers.upsert_many(
            [Paper(id="0704.0001", title="x", source="hf-daily", upvotes=12)], "hf-daily"
        )
        await store.imports.undo(journal)
        kept = await store.papers.get("0704.0001")
        assert kept is not None and kept.upvotes == 12
    finally:
        await store.close()


def test_a_killed_load_is_undone_when_the_store_next_opens(tmp_path: Path) -> None:
    db = tmp_path / "paperbot.db"
    big = many_records(tmp_path / "big.jsonl", 15_000)

    async def prepare() -> tuple[dict[str, object], list[tuple[object, ...]]]:
        store = await Store.open(db)
        try:
            await load_file(store, TRENDING)
            return {"papers": await table_rows(store, "papers")}, fts_instances(store)
        finally:
            await store.close()

    state, index = asyncio.run(prepare())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "DISCORD_"))}
    env.update(PAPERBOT_DATABASE=str(db), PAPERBOT_DATA_DIR=str(tmp_path))
    (tmp_path / "empty.env").touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--env-file", str(tmp_path / "empty.env"), "load", str(big)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        watcher = sqlite3.connect(db)
        try:
            while time.monotonic() < deadline:
                try:
                    inserted = watcher.execute("SELECT count(*) FROM import_new").fetchone()[0]
                except sqlite3.OperationalError:
                    inserted = 0
                if inserted >= 1:
                    break
                assert proc.poll() is None, "the load ended before it could be interrupted"
                time.sleep(0.01)
            else:
                pytest.fail("the load never committed a batch")
            half = watcher.execute("SELECT count(*) FROM papers").fetchone()[0]
        finally:
            watcher.close()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert half > 64  # part of the file was committed before the kill

    async def reopen() -> tuple[dict[str, object], list[tuple[object, ...]], int]:
        store = await Store.open(db)  # recovers: the dead process's import is undone
        try:
            await store.papers.check_fts()
            return (
                {"papers": await table_rows(store, "papers")},
                fts_instances(store),
                await store.imports.running(),
            )
        finally:
            await store.close()

    after, after_index, running = asyncio.run(reopen())
    assert running == 0
    assert after == state
    assert after_index == index


async def test_two_processes_opening_a_new_database_at_once_both_come_up(tmp_path: Path) -> None:
    # Two shard processes started together on a fresh file: each read "version 0", one
    # migrates while the other waits for the write lock; the other must then see the work
    # done, not run the migrations a second time ("table papers already exists").
    # SQLite answers the switch to WAL "locked" at once, without waiting, when the two meet
    # there (a few times in a hundred): try it often enough to meet.
    for attempt in range(25):
        path = tmp_path / f"shared-{attempt}.db"
        first, second = Database(path), Database(path)
        try:
            await asyncio.gather(first.open(), second.open())
            assert await first.schema_version() == await second.schema_version() > 0
            await first.execute("INSERT INTO meta(key, value) VALUES ('k', 'v')")
            assert await second.fetchval("SELECT value FROM meta WHERE key = 'k'") == "v"
        finally:
            await first.close()
            await second.close()
