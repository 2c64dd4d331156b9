"""The search queries: FTS5 matching, bounded ranking, title prefixes, the title vocabulary.

:mod:`bot.search` decides *what* to ask (and builds every FTS5 expression from quoted tokens);
this module only runs the SQL. Results are row ids (``pid``) so callers can combine and page
them cheaply before loading the few papers they show.

Every query here is bounded: FTS5 matching walks doclists newest-first (``ORDER BY rowid
DESC``, which FTS5 serves without sorting) and stops after ``limit`` rows; bm25 ranking only
ever runs over a rowid range known to hold at most a bounded number of matches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from bot.store.database import Database

log = logging.getLogger(__name__)

# bm25 weights per papers_fts column: title, authors, abstract.
BM25_WEIGHTS = (10.0, 4.0, 1.0)
_BM25 = f"bm25(papers_fts, {', '.join(str(w) for w in BM25_WEIGHTS)})"

# Orders for papers (ORDER BY clauses over the papers table). The trending order proper lives
# in trending_pids (rank on a trending list, then upvotes); bot/ranking.py may replace both.
UPVOTES_ORDER = "upvotes IS NULL, upvotes DESC, pid DESC"
NEWEST_ORDER = "published IS NULL, published DESC, pid DESC"


class SearchIndex:
    """Read-only queries over ``papers``, ``papers_fts`` and ``papers_title_fts``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def match_desc(self, expr: str, limit: int, *, table: str = "papers_fts") -> list[int]:
        """Row ids matching ``expr``, newest first, at most ``limit`` (no ranking: cheap)."""
        # One row with every id: a thousand sqlite3.Row objects cost more than the match.
        value = await self.db.fetchval(
            f"SELECT group_concat(rowid) FROM (SELECT rowid FROM {_fts(table)} "
            f"WHERE {_fts(table)} MATCH ? ORDER BY rowid DESC LIMIT ?)",
            (expr, limit),
        )
        return sorted(_ints(value), reverse=True)

    async def match_from(self, expr: str, min_pid: int) -> list[int]:
        """Row ids matching ``expr`` with ``pid >= min_pid`` (unordered, unranked)."""
        value = await self.db.fetchval(
            "SELECT group_concat(rowid) FROM papers_fts WHERE papers_fts MATCH ? AND rowid >= ?",
            (expr, min_pid),
        )
        return _ints(value)

    async def ranked(
        self, expr: str, *, min_pid: int = 0, exclude_pid: int = 0, limit: int = 1000
    ) -> list[tuple[int, float]]:
        """``(pid, score)`` of rows matching ``expr`` with ``pid >= min_pid``, best first.

        ``score`` is bm25 negated (higher is better). The caller picks ``min_pid`` so the
        range holds a bounded number of matches: bm25 costs a few microseconds per match.
        """
        rows = await self.db.fetchall(
            f"SELECT rowid, {_BM25} AS score FROM papers_fts "
            "WHERE papers_fts MATCH ? AND rowid >= ? AND rowid != ? "
            "ORDER BY score, rowid DESC LIMIT ?",
            (expr, min_pid, exclude_pid, limit),
        )
        return [(int(r[0]), -float(r[1])) for r in rows]

    async def matches_pid(self, expr: str, pid: int) -> bool:
        row = await self.db.fetchone(
            "SELECT 1 FROM papers_fts WHERE papers_fts MATCH ? AND rowid = ?", (expr, pid)
        )
        return row is not None

    async def matching_among(self, expr: str, pids: Sequence[int]) -> set[int]:
        """Which of ``pids`` match ``expr`` (one indexed probe per pid)."""
        if not pids:
            return set()
        rows = await self.db.fetchall(
            "SELECT rowid FROM papers_fts WHERE papers_fts MATCH ? "
            "AND rowid IN (SELECT value FROM json_each(?))",
            (expr, json.dumps(list(pids))),
        )
        return {int(r[0]) for r in rows}

    async def order(self, pids: Sequence[int], order_by: str) -> list[int]:
        """``pids`` sorted by a papers ORDER BY clause (NEWEST_ORDER / UPVOTES_ORDER)."""
        if not pids:
            return []
        rows = await self.db.fetchall(
            f"SELECT pid FROM papers WHERE pid IN (SELECT value FROM json_each(?)) "
            f"ORDER BY {order_by}",
            (json.dumps(list(pids)),),
        )
        return [int(r[0]) for r in rows]

    async def trending_pids(self, limit: int) -> list[int]:
        """Papers on a trending list, in trending order (uses the source_rank index)."""
        rows = await self.db.fetchall(
            "SELECT pid FROM papers WHERE source_rank IS NOT NULL "
            "ORDER BY source_rank, upvotes IS NULL, upvotes DESC, published DESC, pid DESC "
            "LIMIT ?",
            (limit,),
        )
        return [int(r[0]) for r in rows]

    async def newest_pids(self, limit: int, *, exclude: Sequence[int] = ()) -> list[int]:
        rows = await self.db.fetchall(
            "SELECT pid FROM papers WHERE pid NOT IN (SELECT value FROM json_each(?)) "
            "ORDER BY pid DESC LIMIT ?",
            (json.dumps(list(exclude)), limit),
        )
        return [int(r[0]) for r in rows]

    async def titles(
        self, pids: Sequence[int]
    ) -> dict[int, tuple[str, str, int | None, int | None]]:
        """``pid -> (id, title, source_rank, upvotes)`` for autocomplete labels."""
        if not pids:
            return {}
        value = await self.db.fetchval(
            "SELECT json_group_array(json_array(pid, id, title, source_rank, upvotes)) "
            "FROM papers WHERE pid IN (SELECT value FROM json_each(?))",
            (json.dumps(list(pids)),),
        )
        return {int(r[0]): (str(r[1]), str(r[2]), r[3], r[4]) for r in json.loads(value or "[]")}

    async def titles_authors(self, pids: Sequence[int]) -> dict[int, tuple[str, str]]:
        """``pid -> (title, authors JSON)``: what ranking needs to know about a candidate."""
        if not pids:
            return {}
        value = await self.db.fetchval(
            "SELECT json_group_array(json_array(pid, title, authors)) FROM papers "
            "WHERE pid IN (SELECT value FROM json_each(?))",
            (json.dumps(list(pids)),),
        )
        return {int(r[0]): (str(r[1]), str(r[2])) for r in json.loads(value or "[]")}

    async def title_vocabulary(self) -> list[tuple[str, int]]:
        """Every word of every title with its document frequency (a full scan of the title
        index: ~0.4 s at a million papers). Read on a separate connection in a worker thread
        when the database is a file, so searches on the main connection are not held up."""
        path = self.db.path
        if str(path) != ":memory:" and path.exists():
            try:
                return await asyncio.to_thread(read_title_vocabulary, path)
            except sqlite3.Error as exc:
                log.warning("reading the title vocabulary on a second connection: %s", exc)
        rows = await self.db.fetchall(_VOCAB_SQL)
        return [(str(r[0]), int(r[1])) for r in rows]


_VOCAB_SQL = "SELECT term, doc FROM papers_title_vocab"


def read_title_vocabulary(path: Path) -> list[tuple[str, int]]:
    """The title vocabulary read on a fresh read-only connection (blocking)."""
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        return [(str(t), int(d)) for t, d in conn.execute(_VOCAB_SQL)]
    finally:
        conn.close()


def _ints(value: object) -> list[int]:
    return [int(x) for x in str(value).split(",")] if value else []


def _fts(table: str) -> str:
    if table not in ("papers_fts", "papers_title_fts"):
        raise ValueError(f"not a search index: {table}")
    return table
