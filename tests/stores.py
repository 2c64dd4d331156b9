"""Fixtures for tests on a real store and a real bot: factories, so each module says what it
loads and how its bot is set up, while opening, loading, connecting and closing live here.

    @pytest.fixture
    async def store(open_store: OpenStore) -> Store:
        return await open_store("trending-may-28.txt")

    @pytest.fixture
    async def bot(store: Store, start_bot: StartBot) -> PaperBot:
        return await start_bot(store)

Registered for every module in ``tests/conftest.py``. Stores are closed after the bots that
use them are disconnected (``connect_client`` is set up after the store, so torn down first).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import PaperBot
from bot.config import Settings
from bot.store import Store
from bot.store.loader import load_file
from tests.fakediscord import FakeDiscord
from tests.helpers_store import FIXTURES

OpenStore = Callable[..., Awaitable[Store]]
StartBot = Callable[..., Awaitable[PaperBot]]


@pytest.fixture
async def open_store(tmp_path: Path) -> AsyncIterator[OpenStore]:
    """``await open_store(*files, name="bot.db")``: a store on a real SQLite file in the
    test's folder, with *files* (names in ``tests/fixtures`` or paths) loaded by the real
    loader."""
    opened: list[Store] = []

    async def open_(*files: str | Path, name: str = "bot.db") -> Store:
        store = await Store.open(tmp_path / name)
        opened.append(store)
        for file in files:
            await load_file(store, FIXTURES / file if isinstance(file, str) else file)
        return store

    yield open_
    for store in reversed(opened):
        await store.close()


@pytest.fixture
def start_bot(connect_client: Callable[..., Awaitable[Any]], fake_discord: FakeDiscord) -> StartBot:
    """``await start_bot(store, settings=None, **bot_kwargs)``: the real bot on *store*,
    connected to the fake Discord. Default settings: the store's file, the fixtures as data
    folder, no refresher. Unless the fake keeps Discord's IDENTIFY rate (its
    ``identify_interval``) or the test sets its own, a restarted bot does not wait out the
    5 s between two IDENTIFYs of one bucket."""

    async def start(store: Store, settings: Settings | None = None, **kwargs: Any) -> PaperBot:
        if settings is None:
            settings = Settings(database=store.db.path, data_dir=FIXTURES, refresh_enabled=False)
        if fake_discord.identify_interval is None:
            kwargs.setdefault("identify_interval", 0.05)
        client = PaperBot(settings, store, **kwargs)
        await connect_client(client)
        return client

    return start


@contextlib.asynccontextmanager
async def another_writer(path: Path, seconds: float = 4.0) -> AsyncIterator[None]:
    """Another process (a `python -m bot load` batch) holding SQLite's write lock on the
    database at *path*: from entering the block until leaving it, *seconds* at most."""
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None, timeout=5)
        try:
            conn.execute("BEGIN IMMEDIATE")
            locked.set()
            release.wait(seconds)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    writer = threading.Thread(target=hold)
    writer.start()
    try:
        assert await asyncio.to_thread(locked.wait, 5), "could not take the write lock"
        yield
    finally:
        release.set()
        await asyncio.to_thread(writer.join)
