"""The search queries: FTS5 matching, bounded ranking inputs, titles, the title vocabulary.

:mod:`bot.search` decides *what* to ask (and builds every FTS5 expression from quoted tokens);
this module only runs the SQL. Every function takes a plain :class:`sqlite3.Connection`: search
runs whole in a reader thread (:meth:`bot.store.database.Database.read`), so one search is one
hop off the event loop and sees one snapshot. Results are row ids (``pid``) so callers can
combine and page them cheaply before loading the few papers they show.

Every query here is bounded: FTS5 matching walks doclists newest-first (``ORDER BY rowid
DESC``, which FTS5 serves without sorting) and stops after ``limit`` rows.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from bot.models import Paper
from bot.store.rows import SELECT, row_to_paper, title_hash

log = logging.getLogger(__name__)

# Orders for papers (ORDER BY clauses over the papers table).
UPVOTES_ORDER = "upvotes IS NULL, upvotes DESC, pid DESC"
NEWEST_ORDER = "published IS NULL, published DESC, pid DESC"
_ORDERS = frozenset({UPVOTES_ORDER, NEWEST_ORDER})
_TABLES = frozenset({"papers_fts", "papers_title_fts"})

Conn = sqlite3.Connection
TitleInfo = tuple[str, str, int | None, int | None]  # id, title, source_rank, upvotes


def _ints(value: object) -> list[int]:
    return [int(x) for x in str(value).split(",")] if value else []


def _fts(table: str) -> str:
    if table not in _TABLES:
        raise ValueError(f"not a search index: {table}")
    return table


def match_desc(conn: Conn, expr: str, limit: int, *, table: str = "papers_fts") -> list[int]:
    """Row ids matching ``expr``, newest first, at most ``limit`` (no ranking: cheap)."""
    # One row with every id: a thousand Row objects cost more than the match.
    value = conn.execute(
        f"SELECT group_concat(rowid) FROM (SELECT rowid FROM {_fts(table)} "
        f"WHERE {_fts(table)} MATCH ? ORDER BY rowid DESC LIMIT ?)",
        (expr, limit),
    ).fetchone()[0]
    return sorted(_ints(value), reverse=True)


def match_from(conn: Conn, expr: str, min_pid: int) -> list[int]:
    """Row ids matching ``expr`` with ``pid >= min_pid`` (unordered, unranked)."""
    value = conn.execute(
        "SELECT group_concat(rowid) FROM papers_fts WHERE papers_fts MATCH ? AND rowid >= ?",
        (expr, min_pid),
    ).fetchone()[0]
    return _ints(value)


def matches_pid(conn: Conn, expr: str, pid: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM papers_fts WHERE papers_fts MATCH ? AND rowid = ?", (expr, pid)
    ).fetchone()
    return row is not None


def matching_among(
    conn: Conn, expr: str, pids: Sequence[int], *, table: str = "papers_fts"
) -> set[int]:
    """Which of ``pids`` match ``expr`` (one indexed probe per pid)."""
    if not pids:
        return set()
    value = conn.execute(
        f"SELECT group_concat(rowid) FROM {_fts(table)} WHERE {_fts(table)} MATCH ? "
        "AND rowid IN (SELECT value FROM json_each(?))",
        (expr, json.dumps(list(pids))),
    ).fetchone()[0]
    return set(_ints(value))


def order(conn: Conn, pids: Sequence[int], order_by: str) -> list[int]:
    """``pids`` sorted by a papers ORDER BY clause (NEWEST_ORDER / UPVOTES_ORDER)."""
    if order_by not in _ORDERS:
        raise ValueError(f"not a known order: {order_by}")
    if not pids:
        return []
    value = conn.execute(
        f"SELECT group_concat(pid) FROM (SELECT pid FROM papers "
        f"WHERE pid IN (SELECT value FROM json_each(?)) ORDER BY {order_by})",
        (json.dumps(list(pids)),),
    ).fetchone()[0]
    return _ints(value)


def trending_pids(conn: Conn, limit: int) -> list[int]:
    """Papers on a trending list, in trending order (uses the source_rank index)."""
    value = conn.execute(
        "SELECT group_concat(pid) FROM (SELECT pid FROM papers WHERE source_rank IS NOT NULL "
        "ORDER BY source_rank, upvotes IS NULL, upvotes DESC, published DESC, pid DESC "
        "LIMIT ?)",
        (limit,),
    ).fetchone()[0]
    return _ints(value)


def newest_pids(conn: Conn, limit: int, *, exclude: Sequence[int] = ()) -> list[int]:
    value = conn.execute(
        "SELECT group_concat(pid) FROM (SELECT pid FROM papers "
        "WHERE pid NOT IN (SELECT value FROM json_each(?)) ORDER BY pid DESC LIMIT ?)",
        (json.dumps(list(exclude)), limit),
    ).fetchone()[0]
    return _ints(value)


def latest_pid(conn: Conn) -> int:
    """The highest row id (0 for an empty store): the store's size for idf purposes."""
    return int(conn.execute("SELECT coalesce(max(pid), 0) FROM papers").fetchone()[0])


def titles(conn: Conn, pids: Sequence[int]) -> dict[int, TitleInfo]:
    """``pid -> (id, title, source_rank, upvotes)`` for autocomplete labels."""
    if not pids:
        return {}
    value = conn.execute(
        "SELECT json_group_array(json_array(pid, id, title, source_rank, upvotes)) "
        "FROM papers WHERE pid IN (SELECT value FROM json_each(?))",
        (json.dumps(list(pids)),),
    ).fetchone()[0]
    return {int(r[0]): (str(r[1]), str(r[2]), r[3], r[4]) for r in json.loads(value or "[]")}


def titles_authors(conn: Conn, pids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """``pid -> (title, authors JSON)``: what ranking needs to know about a candidate."""
    if not pids:
        return {}
    value = conn.execute(
        "SELECT json_group_array(json_array(pid, title, authors)) FROM papers "
        "WHERE pid IN (SELECT value FROM json_each(?))",
        (json.dumps(list(pids)),),
    ).fetchone()[0]
    return {int(r[0]): (str(r[1]), str(r[2])) for r in json.loads(value or "[]")}


def papers(conn: Conn, pids: Sequence[int]) -> dict[int, Paper]:
    """The papers with these row ids (missing ones left out)."""
    if not pids:
        return {}
    rows = conn.execute(
        f"SELECT {SELECT} FROM papers WHERE pid IN (SELECT value FROM json_each(?))",
        (json.dumps(list(pids)),),
    ).fetchall()
    return {int(row[0]): row_to_paper(row, 1) for row in rows}


def paper_by_id(conn: Conn, paper_id: str) -> tuple[int, Paper] | None:
    """A paper by its id or a former (title) id."""
    row = conn.execute(f"SELECT {SELECT} FROM papers WHERE id = ?", (paper_id,)).fetchone()
    if row is None:
        row = conn.execute(
            f"SELECT {SELECT} FROM papers WHERE pid = "
            "(SELECT pid FROM paper_aliases WHERE alias = ?)",
            (paper_id,),
        ).fetchone()
    return None if row is None else (int(row[0]), row_to_paper(row, 1))


def pids_with_title(conn: Conn, key: str) -> list[int]:
    """Papers whose normalised title is exactly *key* (newest first)."""
    value = conn.execute(
        "SELECT group_concat(pid) FROM (SELECT pid FROM papers WHERE title_hash = ? "
        "AND title_key = ? ORDER BY pid DESC LIMIT 5)",
        (title_hash(key), key),
    ).fetchone()[0]
    return _ints(value)


_VOCAB_SQL = "SELECT term, doc FROM papers_title_vocab"


def title_vocabulary(conn: Conn) -> list[tuple[str, int]]:
    """Every word of every title with its document frequency (a full scan of the title
    index: ~0.4 s at a million papers)."""
    return [(str(t), int(d)) for t, d in conn.execute(_VOCAB_SQL)]


def read_title_vocabulary(path: Path) -> list[tuple[str, int]]:
    """The title vocabulary read on a fresh read-only connection (blocking)."""
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        return title_vocabulary(conn)
    finally:
        conn.close()
