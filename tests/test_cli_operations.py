"""Operating PaperBot from the command line as a self-hoster does: settings and where they
are read from, the store's reader pool, backups (to a new folder, of a damaged file), `sync`
when Discord refuses or cannot be reached, `fetch --since`, and a database that cannot be
opened. Each was a defect (a traceback, a silent no-op or a setting ignored) before."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

import bot.__main__ as cli
from bot.models import Paper
from bot.store import Store

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GAbCdE.abcdefghijklmnopqrstuvwxyz012345678"


def _papers(n: int) -> list[Paper]:
    return [
        Paper.create(
            title=f"Review paper number {i}",
            arxiv_id=f"2501.{10000 + i}",
            abstract="An abstract long enough to fill a few pages of the database. " * 4,
            authors=["Ada Lovelace"],
            source="jsonl",
        )
        for i in range(n)
    ]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clean settings environment: database and data folder under tmp_path."""
    for key in list(os.environ):
        if key.startswith(("PAPERBOT_", "DISCORD_")):
            monkeypatch.delenv(key)
    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("PAPERBOT_DATABASE", str(tmp_path / "db" / "paperbot.db"))
    monkeypatch.setenv("PAPERBOT_DATA_DIR", str(data))
    monkeypatch.setenv("PAPERBOT_REFRESH", "false")
    monkeypatch.setenv("PAPERBOT_SEMANTIC", "false")
    monkeypatch.setattr(cli, "setup_logging", lambda level: None)
    return tmp_path


def _args(tmp_path: Path, *argv: str):  # type: ignore[no-untyped-def]
    (tmp_path / "empty.env").touch()  # no settings file: only the environment
    return cli.build_parser().parse_args(["--env-file", str(tmp_path / "empty.env"), *argv])


# -- PAPERBOT_DB_READERS sizes the store's reader pool ---------------------------------------------


async def test_db_readers_setting_sizes_the_reader_pool(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAPERBOT_DB_READERS", "1")
    settings = cli._settings(_args(env, "stats"))
    assert settings.db_readers == 1
    store = await cli._open_store(settings)
    try:
        assert store.db.readers == 1, "PAPERBOT_DB_READERS=1 but the store opened 3 readers"
    finally:
        await store.close()


# -- `backup /data/backups/` (README, docker-compose.yml) into a folder not made yet ---------------


def test_backup_to_a_new_folder_path_with_a_trailing_slash_makes_that_folder(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = env / "db" / "paperbot.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t(x)")
    conn.commit()
    conn.close()
    folder = env / "backups"
    (env / "empty.env").touch()
    first = cli.main(["--env-file", str(env / "empty.env"), "backup", f"{folder}/"])
    assert first == cli.EXIT_OK, capsys.readouterr().err
    assert folder.is_dir(), "the backup was written as a FILE named 'backups'"
    assert len(list(folder.glob("paperbot-*.db"))) == 1


# -- `backup` of a damaged database: one line, no partial copy -------------------------------------


async def _damaged_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    store = await Store.open(path)
    await store.papers.upsert_many(_papers(300), "jsonl")
    await store.close()
    _overwrite_pages(path)


def _overwrite_pages(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as fh:  # overwrite some pages after the schema page
        for offset in range(8192, size - 4096, 4096 * 3):
            fh.seek(offset)
            fh.write(b"\xff" * 4096)


def _partials(folder: Path) -> list[Path]:
    return list(folder.glob(".*.partial"))


async def test_backup_of_a_damaged_database_says_so_in_one_line(env: Path) -> None:
    db = env / "db" / "paperbot.db"
    await _damaged_database(db)  # a file that opens, with damaged pages
    args = _args(env, "backup", str(env / "copy.db"))
    settings = cli._settings(args)
    with pytest.raises(cli.CliError) as info:  # not sqlite3.DatabaseError (a traceback)
        await cli.cmd_backup(args, settings)
    assert "integrity" in str(info.value) or "malformed" in str(info.value)
    assert not (env / "copy.db").is_file()
    assert not _partials(env)


# -- `sync` refused by Discord, or without network: one clear line ---------------------------------


async def test_sync_to_a_server_the_bot_is_not_in_gives_one_clear_line(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fakediscord import FakeDiscord
    from tests.fakediscord.client import patch_discord

    async with FakeDiscord(token=TOKEN) as fake:
        monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
        with patch_discord(fake):
            args = _args(env, "sync", "--guild", "123456789012345678")
            with pytest.raises(cli.CliError) as info:  # not discord.Forbidden
                await cli.cmd_sync(args, cli._settings(args))
    assert "123456789012345678" in str(info.value)
    assert TOKEN not in str(info.value)


async def test_sync_without_network_gives_one_clear_line(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import discord

    monkeypatch.setattr(discord.http.Route, "BASE", "http://127.0.0.1:9/api/v10")
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    args = _args(env, "sync")
    with pytest.raises(cli.CliError) as info:  # not aiohttp.ClientConnectorError
        await cli.cmd_sync(args, cli._settings(args))
    assert "cannot reach Discord" in str(info.value) and TOKEN not in str(info.value)


# -- a database that cannot be opened: a clear line and no thread left behind ----------------------


async def test_a_database_that_cannot_be_opened_leaves_no_sqlite_thread_behind(
    tmp_path: Path,
) -> None:
    import threading

    from bot.store import StoreError

    folder = tmp_path / "paperbot.db"  # PAPERBOT_DATABASE pointing at a folder
    folder.mkdir()
    before = set(threading.enumerate())
    with pytest.raises(StoreError, match="cannot open the database"):
        await Store.open(folder)
    # Still running, aiosqlite's worker reports to the event loop after asyncio.run closed it:
    # "Exception in thread ... RuntimeError: Event loop is closed" under `error: cannot open`.
    left = [
        t
        for t in threading.enumerate()
        if t not in before and t.is_alive() and "worker_thread" in t.name
    ]
    assert not left, f"aiosqlite worker thread still running: {left}"


# -- `fetch --since` a day in the future is refused ------------------------------------------------


async def test_fetch_since_a_future_day_is_refused(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.fakesources import FakeSources

    fake = await FakeSources().start()
    try:
        monkeypatch.setattr("bot.fetch.refresh.HF_INTERVAL", 0.0)
        monkeypatch.setenv("PAPERBOT_HF_API", fake.base)
        future = (datetime.now(UTC).date() + timedelta(days=400)).isoformat()  # 2027 for 2026
        args = _args(env, "fetch", "hf", "--since", future)
        with pytest.raises(cli.CliError) as info:
            await cli.cmd_fetch(args, cli._settings(args))
        assert info.value.code == cli.EXIT_USAGE and "--since" in str(info.value)
        assert fake.requests("hf") == []
    finally:
        await fake.stop()


# -- a path setting with a ~user that does not exist: a settings error -----------------------------


def test_unexpandable_home_in_a_path_setting_is_a_settings_error() -> None:
    from bot.config import SettingsError, load_settings

    with pytest.raises(SettingsError) as info:  # not RuntimeError("Could not determine home")
        load_settings({"PAPERBOT_DATABASE": "~no-such-user-paperbot/paperbot.db"})
    assert "PAPERBOT_DATABASE" in str(info.value)


# -- installed with `pip install .` (Docker, deploy/paperbot.service): ./.env is read --------------


def test_env_in_the_current_folder_is_read_when_installed_as_a_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.config as config

    for key in list(os.environ):
        if key.startswith(("PAPERBOT_", "DISCORD_")):
            monkeypatch.delenv(key)
    # bot/ lives in site-packages: PROJECT_ROOT is site-packages, not the checkout.
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    monkeypatch.setattr(config, "PROJECT_ROOT", site)
    checkout = tmp_path / "opt-paperbot"  # WorkingDirectory=/opt/paperbot, .env beside it
    checkout.mkdir()
    (checkout / ".env").write_text(f"DISCORD_TOKEN={TOKEN}\nPAPERBOT_LOG_LEVEL=DEBUG\n")
    monkeypatch.chdir(checkout)
    assert "./.env" in cli.build_parser().format_help()  # what --help promises
    settings = config.load_settings()
    assert settings.log_level == "DEBUG" and settings.token.get() == TOKEN
    assert config.env_file_path() == checkout / ".env"  # what doctor checks
