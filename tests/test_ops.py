"""Operating PaperBot: backup while the bot writes, upgrading an old database in place,
refusing a newer one, and ``doctor`` (real files, a real local HTTP server)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import bot.semantic.model as model_module
from bot.config import Secret, Settings
from bot.models import Paper
from bot.ops import backup as backup_module
from bot.ops.backup import backup
from bot.ops.doctor import Check, run_doctor
from bot.store import Store, StoreError
from bot.store import database as database_module
from bot.store.health import inspect_database, latest_version
from bot.store.rows import COLUMNS, paper_to_row
from tests.fakesources import FakeSources

# Shaped like a bot token (three base64url parts), not a real one.
FAKE_TOKEN = "MTA0OTk5OTk5OTk5OTk5OTk5OQ.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB"


def papers(n: int, start: int = 0) -> list[Paper]:
    return [
        Paper.create(
            title=f"Backup test paper number {i}",
            arxiv_id=f"2501.{10000 + i}",
            abstract="An abstract long enough to fill a few pages of the database. " * 4,
            authors=["Ada Lovelace", "Alan Turing"],
            source="jsonl",
        )
        for i in range(start, start + n)
    ]


def row_count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


# -- backup ----------------------------------------------------------------------------------


async def test_backup_while_another_connection_writes(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    bot_store = await Store.open(db)  # the running bot
    writer = await Store.open(db)  # another connection, writing throughout
    try:
        await bot_store.papers.upsert_many(papers(3000), "jsonl")
        committed_before = await bot_store.papers.count()
        stop = asyncio.Event()
        written = 0

        async def keep_writing() -> None:
            nonlocal written
            batch = 0
            while not stop.is_set():
                await writer.papers.upsert_many(papers(20, 10_000 + batch * 20), "jsonl")
                batch += 1
                written = batch * 20
                await asyncio.sleep(0)

        task = asyncio.create_task(keep_writing())
        await asyncio.sleep(0.05)
        during_start = written
        info = await backup(db, tmp_path / "backups" / "copy.db")
        during_end = written
        stop.set()
        await task
    finally:
        await writer.close()
        await bot_store.close()
    assert during_end > during_start, "the writer must have been writing during the backup"
    assert info.path == tmp_path / "backups" / "copy.db" and info.size > 0
    assert info.schema_version == latest_version()
    # The copy stands alone (no -wal beside it), passes integrity_check, has every row
    # committed before the backup, and is one consistent moment of the writer's progress.
    assert not (tmp_path / "backups" / "copy.db-wal").exists()
    conn = sqlite3.connect(info.path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        copied = conn.execute("SELECT count(*) FROM papers").fetchone()[0]
        fts = conn.execute(
            "SELECT count(*) FROM papers_fts WHERE papers_fts MATCH 'lovelace'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert copied >= committed_before + during_start
    assert copied <= committed_before + during_end + 20
    assert (copied - committed_before) % 20 == 0  # whole batches only: no torn transaction
    assert fts == copied
    assert info.papers == copied


async def test_backup_into_a_folder_gets_a_dated_name_and_never_overwrites(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    async with await Store.open(db) as store:
        await store.papers.upsert_many(papers(5), "jsonl")
    folder = tmp_path / "backups"
    folder.mkdir()
    info = await backup(db, folder)
    assert info.path.parent == folder and info.path.name.startswith("paperbot-")
    assert row_count(info.path, "papers") == 5
    with pytest.raises(StoreError, match="already exists"):
        await backup(db, info.path)
    with pytest.raises(StoreError, match="no database"):
        await backup(tmp_path / "missing.db", tmp_path / "x.db")
    assert not list(folder.glob(".*partial"))


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: a file created with default permissions is world-readable."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_backups_are_private_from_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    db = tmp_path / "live.db"
    async with await Store.open(db) as store:
        await store.papers.upsert_many(papers(5), "jsonl")
    seen: list[tuple[str, int]] = []
    real_copy = backup_module.copy_database

    async def watched_copy(source: Path, target: Path) -> object:
        # Before SQLite writes a single page, the file it writes into is already 0600.
        seen.append((target.name, mode(target)))
        return await real_copy(source, target)

    monkeypatch.setattr(backup_module, "copy_database", watched_copy)
    info = await backup(db, tmp_path / "new-folder" / "copy.db")
    assert seen == [(".copy.db.partial", 0o600)]
    assert mode(info.path) == 0o600
    assert mode(info.path.parent) == 0o700  # a folder the backup created is private too
    assert row_count(info.path, "papers") == 5
    # Into an existing folder (its own permissions are left alone), with a dated name.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    dated = await backup(db, shared)
    assert mode(dated.path) == 0o600 and mode(shared) == 0o755


# -- migrations ------------------------------------------------------------------------------


async def write_schema_1_papers(store: Store, items: list[Paper]) -> None:
    """Store papers the way a PaperBot of schema 1 did: the columns of migration 0001 only
    (later migrations add columns today's PaperRepo writes), both text indexes in sync."""
    names = COLUMNS[: COLUMNS.index("ai_keywords") + 1]
    marks = ", ".join("?" * (len(names) + 3))
    rows = [
        (pid, *paper_to_row(p)[: len(names)], "2025-01-01T00:00:00+00:00", "2025-01-01")
        for pid, p in enumerate(items, 1)
    ]
    async with store.db.transaction() as conn:
        await conn.executemany(
            f"INSERT INTO papers(pid, {', '.join(names)}, added_at, updated_at) VALUES ({marks})",
            rows,
        )
        await conn.execute(
            "INSERT INTO papers_fts(rowid, title, authors, abstract) "
            "SELECT pid, title, authors, abstract FROM papers"
        )
        await conn.execute(
            "INSERT INTO papers_title_fts(rowid, title) SELECT pid, title FROM papers"
        )
        await conn.execute("INSERT INTO paper_sources(pid, source) SELECT pid, 'jsonl' FROM papers")


async def test_old_database_upgrades_in_place_keeping_its_papers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "old.db"
    everything = database_module.load_migrations()
    assert len(everything) >= 4
    monkeypatch.setattr(database_module, "load_migrations", lambda: everything[:1])
    async with await Store.open(db) as old:
        assert await old.db.schema_version() == 1
        await write_schema_1_papers(old, papers(50))
    monkeypatch.undo()

    health = await inspect_database(db)
    assert (health.version, health.latest, health.papers) == (1, latest_version(), 50)
    async with await Store.open(db) as store:
        assert await store.db.schema_version() == latest_version()
        assert await store.papers.count() == 50
        paper = await store.papers.get("2501.10007")
        assert paper is not None and paper.title == "Backup test paper number 7"
        # Tables from the newer migrations work, on the old papers too.
        assert await store.refresh.last_success() == {}
        alert, _ = await store.alerts.add(
            guild_id=1, user_id=2, query="turing", origin_channel_id=3
        )
        found = await store.alerts.match('"turing"', after_pid=0, upto_pid=10**9)
        assert len(found) == 50 and alert.last_pid == await store.papers.latest_pid()


async def test_newer_database_is_refused_clearly(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    async with await Store.open(db) as store:
        await store.papers.upsert_many(papers(3), "jsonl")
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version={latest_version() + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(
        StoreError, match=r"newer than this PaperBot understands .*upgrade PaperBot"
    ):
        await Store.open(db)
    assert row_count(db, "papers") == 3  # untouched


# -- doctor ----------------------------------------------------------------------------------


@pytest.fixture
async def sources() -> AsyncIterator[FakeSources]:
    fake = await FakeSources().start()
    yield fake
    await fake.stop()


@pytest.fixture
def healthy(tmp_path: Path, sources: FakeSources) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    (data / "papers.jsonl").write_text("")
    return Settings(
        token=Secret(FAKE_TOKEN),
        database=tmp_path / "var" / "paperbot.db",
        data_dir=data,
        hf_api_base=sources.base,
        arxiv_api_base=sources.base,
        refresh_arxiv=True,
    )


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


async def test_doctor_all_green(healthy: Settings, sources: FakeSources) -> None:
    async with await Store.open(healthy.database) as store:
        await store.papers.upsert_many(papers(2), "jsonl")
    checks = await run_doctor(healthy)
    assert all(c.ok for c in checks), [c.line() for c in checks if not c.ok]
    names = [c.name for c in checks]
    assert names == [
        "token",
        "database",
        "schema",
        "integrity",
        "data folder",
        "time zones",
        "search by meaning",
        "source hf",
        "source arxiv",
    ]
    assert "2 papers" in by_name(checks)["schema"].detail
    assert "wordllama" in by_name(checks)["search by meaning"].detail
    assert "Europe/Berlin" in by_name(checks)["time zones"].detail
    assert {r.api for r in sources.log} == {"hf", "arxiv"}
    assert all(r.headers["User-Agent"].startswith("PaperBot/") for r in sources.log)
    text = "\n".join(c.line() for c in checks)
    assert FAKE_TOKEN not in text and FAKE_TOKEN[:20] not in text


async def test_doctor_reports_each_problem_with_a_fix(
    healthy: Settings, sources: FakeSources, tmp_path: Path
) -> None:
    async with await Store.open(healthy.database):
        pass
    conn = sqlite3.connect(healthy.database)
    conn.execute(f"PRAGMA user_version={latest_version() + 1}")
    conn.commit()
    conn.close()
    sources.fail("status", status=503, times=10, match=lambda r: r.path == "/api/daily_papers")
    sources.fail("html", times=10, match=lambda r: r.path == "/api/query")
    settings = replace(healthy, token=Secret("Bot abc"), data_dir=tmp_path / "nope")
    checks = by_name(await run_doctor(settings, source_timeout=2.0))
    assert not checks["token"].ok and "without the 'Bot ' prefix" in checks["token"].detail
    assert not checks["schema"].ok and "upgrade PaperBot" in checks["schema"].fix
    assert not checks["data folder"].ok and "PAPERBOT_DATA_DIR" in checks["data folder"].fix
    assert not checks["source hf"].ok and "HTTP 503" in checks["source hf"].detail
    assert not checks["source arxiv"].ok and "HTML" in checks["source arxiv"].detail
    assert checks["time zones"].ok and checks["integrity"].ok


async def test_doctor_says_when_the_model_does_not_load(
    healthy: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The model's files come from the installed wordllama package: point it at a folder
    # without them, as a broken install would leave it.
    monkeypatch.setattr(model_module, "_package_dir", lambda: tmp_path)
    checks = by_name(await run_doctor(replace(healthy, refresh_hf=False, refresh_arxiv=False)))
    check = checks["search by meaning"]
    assert not check.ok and "is missing" in check.detail and "reinstall" in check.detail
    assert "PAPERBOT_SEMANTIC=false" in check.fix
    off = by_name(await run_doctor(replace(healthy, semantic=False, refresh_hf=False)))
    assert off["search by meaning"].ok and "off" in off["search by meaning"].detail


async def test_doctor_never_creates_or_migrates_the_database(healthy: Settings) -> None:
    checks = by_name(await run_doctor(replace(healthy, refresh_hf=False, refresh_arxiv=False)))
    assert checks["database"].ok and "will be created" in checks["database"].detail
    assert not healthy.database.exists()
    assert checks["sources"].ok


async def test_doctor_unreachable_source_and_missing_token(healthy: Settings) -> None:
    # A port nobody listens on: connection refused, reported without retries.
    settings = replace(
        healthy, token=Secret(""), hf_api_base="http://127.0.0.1:9", refresh_arxiv=False
    )
    checks = by_name(await run_doctor(settings, source_timeout=2.0))
    assert not checks["token"].ok and "not set" in checks["token"].detail
    assert "developer portal" in checks["token"].fix
    assert not checks["source hf"].ok and "127.0.0.1:9" in checks["source hf"].detail


async def test_doctor_flags_a_corrupt_database(healthy: Settings) -> None:
    healthy.database.parent.mkdir(parents=True)
    healthy.database.write_bytes(b"this is not a database" * 100)
    checks = by_name(await run_doctor(replace(healthy, refresh_hf=False, refresh_arxiv=False)))
    bad = [c for c in checks.values() if not c.ok]
    assert bad and any("backup" in c.fix for c in bad)


@pytest.mark.parametrize(
    ("perms", "warned"),
    # 0640: deploy/paperbot.service's root:paperbot setup, where the group must read it.
    [(0o644, True), (0o604, True), (0o666, True), (0o640, False), (0o600, False), (0o400, False)],
)
async def test_doctor_warns_when_env_is_open_to_other_users(
    healthy: Settings, tmp_path: Path, perms: int, warned: bool
) -> None:
    env = tmp_path / ".env"
    env.write_text(f"DISCORD_TOKEN={FAKE_TOKEN}\n")
    env.chmod(perms)
    settings = replace(healthy, refresh_hf=False, refresh_arxiv=False)
    checks = by_name(await run_doctor(settings, env_file=env))
    check = checks["settings file"]
    assert check.ok  # a warning, not a failure: the bot runs
    assert check.warning is warned
    line = check.line()
    if warned:
        assert line.startswith("[warn] settings file:") and f"{perms:04o}" in line
        assert line.endswith(f"-> chmod 600 {env}")
    else:
        assert line.startswith("[ok  ] settings file:") and "chmod" not in line
    assert FAKE_TOKEN not in line


async def test_doctor_without_an_env_file_says_where_settings_come_from(
    healthy: Settings, tmp_path: Path
) -> None:
    settings = replace(healthy, refresh_hf=False, refresh_arxiv=False)
    checks = by_name(await run_doctor(settings, env_file=tmp_path / "absent.env"))
    check = checks["settings file"]
    assert check.ok and not check.warning and "environment" in check.detail


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to give the file to another user")
async def test_doctor_suggests_closing_a_shared_env_to_others_only(
    healthy: Settings, tmp_path: Path
) -> None:
    env = tmp_path / ".env"
    env.write_text("DISCORD_TOKEN=x\n")
    env.chmod(0o644)
    os.chown(env, 4242, -1)  # root's or another user's file, read through its group
    settings = replace(healthy, refresh_hf=False, refresh_arxiv=False)
    check = by_name(await run_doctor(settings, env_file=env))["settings file"]
    assert check.warning and check.fix == f"chmod o-rwx {env}"
