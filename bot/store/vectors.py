"""Paper vectors: the embeddings search by meaning uses (see :mod:`bot.semantic`).

Each paper has at most one row: its int8 vector. Every process derives the compact codes of
its in-memory coarse index from these when it loads them, and reads a vector back for the few
papers a search rescores. ``seq`` numbers the writes, so a process keeps its in-memory index
current by reading the rows with ``seq`` above the last it saw (:func:`since`), whoever wrote
them (the bot's backfill, or ``python -m bot load`` in another process). A paper deleted from the store
loses its row with it (``ON DELETE CASCADE``); one whose title or abstract changes loses it in
:class:`~bot.store.papers.PaperRepo` and gets a new one from the backfill. Every deleted row is
logged in ``vectors_gone`` (a trigger), so a process forgets it too (:func:`gone_since`).

The reads a search makes run in its reader thread, on its connection: plain functions here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import aiosqlite

from bot.store.database import Database

MODEL_KEY = "vectors_model"
SEQ_KEY = "vectors_seq_high"  # the highest seq ever given to a vector
GONE_KEEP = 100_000  # entries of the deletion log kept (about 2 MB)


@dataclass(frozen=True, slots=True)
class PendingPaper:
    """A paper that has no vector yet: what embedding it needs."""

    pid: int
    title: str
    abstract: str
    updated_at: str


class VectorRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def model(self) -> str | None:
        value = await self.db.fetchval("SELECT value FROM meta WHERE key = ?", (MODEL_KEY,))
        return None if value is None else str(value)

    async def use_model(self, name: str) -> bool:
        """Make *name* the model of the stored vectors; vectors of another model are deleted
        (they are not comparable). Returns whether anything was deleted or changed."""
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT value FROM meta WHERE key = ?", (MODEL_KEY,)) as cur:
                row = await cur.fetchone()
            if row is not None and row[0] == name:
                return False
            await conn.execute("DELETE FROM paper_vectors")
            # Readers holding vectors see the log trimmed past them and compare all pids.
            await conn.execute("DELETE FROM vectors_gone")
            await conn.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (MODEL_KEY, name),
            )
            return True

    async def pending(
        self, after_pid: int, limit: int, *, abstract_chars: int = 800
    ) -> list[PendingPaper]:
        """Papers above *after_pid* with no vector, in pid order (the start of each abstract:
        a vector is made from the title and the abstract's first few hundred characters)."""
        rows = await self.db.fetchall(
            "SELECT p.pid, p.title, substr(p.abstract, 1, ?), p.updated_at FROM papers p "
            "WHERE p.pid > ? AND NOT EXISTS (SELECT 1 FROM paper_vectors v WHERE v.pid = p.pid) "
            "ORDER BY p.pid LIMIT ?",
            (abstract_chars, after_pid, limit),
        )
        return [PendingPaper(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    async def counts(self) -> tuple[int, int]:
        """(papers with a vector, papers)."""
        row = await self.db.fetchone(
            "SELECT (SELECT count(*) FROM paper_vectors), (SELECT count(*) FROM papers)"
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def store(self, rows: Sequence[tuple[PendingPaper, bytes]]) -> int:
        """Store ``(paper, int8 vector)`` rows; returns how many were stored.

        A paper deleted or changed since it was read is skipped (its text is not what was
        embedded: its ``updated_at``, to the millisecond, moved on): the backfill picks the
        changed one up again.
        """
        if not rows:
            return 0
        async with self.db.transaction() as conn:
            # Above every seq ever given: when the vector with the highest seq is deleted (its
            # paper deleted or changed), reusing its seq would hide the new one from readers
            # that already saw it (MeaningIndex.sync reads "seq > last seen").
            base = await reserve_seqs(conn, len(rows))
            before = conn.total_changes
            await conn.executemany(
                "INSERT OR REPLACE INTO paper_vectors(pid, seq, vec) SELECT ?, ?, ? "
                "WHERE EXISTS (SELECT 1 FROM papers WHERE pid = ? AND updated_at = ?)",
                [
                    (p.pid, base + i, vec, p.pid, p.updated_at)
                    for i, (p, vec) in enumerate(rows, start=1)
                ],
            )
            stored = conn.total_changes - before
            await conn.execute(
                "DELETE FROM vectors_gone WHERE id <= (SELECT max(id) FROM vectors_gone) - ?",
                (GONE_KEEP,),
            )
            return stored


async def reserve_seqs(conn: aiosqlite.Connection, count: int) -> int:
    """Inside a write transaction: take *count* new seqs; returns the one before the first."""
    async with conn.execute(
        "SELECT max(coalesce((SELECT max(seq) FROM paper_vectors), 0), "
        "coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?), 0))",
        (SEQ_KEY,),
    ) as cur:
        top = await cur.fetchone()
    base = int(top[0]) if top else 0
    await conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE "
        "SET value = excluded.value",
        (SEQ_KEY, str(base + count)),
    )
    return base


def since(conn: sqlite3.Connection, seq: int, limit: int) -> list[tuple[int, int, bytes]]:
    """``(pid, seq, vec)`` of the vectors written after *seq*, in write order."""
    return [
        (int(r[0]), int(r[1]), bytes(r[2]))
        for r in conn.execute(
            "SELECT pid, seq, vec FROM paper_vectors WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
    ]


def gone_top(conn: sqlite3.Connection) -> int:
    """The last entry ever written to the deletion log (0: none)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'vectors_gone'").fetchone()
    return int(row[0]) if row else 0


def gone_since(conn: sqlite3.Connection, after: int, limit: int) -> tuple[list[int], int] | None:
    """The papers whose vectors were deleted after log entry *after* and that have none now
    (up to *limit* entries read), and the last entry read; None when entries after *after*
    were trimmed from the log (then compare with :func:`vector_pids`). Call it inside a read
    transaction."""
    first = conn.execute("SELECT min(id) FROM vectors_gone").fetchone()[0]
    if first is None or int(first) > after + 1:
        return None if gone_top(conn) > after else ([], after)
    rows = conn.execute(
        "SELECT g.id, g.pid, EXISTS (SELECT 1 FROM paper_vectors v WHERE v.pid = g.pid) "
        "FROM vectors_gone g WHERE g.id > ? ORDER BY g.id LIMIT ?",
        (after, limit),
    ).fetchall()
    if not rows:
        return [], after
    return list({int(r[1]) for r in rows if not r[2]}), int(rows[-1][0])


def vector_pids(conn: sqlite3.Connection) -> Iterator[int]:
    """The pids of every stored vector (read from the small seq index, not the vectors)."""
    return (
        int(r[0])
        for r in conn.execute("SELECT pid FROM paper_vectors INDEXED BY paper_vectors_seq")
    )


def latest_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(seq), 0) FROM paper_vectors").fetchone()[0])


def vectors(conn: sqlite3.Connection, pids: Sequence[int]) -> dict[int, bytes]:
    """The int8 vectors of these papers (those that have one)."""
    if not pids:
        return {}
    rows = conn.execute(
        "SELECT pid, vec FROM paper_vectors WHERE pid IN (SELECT value FROM json_each(?))",
        (json.dumps([int(p) for p in pids]),),
    ).fetchall()
    return {int(r[0]): bytes(r[1]) for r in rows}


def vector_of(conn: sqlite3.Connection, pid: int) -> bytes | None:
    row = conn.execute("SELECT vec FROM paper_vectors WHERE pid = ?", (pid,)).fetchone()
    return None if row is None else bytes(row[0])
