"""How the store is doing: a live probe and an overview of an open store (the web site's
``/healthz`` and home page, ``/about``), looking at a database file without changing it
(``doctor``) and copying it (``backup``).

The file checks never open the file through :class:`Database`, which would apply migrations: a health
check or a backup must leave the database exactly as it found it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite

from bot.store.database import StoreError, connect, load_migrations

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 3.0  # seconds: a database slower than this to answer counts as unreadable


@dataclass(frozen=True, slots=True)
class Probe:
    """Whether an open store answers now, and when each live source last refreshed cleanly."""

    readable: bool
    refreshed: dict[str, datetime]


async def probe(store: Store) -> Probe:
    """A cheap liveness check of an open store: it never raises (a failure is logged)."""
    try:
        await asyncio.wait_for(store.papers.latest_pid(), PROBE_TIMEOUT)
    except Exception:
        log.warning("health check: the database cannot be read", exc_info=True)
        return Probe(False, {})
    try:
        refreshed = await asyncio.wait_for(store.refresh.last_success(), PROBE_TIMEOUT)
    except Exception:
        log.warning("health check: reading the refresh state failed", exc_info=True)
        refreshed = {}
    return Probe(True, refreshed)


@dataclass(frozen=True, slots=True)
class Overview:
    """What the store holds: papers in all and per source, the last import, the last clean
    refresh of each live source (sorted by name)."""

    total: int
    by_source: dict[str, int]
    last_import: datetime | None
    refreshed: dict[str, datetime]


async def overview(store: Store) -> Overview:
    """The store's :class:`Overview` (counts scan tables: cache it where it is shown often)."""
    return Overview(
        total=await store.papers.count(),
        by_source=await store.papers.count_by_source(),
        last_import=await store.papers.latest_added_at(),
        refreshed=dict(sorted((await store.refresh.last_success()).items())),
    )


@dataclass(frozen=True, slots=True)
class DatabaseHealth:
    path: Path
    exists: bool
    writable: bool  # the file (or, when missing, its folder) can be written
    version: int | None  # PRAGMA user_version; None when the file is missing
    latest: int  # the newest migration this PaperBot ships
    integrity: str | None  # "ok" or the first problems PRAGMA integrity_check found
    papers: int | None

    @property
    def up_to_date(self) -> bool:
        return self.version == self.latest


def latest_version() -> int:
    migrations = load_migrations()
    return migrations[-1].version if migrations else 0


def _exists(path: Path) -> bool:
    return path.exists()


def _is_file(path: Path) -> bool:
    return path.is_file()


def _writable(path: Path) -> bool:
    if path.exists():
        return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return os.access(parent, os.W_OK)


def _ro_uri(path: Path) -> str:
    # mode=ro: a health check never creates, migrates or writes the file.
    return f"{path.resolve().as_uri()}?mode=ro"


async def _connect_ro(path: Path) -> aiosqlite.Connection:
    uri = _ro_uri(path)
    conn = await connect(uri, uri=True)
    try:
        await conn.execute("PRAGMA busy_timeout=5000")
    except BaseException:
        await conn.close()
        raise
    return conn


async def _integrity(conn: aiosqlite.Connection) -> str:
    async with conn.execute("PRAGMA integrity_check(10)") as cur:
        rows = await cur.fetchall()
    problems = [str(r[0]) for r in rows]
    return "ok" if problems == ["ok"] else "; ".join(problems)


async def inspect_database(path: Path) -> DatabaseHealth:
    """Version, integrity and size of the database at *path*, read-only."""
    latest = latest_version()
    if not _exists(path):
        return DatabaseHealth(path, False, _writable(path), None, latest, None, None)
    try:
        conn = await _connect_ro(path)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from None
    try:
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        integrity = await _integrity(conn)
        papers: int | None = None
        with contextlib.suppress(sqlite3.Error):
            async with conn.execute("SELECT count(*) FROM papers") as cur:
                row = await cur.fetchone()
            papers = int(row[0]) if row else 0
    except sqlite3.DatabaseError as exc:
        return DatabaseHealth(path, True, _writable(path), None, latest, str(exc), None)
    finally:
        await conn.close()
    return DatabaseHealth(path, True, _writable(path), version, latest, integrity, papers)


@dataclass(frozen=True, slots=True)
class CopyResult:
    version: int
    integrity: str
    papers: int | None


async def copy_database(source: Path, target: Path) -> CopyResult:
    """Copy *source* to *target* with SQLite's online backup API, then check the copy.

    Safe while the bot writes to *source*: the copy is a consistent snapshot (WAL content
    included) of one moment. *target* must not exist.
    """
    if not _is_file(source):
        raise StoreError(f"there is no database at {source}")
    try:
        src = await _connect_ro(source)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the database {source}: {exc}") from None
    try:
        dest = await connect(str(target))
        try:
            await src.backup(dest)
        finally:
            await dest.close()
    except sqlite3.Error as exc:
        raise StoreError(f"backup of {source} failed: {exc}") from None
    finally:
        await src.close()
    check = await connect(str(target))
    try:
        # A self-contained file: no -wal beside it, whatever the source's journal mode.
        await check.execute("PRAGMA journal_mode=DELETE")
        async with check.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        integrity = await _integrity(check)
        papers: int | None = None
        with contextlib.suppress(sqlite3.Error):
            async with check.execute("SELECT count(*) FROM papers") as cur:
                row = await cur.fetchone()
            papers = int(row[0]) if row else 0
    except sqlite3.DatabaseError as exc:
        # The pages copied are damaged (the source is): say so, as the integrity check would.
        raise StoreError(
            f"the copy failed its integrity check: {exc}; the database {source} is damaged "
            "(restore an earlier backup)"
        ) from None
    finally:
        await check.close()
    return CopyResult(version, integrity, papers)
