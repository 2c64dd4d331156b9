"""Imports in progress: a journal that lets a file be stored in committed batches and still be
undone whole.

A big file is stored in many short transactions, so the bot's own writes (votes, saves, daily
bookkeeping) get in between instead of failing with "database is locked" for the whole load.
Until the file has been read to its end, each batch journals what it changed
(``import_new``: the pid ranges it inserted; ``import_undo``: the rows it changed, as they
were). :meth:`ImportRepo.finish` forgets the journal in the transaction that records the file
as imported; :meth:`ImportRepo.undo` puts everything back, also in short transactions. A
process that died mid-import leaves its journal behind with a stale heartbeat; the next
:meth:`ImportRepo.recover` (run whenever the store opens) undoes it.

While an import is journaled, papers it inserted are visible to searches (they are
committed), but :meth:`ImportRepo.settled_pid` stays below them, so alert scanners, which
must never announce a paper that may still be taken back, wait for the file to finish.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from bot.store.database import Database
from bot.store.papers import PaperRepo
from bot.store.stamps import now as utc_now
from bot.store.stamps import stamp

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=2)  # no heartbeat for this long: the importer is gone
UNDO_CHUNK = 2_000  # papers restored or deleted per transaction while undoing

_HOST = socket.gethostname()


@dataclass(frozen=True, slots=True)
class UndoReport:
    import_id: int
    path: str
    restored: int
    deleted: int


class ImportRepo:
    """The ``imports``, ``import_new`` and ``import_undo`` tables."""

    def __init__(self, db: Database, papers: PaperRepo) -> None:
        self.db = db
        self.papers = papers
        self.owner = f"{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"
        self._active: set[int] = set()  # this process's imports in progress

    async def begin(self, path: str) -> int:
        """Start journaling an import of *path*; returns its id."""
        now = stamp()
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO imports(path, owner, started_at, heartbeat_at) VALUES (?, ?, ?, ?)",
                (path, self.owner, now, now),
            )
            import_id = int(cur.lastrowid or 0)
        self._active.add(import_id)
        return import_id

    @staticmethod
    async def heartbeat(conn: aiosqlite.Connection, import_id: int) -> None:
        """Inside a batch's transaction: the import is alive."""
        await conn.execute("UPDATE imports SET heartbeat_at = ? WHERE id = ?", (stamp(), import_id))

    async def finish(self, conn: aiosqlite.Connection, import_id: int) -> None:
        """Inside the import's last transaction: keep everything, forget the journal."""
        await conn.execute("DELETE FROM imports WHERE id = ?", (import_id,))
        self._active.discard(import_id)

    async def undo(self, import_id: int) -> UndoReport:
        """Put back what the import changed and delete what it inserted, then forget it."""
        path = await self.db.fetchval("SELECT path FROM imports WHERE id = ?", (import_id,))
        restored = deleted = 0
        while True:
            async with self.db.transaction() as conn:
                done = await self.papers.undo_changes(conn, import_id, UNDO_CHUNK)
            restored += done
            if done < UNDO_CHUNK:
                break
        while True:
            async with self.db.transaction() as conn:
                done = await self.papers.undo_inserts(conn, import_id, UNDO_CHUNK)
            deleted += done
            if done == 0:
                break
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM imports WHERE id = ?", (import_id,))
        self._active.discard(import_id)
        report = UndoReport(import_id, str(path or "?"), restored, deleted)
        log.info(
            "undid the import of %s: %d paper(s) put back, %d removed",
            report.path,
            restored,
            deleted,
        )
        return report

    async def recover(self, *, now: datetime | None = None) -> list[UndoReport]:
        """Undo the imports of processes that died mid-import (stale heartbeat, gone)."""
        if not await self.db.fetchval(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'imports'"
        ):
            return []  # a schema from before imports were journaled (tests pin old versions)
        rows = await self.db.fetchall("SELECT id, owner, heartbeat_at FROM imports ORDER BY id")
        moment = now or utc_now()
        reports: list[UndoReport] = []
        for row in rows:
            owner, beat = str(row["owner"]), datetime.fromisoformat(str(row["heartbeat_at"]))
            if owner == self.owner:
                if int(row["id"]) in self._active:
                    continue
            elif not _gone(owner, moment - beat):
                continue
            log.warning("an import (%s) did not finish; undoing it", owner)
            reports.append(await self.undo(int(row["id"])))
        return reports

    async def running(self) -> int:
        """How many imports are journaled (in progress, or left by a crash)."""
        return int(await self.db.fetchval("SELECT count(*) FROM imports"))

    async def settled_pid(self) -> int:
        """The highest pid no journaled import can still take back (alert scanners stop here)."""
        value = await self.db.fetchval(
            "SELECT coalesce((SELECT min(first_pid) - 1 FROM import_new), "
            "(SELECT max(pid) FROM papers), 0)"
        )
        return int(value or 0)


def _gone(owner: str, silent: timedelta) -> bool:
    """Whether the process *owner* names is no longer importing."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit():
        # Another machine's importer: only its heartbeat can tell.
        return silent >= STALE_AFTER
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True  # the process is gone
    except PermissionError:
        return False  # alive, someone else's
    # The process exists: a live import, or a stuck one, or a reused pid. Long silence
    # (ten times the limit) means one of the last two.
    return silent >= STALE_AFTER * 10
