"""Papers: batched upserts that merge records across sources, the FTS index, and reads.

Identity. A paper is stored once, under its arXiv id (version-less) when one is known and
under a title id (``t-...``, see :func:`bot.models.title_id`) otherwise. An incoming record
matches a stored one by id first, then by :func:`bot.models.title_key` — a title-only record
(the Hugging Face trending page) matches any paper with the same normalised title, and a record
with an id matches a *title-only* paper with the same title (two different arXiv papers that
share a title stay apart). When a title-only paper gains an arXiv id its ``pid`` stays, its
``id`` becomes the arXiv id, and the old title id is kept in ``paper_aliases`` so links that
carry it still resolve. Fields merge with :func:`bot.models.merge`.

Full-text index. ``papers_fts`` (and any other FTS5 table declared with ``content='papers'``)
is an external-content index kept in sync *here*, by explicit FTS writes in the same
transaction: triggers measured about twice as slow on a bulk load (FTS5 flushes its pending
terms at every statement savepoint a trigger opens). So every write to ``papers`` must go
through :class:`PaperRepo` — never ``UPDATE papers`` elsewhere — or the index goes stale.
``'delete'`` commands are given the exact old column values read back from the row.

Batches. One lookup query per batch (ids and title keys passed as JSON arrays to
``json_each``), then one ``executemany`` per kind of write; new rows get explicit ``pid``\\ s
(``max(pid)+1...``) so the FTS and ``paper_sources`` rows can be written in bulk too. Pids only
grow, which the alert scanner relies on (``last_pid``).
"""

from __future__ import annotations

import json
import logging
import random as _random
import re
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import aiosqlite

from bot.models import (
    TITLE_ID_PREFIX,
    Paper,
    fast_title_key,
    find_arxiv_id,
    merge,
)
from bot.store.database import Database, StoreError
from bot.store.rows import (
    COL_INDEX,
    COLUMNS,
    ENCODER,
    SELECT,
    Prepared,
    Row,
    paper_to_row,
    prepare,
    row_to_paper,
    text_hash,
    title_hash,
)
from bot.store.stamps import stamp
from bot.store.vectors import reserve_seqs

log = logging.getLogger(__name__)

# New pids continue after the highest ever used, deleted ones included (see delete()).
_NEXT_PID = (
    "SELECT max(coalesce((SELECT max(pid) FROM papers), 0),"
    " coalesce((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'pid_high'), 0)) + 1"
)
_INSERT = (
    f"INSERT INTO papers(pid, {', '.join(COLUMNS)}, added_at, updated_at) "
    f"VALUES ({', '.join('?' * (len(COLUMNS) + 3))})"
)
_UPDATE = (
    "UPDATE papers SET "
    + ", ".join(f"{name} = ?" for name in COLUMNS)
    + ", updated_at = ? WHERE pid = ?"
)
_FTS5 = re.compile(r"USING\s+fts5\s*\(", re.IGNORECASE)
_CONTENT_PAPERS = re.compile(r"content\s*=\s*['\"]?papers['\"]?(?:\s|,|\))", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class UpsertCounts:
    """What one upsert did, per stored paper (duplicates within a batch count once)."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    # pids given a trending rank by these records (not compared: a detail of the counts)
    ranked: frozenset[int] = field(default=frozenset(), compare=False)

    def __add__(self, other: object) -> UpsertCounts:
        if not isinstance(other, UpsertCounts):
            return NotImplemented
        return UpsertCounts(
            self.new + other.new,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.ranked | other.ranked,
        )


def _is_title_id(paper_id: str) -> bool:
    return paper_id.startswith(TITLE_ID_PREFIX)


# -- the merge of one batch ----------------------------------------------------------------


_TITLE, _ABSTRACT = COL_INDEX["title"], COL_INDEX["abstract"]


def _embedded(row: Row) -> int:
    """The hash of what a paper's vector is made of (its title and abstract)."""
    return text_hash(row[_TITLE], row[_ABSTRACT])


def _text_changed(fts: list[tuple[str, tuple[str, ...]]], old: Row, new: Row) -> bool:
    """Whether a change touches a column some FTS index holds (unknown columns: assume so)."""
    for _, cols in fts:
        for col in cols:
            i = COL_INDEX.get(col)
            if i is None or old[i] != new[i]:
                return True
    return False


class _Entry:
    """One paper being written: a stored row (``pid`` set) or a new one, and its merged state.

    A stored row becomes a :class:`Paper` only when a record actually merges into it: on a
    re-import most records equal their row exactly, and are recognised by comparing rows.
    """

    __slots__ = ("_paper", "key", "old_row", "pid", "row", "sources", "updated_at")

    def __init__(
        self,
        key: str,
        *,
        paper: Paper | None = None,
        row: Row | None = None,
        pid: int | None = None,
        old_row: Row | None = None,
        sources: Iterable[str] = (),
        updated_at: str = "",
    ) -> None:
        self._paper = paper
        self.updated_at = updated_at  # the stored row's, for the import journal
        self.key = key
        self.row = row  # paper_to_row(paper), while paper is an incoming record as is
        self.pid = pid
        self.old_row = old_row  # as stored
        self.sources = set(sources)

    @property
    def paper(self) -> Paper:
        if self._paper is None:
            assert self.old_row is not None
            self._paper = row_to_paper(self.old_row)
        return self._paper

    @paper.setter
    def paper(self, value: Paper) -> None:
        self._paper = value

    @property
    def touched(self) -> bool:
        """Whether a record was merged into this stored row (it may still be unchanged)."""
        return self._paper is not None

    @property
    def id(self) -> str:
        return self._paper.id if self._paper is not None else str(self.row_or_old[0])

    @property
    def published(self) -> date:
        return self.paper.published or date.min

    @property
    def row_or_old(self) -> Row:
        row = self.row if self.row is not None else self.old_row
        assert row is not None
        return row


class _Batch:
    """The merge state of one batch: entries indexed by every id and title key they carry."""

    def __init__(self) -> None:
        self.entries: list[_Entry] = []
        self.by_id: dict[str, _Entry] = {}
        self.by_key: dict[str, list[_Entry]] = {}

    def add(self, entry: _Entry, *ids: str) -> None:
        self.entries.append(entry)
        self._index(entry, entry.id, *ids)

    def _index(self, entry: _Entry, *ids: str) -> None:
        for pid in ids:
            self.by_id.setdefault(pid, entry)
        bucket = self.by_key.setdefault(entry.key, [])
        if entry not in bucket:
            bucket.append(entry)

    def match(self, paper: Paper, key: str) -> _Entry | None:
        found = self.by_id.get(paper.id)
        if found is not None:
            return found
        candidates = self.by_key.get(key)
        if not candidates:
            return None
        if _is_title_id(paper.id):
            # A title-only record joins the paper with that title, an identified one first
            # (the newest if several arXiv papers share the title).
            ided = [e for e in candidates if not _is_title_id(e.id)]
            if ided:
                return max(ided, key=lambda e: e.published)
            return candidates[0]
        # A record with an id only absorbs a title-only paper, never another id.
        for e in candidates:
            if _is_title_id(e.id):
                return e
        return None

    def merge_into(self, entry: _Entry, paper: Paper, key: str, row: Row) -> None:
        if not entry.touched and entry.old_row == row:
            return  # the record is the stored row exactly: merging it changes nothing
        merged = merge(entry.paper, paper)
        entry.row = None
        if merged.title != entry.paper.title:
            entry.key = key if merged.title == paper.title else fast_title_key(merged.title)
        entry.paper = merged
        self._index(entry, merged.id)


# -- the repository ----------------------------------------------------------------------------


# Which papers an index write covers: a JSON list of pids, or a range (first, last).
_BY_PIDS = "pid IN (SELECT value FROM json_each(?))"
_BY_RANGE = "pid BETWEEN ? AND ?"
FtsTables = Sequence[tuple[str, Sequence[str]]]


async def _index(
    conn: aiosqlite.Connection, fts: FtsTables, where: str, params: tuple[Any, ...]
) -> None:
    """Index the papers *where* selects, in every full-text table, from the table itself."""
    for table, cols in fts:
        names = ", ".join(cols)
        await conn.execute(
            f"INSERT INTO {table}(rowid, {names}) SELECT pid, {names} FROM papers WHERE {where}",
            params,
        )


async def _unindex(
    conn: aiosqlite.Connection, fts: FtsTables, where: str, params: tuple[Any, ...]
) -> None:
    """Take the papers *where* selects out of every full-text table ('delete' needs the
    values as indexed: call it before the rows change)."""
    for table, cols in fts:
        names = ", ".join(cols)
        await conn.execute(
            f"INSERT INTO {table}({table}, rowid, {names}) "
            f"SELECT 'delete', pid, {names} FROM papers WHERE {where}",
            params,
        )


class PaperRepo:
    """All queries on ``papers``, ``paper_sources``, ``paper_aliases`` and the FTS index."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._fts: list[tuple[str, tuple[str, ...]]] | None = None

    # -- writes ------------------------------------------------------------------------------

    async def upsert_many(
        self,
        papers: Sequence[Paper],
        source: str,
        *,
        conn: aiosqlite.Connection | None = None,
        prepared: Prepared | None = None,
        before_fts: Callable[[], object] | None = None,
        journal: int | None = None,
        rank_list: str | None = None,
    ) -> UpsertCounts:
        """Merge *papers* (one source's records) into the store; returns what changed.

        Runs in its own transaction unless *conn* is given, in which case the caller holds a
        write transaction on it (:meth:`Database.transaction`) — the loader does, to store a
        whole file atomically. *prepared* is :func:`prepare` of *papers*, if already computed.
        *before_fts* is called just before the full-text inserts, which run without the GIL
        (the loader parses its next batch meanwhile). *journal* is an import id
        (:mod:`bot.store.imports`): what this upsert changes is journaled under it, so the
        import can be undone. *rank_list* names the trending list the records' ranks come from
        (see :meth:`replace_ranks`); it defaults to the source.
        """
        if not papers:
            return UpsertCounts()
        if prepared is None:
            prepared = prepare(papers)
        elif len(prepared) != len(papers):
            raise ValueError("prepared rows do not match the papers")
        if conn is None:
            async with self.db.transaction() as tx:
                return await self._upsert(
                    tx, papers, prepared, source, before_fts, journal, rank_list or source
                )
        return await self._upsert(
            conn, papers, prepared, source, before_fts, journal, rank_list or source
        )

    async def _upsert(
        self,
        conn: aiosqlite.Connection,
        papers: Sequence[Paper],
        prepared: Prepared,
        source: str,
        before_fts: Callable[[], object] | None = None,
        journal: int | None = None,
        rank_list: str = "",
    ) -> UpsertCounts:
        fts = await self._fts_tables(conn)
        keys = [key for key, _ in prepared]
        batch = _Batch()
        await self._load_existing(conn, batch, papers, keys)

        ranked_entries: list[_Entry] = []  # entries a ranked record went into
        for paper, (key, row) in zip(papers, prepared, strict=True):
            entry = batch.match(paper, key)
            if entry is None:
                entry = _Entry(key, paper=paper, row=row)
                batch.add(entry)
            else:
                batch.merge_into(entry, paper, key, row)
            if paper.source_rank is not None:
                ranked_entries.append(entry)

        now = stamp(precise=True)
        inserts: list[Row] = []
        updates: list[Row] = []
        reindex: list[int] = []  # stored papers whose indexed text changed
        revector: dict[int, tuple[int, int]] = {}  # ... whose embedded text changed: from, to
        sources: list[tuple[int, str]] = []
        aliases: list[tuple[str, int]] = []
        # pid -> [old_row, added_source, added_alias, dropped vector, its text's hash]
        undo: dict[int, list[Any]] = {}
        new_pids: dict[int, int] = {}  # id(entry) -> the pid given to a new paper
        new = updated = unchanged = 0
        first_pid = next_pid = 0
        for e in batch.entries:
            if e.pid is None:
                if not next_pid:
                    async with conn.execute(_NEXT_PID) as cur:
                        top = await cur.fetchone()
                    first_pid = next_pid = int(top[0]) if top else 1
                pid, next_pid = next_pid, next_pid + 1
                new_pids[id(e)] = pid
                row = e.row if e.row is not None else paper_to_row(e.paper, e.key)
                inserts.append((pid, *row, now, now))
                new += 1
                continue
            assert e.old_row is not None
            pid = e.pid
            if source not in e.sources:
                sources.append((pid, source))
                undo[pid] = [None, source, None, None, None]
            original = row_to_paper(e.old_row) if e.touched else None
            if original is None or e.paper == original:
                unchanged += 1
                continue
            row = paper_to_row(e.paper, e.key)
            updates.append((*row, now, pid))
            journaled = undo.setdefault(pid, [None, None, None, None, None])
            journaled[0] = ENCODER.encode([*e.old_row, e.updated_at])
            if _text_changed(fts, e.old_row, row):
                reindex.append(pid)
                before, after = _embedded(e.old_row), _embedded(row)
                if before != after:
                    revector[pid] = (before, after)
            if original.id != e.paper.id and _is_title_id(original.id):
                aliases.append((original.id, pid))
                journaled[2] = original.id
            updated += 1

        # The index is written from the table itself (INSERT ... SELECT): no text crosses
        # from Python twice, and SQLite runs each statement without taking the GIL back.
        changed = json.dumps(reindex)
        if reindex:  # 'delete' needs the values as indexed: read them before the UPDATE
            await _unindex(conn, fts, _BY_PIDS, (changed,))
        if revector:
            await self._drop_vectors(conn, revector, journal, undo)
        if aliases:
            await conn.executemany(
                "INSERT OR REPLACE INTO paper_aliases(alias, pid) VALUES (?, ?)", aliases
            )
        if updates:
            await conn.executemany(_UPDATE, updates)
        if inserts:
            await conn.executemany(_INSERT, inserts)
            await conn.execute(
                "INSERT INTO paper_sources(pid, source) SELECT pid, ? FROM papers "
                "WHERE pid BETWEEN ? AND ?",
                (source, first_pid, next_pid - 1),
            )
        if before_fts is not None:
            before_fts()
        if inserts:
            await _index(conn, fts, _BY_RANGE, (first_pid, next_pid - 1))
        if reindex:
            await _index(conn, fts, _BY_PIDS, (changed,))
        if sources:
            await conn.executemany(
                "INSERT OR IGNORE INTO paper_sources(pid, source) VALUES (?, ?)", sources
            )
        if journal is not None:
            await self._journal(conn, journal, now, undo, first_pid, next_pid - 1)
        if new or updated:
            self.db.papers_changed()
        ranked = frozenset(e.pid or new_pids[id(e)] for e in ranked_entries)
        if ranked and journal is None:
            # A journaled import names its list when it finishes (set_rank_list): an undo
            # cannot put back a list name that is not journaled.
            await self.set_rank_list(conn, rank_list, ranked)
        return UpsertCounts(new, updated, unchanged, ranked)

    @staticmethod
    async def set_rank_list(
        conn: aiosqlite.Connection, rank_list: str, pids: frozenset[int] | set[int]
    ) -> None:
        """The trending list the ranks of *pids* come from is *rank_list*."""
        await conn.execute(
            "UPDATE papers SET rank_list = ? WHERE pid IN (SELECT value FROM json_each(?)) "
            "AND rank_list IS NOT ?",
            (rank_list, json.dumps(sorted(pids)), rank_list),
        )

    @staticmethod
    async def _journal(
        conn: aiosqlite.Connection,
        journal: int,
        now: str,
        undo: dict[int, list[Any]],
        first_pid: int,
        last_pid: int,
    ) -> None:
        """Record what one batch of an import changed (see :mod:`bot.store.imports`)."""
        if first_pid:
            await conn.execute(
                "INSERT INTO import_new(import_id, first_pid, last_pid) VALUES (?, ?, ?)",
                (journal, first_pid, last_pid),
            )
        if undo:
            # A paper touched by an earlier batch of the same import keeps its first old row.
            await conn.executemany(
                "INSERT INTO import_undo(import_id, pid, old_row, written_at, added_source, "
                "added_alias, vector, vector_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(import_id, pid) DO UPDATE "
                "SET old_row = coalesce(old_row, excluded.old_row), written_at = "
                "excluded.written_at, added_source = coalesce(added_source, "
                "excluded.added_source), added_alias = coalesce(added_alias, excluded.added_alias), "
                "vector = coalesce(excluded.vector, vector), vector_text = CASE WHEN "
                "excluded.vector IS NULL THEN vector_text ELSE excluded.vector_text END",
                [(journal, pid, *entry[:1], now, *entry[1:]) for pid, entry in undo.items()],
            )

    @staticmethod
    async def _drop_vectors(
        conn: aiosqlite.Connection,
        revector: dict[int, tuple[int, int]],
        journal: int | None,
        undo: dict[int, list[Any]],
    ) -> None:
        """Delete the vectors of papers whose embedded text changed (the backfill makes new
        ones). Within an import, a dropped vector is journaled with the hash of its text, and
        one journaled earlier is put back when a later batch gives its paper that text again:
        the same paper twice in one file changes it and back, its vector stays."""
        changed = json.dumps(list(revector))
        kept: dict[int, bytes] = {}
        if journal is not None:
            async with conn.execute(
                f"SELECT pid, vec FROM paper_vectors WHERE {_BY_PIDS}", (changed,)
            ) as cur:
                for pid, vec in await cur.fetchall():
                    entry = undo.setdefault(int(pid), [None, None, None, None, None])
                    entry[3], entry[4] = bytes(vec), revector[int(pid)][0]
            async with conn.execute(
                "SELECT pid, vector, vector_text FROM import_undo WHERE import_id = ? "
                f"AND vector IS NOT NULL AND {_BY_PIDS}",
                (journal, changed),
            ) as cur:
                for pid, vec, text in await cur.fetchall():
                    if revector[int(pid)][1] == text:
                        kept[int(pid)] = bytes(vec)
        await conn.execute(f"DELETE FROM paper_vectors WHERE {_BY_PIDS}", (changed,))
        if kept:
            base = await reserve_seqs(conn, len(kept))
            await conn.executemany(
                "INSERT INTO paper_vectors(pid, seq, vec) VALUES (?, ?, ?)",
                [(pid, base + i, vec) for i, (pid, vec) in enumerate(kept.items(), start=1)],
            )

    async def _load_existing(
        self,
        conn: aiosqlite.Connection,
        batch: _Batch,
        papers: Sequence[Paper],
        keys: Sequence[str],
    ) -> None:
        """Fetch, in one query, every stored paper the batch may merge with."""
        ids = {p.id for p in papers}
        any_keys = {k for p, k in zip(papers, keys, strict=True) if _is_title_id(p.id)}
        title_only_keys = set(keys) - any_keys
        sql = (
            f"SELECT {SELECT}, "
            "(SELECT group_concat(source, ' ') FROM paper_sources s WHERE s.pid = papers.pid) "
            "FROM papers WHERE pid IN ("
            " SELECT pid FROM papers WHERE id IN (SELECT value FROM json_each(?1))"
            " UNION SELECT pid FROM papers WHERE title_hash IN (SELECT value FROM json_each(?2))"
            " UNION SELECT pid FROM papers WHERE title_key IN (SELECT value FROM json_each(?3))"
            "  AND id LIKE 't-%'"
            " UNION SELECT pid FROM paper_aliases WHERE alias IN (SELECT value FROM json_each(?1))"
            ") ORDER BY pid"
        )
        params = (
            json.dumps(list(ids)),
            json.dumps([title_hash(k) for k in any_keys]),
            json.dumps(list(title_only_keys)),
        )
        async with conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
        if not rows:
            return
        alias_of: dict[int, list[str]] = {}
        if any(_is_title_id(i) for i in ids):
            async with conn.execute(
                "SELECT alias, pid FROM paper_aliases WHERE alias IN (SELECT value FROM json_each(?))",
                (json.dumps([i for i in ids if _is_title_id(i)]),),
            ) as cur:
                for alias, pid in await cur.fetchall():
                    alias_of.setdefault(int(pid), []).append(str(alias))
        for row in rows:
            pid = int(row[0])
            stored = tuple(row[1 : 1 + len(COLUMNS)])
            entry = _Entry(
                stored[1],
                pid=pid,
                old_row=stored,
                sources=(row[-1] or "").split(),
                updated_at=str(row[len(COLUMNS) + 2]),
            )
            batch.add(entry, *alias_of.get(pid, ()))

    async def _fts_tables(self, conn: aiosqlite.Connection) -> list[tuple[str, tuple[str, ...]]]:
        """Every FTS5 table indexing ``papers`` (external content), with its columns."""
        if self._fts is None:
            found: list[tuple[str, tuple[str, ...]]] = []
            async with conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql LIKE "
                "'CREATE VIRTUAL TABLE%USING fts5%'"
            ) as cur:
                tables = [(str(r[0]), str(r[1])) for r in await cur.fetchall()]
            for name, sql in tables:
                if not _FTS5.search(sql) or not _CONTENT_PAPERS.search(sql):
                    continue
                async with conn.execute(f"SELECT name FROM pragma_table_info('{name}')") as cur:
                    cols = tuple(str(r[0]) for r in await cur.fetchall())
                found.append((name, cols))
            self._fts = found
        return self._fts

    async def delete(self, paper_id: str) -> bool:
        """Remove a paper (and its FTS entries, sources, votes...). True if it existed."""
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT pid FROM papers WHERE id = ?", (paper_id,)) as cur:
                row = await cur.fetchone()
            if row is None:
                return False
            pid = int(row[0])
            await self._delete_range(conn, pid, pid)
            return True

    async def _delete_range(
        self, conn: aiosqlite.Connection, first: int, last: int, *, keep: Sequence[int] = ()
    ) -> int:
        """Delete the papers with ``first <= pid <= last`` but those in *keep* (index entries
        too); returns how many."""
        where = f"{_BY_RANGE} AND pid NOT IN (SELECT value FROM json_each(?))"
        params = (first, last, json.dumps(list(keep)))
        await _unindex(conn, await self._fts_tables(conn), where, params)
        cur = await conn.execute(f"DELETE FROM papers WHERE {where}", params)
        self.db.papers_changed()
        # Remember the highest pid ever used: pids must only grow (alert scanners and
        # search treat higher pids as newer), even when the newest paper is deleted.
        await conn.execute(
            "INSERT INTO meta(key, value) VALUES ('pid_high', ?) ON CONFLICT(key) DO UPDATE "
            "SET value = max(CAST(value AS INTEGER), CAST(excluded.value AS INTEGER))",
            (last,),
        )
        return int(cur.rowcount)

    # -- undoing an import (bot/store/imports.py) ------------------------------------------------

    async def undo_changes(self, conn: aiosqlite.Connection, import_id: int, limit: int) -> int:
        """Put back up to *limit* papers an import changed; returns how many journal rows went.

        A row is put back only if the import's write is still the latest (``updated_at`` as
        the import wrote it): a later change by someone else wins over the undo.
        """
        async with conn.execute(
            "SELECT u.pid, u.old_row, u.written_at, u.added_source, u.added_alias, p.updated_at "
            "FROM import_undo u LEFT JOIN papers p USING (pid) WHERE u.import_id = ? LIMIT ?",
            (import_id, limit),
        ) as cur:
            rows = list(await cur.fetchall())
        if not rows:
            return 0
        fts = await self._fts_tables(conn)
        restore: list[tuple[Any, ...]] = []
        kept: set[int] = set()  # changed again since by someone else: their state wins
        for pid, old_json, written_at, _, _, current in rows:
            if old_json is not None and current is not None and current == written_at:
                old = json.loads(old_json)
                # A row journaled before migration 0007 lacks doi and journal_ref: unknown.
                old[-1:-1] = [None] * (len(COLUMNS) + 1 - len(old))
                restore.append((*old[: len(COLUMNS)], old[len(COLUMNS)], int(pid)))
            elif old_json is not None and current is not None:
                kept.add(int(pid))
        if restore:
            self.db.papers_changed()
            changed = json.dumps([r[-1] for r in restore])
            await _unindex(conn, fts, _BY_PIDS, (changed,))
            await conn.executemany(_UPDATE, restore)
            await conn.execute(f"DELETE FROM paper_vectors WHERE {_BY_PIDS}", (changed,))
            await _index(conn, fts, _BY_PIDS, (changed,))
        # A row kept in its newer state still holds what the import merged in, and still
        # carries the arXiv id that replaced its title id: its source and alias stay.
        await conn.executemany(
            "DELETE FROM paper_sources WHERE pid = ? AND source = ?",
            [(int(r[0]), r[3]) for r in rows if r[3] is not None and int(r[0]) not in kept],
        )
        await conn.executemany(
            "DELETE FROM paper_aliases WHERE alias = ? AND pid = ?",
            [(r[4], int(r[0])) for r in rows if r[4] is not None and int(r[0]) not in kept],
        )
        await conn.executemany(
            "DELETE FROM import_undo WHERE import_id = ? AND pid = ?",
            [(import_id, int(r[0])) for r in rows],
        )
        return len(rows)

    async def undo_inserts(self, conn: aiosqlite.Connection, import_id: int, limit: int) -> int:
        """Delete up to *limit* papers an import inserted; returns how many pids were covered."""
        async with conn.execute(
            "SELECT first_pid, last_pid FROM import_new WHERE import_id = ? "
            "ORDER BY first_pid DESC LIMIT 1",
            (import_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return 0
        first, last = int(row[0]), int(row[1])
        start = max(first, last - limit + 1)
        # A paper written since by someone else (a refresh, a lookup, another import merged
        # into it; the import's own later changes were put back first) is theirs too: kept.
        async with conn.execute(
            "SELECT pid FROM papers WHERE pid BETWEEN ? AND ? AND updated_at <> added_at",
            (start, last),
        ) as cur:
            kept = [int(r[0]) for r in await cur.fetchall()]
        await self._delete_range(conn, start, last, keep=kept)
        if start == first:
            await conn.execute(
                "DELETE FROM import_new WHERE import_id = ? AND first_pid = ?", (import_id, first)
            )
        else:
            await conn.execute(
                "UPDATE import_new SET last_pid = ? WHERE import_id = ? AND first_pid = ?",
                (start - 1, import_id, first),
            )
        return last - start + 1

    async def replace_ranks(
        self, conn: aiosqlite.Connection, rank_list: str, keep: frozenset[int] | set[int]
    ) -> int:
        """A newer import of trending list *rank_list* replaces it: papers ranked by that list
        but not by the new one (*keep*) lose their rank. Returns how many did."""
        cur = await conn.execute(
            "UPDATE papers SET source_rank = NULL, rank_list = NULL, updated_at = ? "
            "WHERE rank_list = ? AND pid NOT IN (SELECT value FROM json_each(?))",
            (stamp(precise=True), rank_list, json.dumps(sorted(keep))),
        )
        self.db.papers_changed()
        return int(cur.rowcount)

    # -- FTS maintenance (used by the loader around bulk loads) ---------------------------------

    async def fts_tables(self) -> list[tuple[str, tuple[str, ...]]]:
        """The FTS5 tables kept in sync with ``papers``, with their columns."""
        return list(await self._fts_tables(self.db.conn))

    async def fts_set(self, conn: aiosqlite.Connection, option: str, value: int) -> None:
        """Set an FTS5 configuration option (automerge, crisismerge, hashsize...) on every index."""
        for table, _ in await self._fts_tables(conn):
            await conn.execute(f"INSERT INTO {table}({table}, rank) VALUES (?, ?)", (option, value))

    async def fts_command(self, conn: aiosqlite.Connection, command: str) -> None:
        """Run an FTS5 command (``optimize``, ``rebuild``, ``integrity-check``) on every index."""
        for table, _ in await self._fts_tables(conn):
            await conn.execute(f"INSERT INTO {table}({table}) VALUES (?)", (command,))

    async def fts_merge(self, conn: aiosqlite.Connection, pages: int) -> None:
        """Incrementally merge index segments (FTS5 ``merge``), about *pages* pages of work."""
        for table, _ in await self._fts_tables(conn):
            await conn.execute(f"INSERT INTO {table}({table}, rank) VALUES ('merge', ?)", (pages,))

    async def check_fts(self) -> None:
        """Raise :class:`StoreError` if an FTS index disagrees with the papers table."""
        async with self.db.transaction() as conn:
            for table, _ in await self._fts_tables(conn):
                try:
                    await conn.execute(
                        f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)"
                    )
                except sqlite3.DatabaseError as exc:
                    raise StoreError(f"the full-text index {table} is out of sync: {exc}") from None

    # -- reads -------------------------------------------------------------------------------

    async def get(self, paper_id: str) -> Paper | None:
        """A paper by arXiv id (any version or URL form), title id (also a former one) or id."""
        text = paper_id.strip()
        if not text:
            return None
        wanted = find_arxiv_id(text) or text
        row = await self.db.fetchone(f"SELECT {SELECT} FROM papers WHERE id = ?", (wanted,))
        if row is None:
            row = await self.db.fetchone(
                f"SELECT {SELECT} FROM papers WHERE pid = "
                "(SELECT pid FROM paper_aliases WHERE alias = ?)",
                (wanted,),
            )
        return None if row is None else row_to_paper(row, 1)

    async def get_pid(self, paper_id: str) -> int | None:
        """The row id of a paper (by id or former title id), for tables that reference it."""
        value = await self.db.fetchval(
            "SELECT pid FROM papers WHERE id = ?1 "
            "UNION ALL SELECT pid FROM paper_aliases WHERE alias = ?1 LIMIT 1",
            (paper_id,),
        )
        return None if value is None else int(value)

    async def get_many(self, ids: Sequence[str]) -> list[Paper]:
        """The papers with these ids, in the order given; unknown ids are left out."""
        if not ids:
            return []
        rows = await self.db.fetchall(
            f"SELECT {SELECT} FROM papers WHERE id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        )
        found = {row[1]: row_to_paper(row, 1) for row in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            rows = await self.db.fetchall(
                f"SELECT a.alias, {SELECT} FROM paper_aliases a JOIN papers USING (pid) "
                "WHERE a.alias IN (SELECT value FROM json_each(?))",
                (json.dumps(missing),),
            )
            found.update((row[0], row_to_paper(row, 2)) for row in rows)
        return [found[i] for i in ids if i in found]

    async def find_by_titles(self, titles: Sequence[str]) -> list[Paper]:
        """Papers whose normalised title (:func:`bot.models.title_key`) is exactly that of one
        of *titles*, in the order of *titles*; for a title several papers share, the newest.
        One indexed lookup (``title_hash``) for all of them."""
        keys = list(dict.fromkeys(key for key in map(fast_title_key, titles) if key))
        if not keys:
            return []
        rows = await self.db.fetchall(
            f"SELECT {SELECT} FROM papers WHERE title_hash IN (SELECT value FROM json_each(?)) "
            "ORDER BY pid DESC",
            (json.dumps([title_hash(key) for key in keys]),),
        )
        by_key: dict[str, Paper] = {}
        for row in rows:  # row[2] is title_key: equal hashes of different titles are told apart
            by_key.setdefault(str(row[2]), row_to_paper(row, 1))
        return [by_key[key] for key in keys if key in by_key]

    async def get_by_pids(self, pids: Iterable[int]) -> list[Paper]:
        """The papers with these row ids, in the order given (search hits come as rowids)."""
        wanted = list(pids)
        if not wanted:
            return []
        rows = await self.db.fetchall(
            f"SELECT {SELECT} FROM papers WHERE pid IN (SELECT value FROM json_each(?))",
            (json.dumps(wanted),),
        )
        found = {int(row[0]): row_to_paper(row, 1) for row in rows}
        return [found[p] for p in wanted if p in found]

    async def count(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM papers"))

    async def count_by_source(self) -> dict[str, int]:
        """How many papers each source has contributed (a paper counts for every source)."""
        rows = await self.db.fetchall(
            "SELECT source, count(*) FROM paper_sources GROUP BY source ORDER BY count(*) DESC"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    async def latest_added_at(self) -> datetime | None:
        """When the newest paper was first stored (pids only grow, so the highest pid)."""
        value = await self.db.fetchval("SELECT added_at FROM papers ORDER BY pid DESC LIMIT 1")
        if not value:
            return None
        stamp = datetime.fromisoformat(str(value))
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

    async def random(self, exclude_ids: Iterable[str] = ()) -> Paper | None:
        """A paper picked uniformly-ish at random (by row id), none of *exclude_ids*."""
        bounds = await self.db.fetchone("SELECT min(pid), max(pid) FROM papers")
        if bounds is None or bounds[0] is None:
            return None
        low, high = int(bounds[0]), int(bounds[1])
        excluded = json.dumps(list(exclude_ids))
        start = _random.randint(low, high)
        not_excluded = "id NOT IN (SELECT value FROM json_each(?))"
        for sql in (
            f"SELECT {SELECT} FROM papers WHERE pid >= ? AND {not_excluded} ORDER BY pid LIMIT 1",
            f"SELECT {SELECT} FROM papers WHERE pid < ? AND {not_excluded} "
            "ORDER BY pid DESC LIMIT 1",
        ):
            row = await self.db.fetchone(sql, (start, excluded))
            if row is not None:
                return row_to_paper(row, 1)
        return None

    async def latest_pid(self) -> int:
        """The highest row id (0 for an empty store)."""
        return int(await self.db.fetchval("SELECT coalesce(max(pid), 0) FROM papers"))

    async def top_by_source_rank(self, limit: int, offset: int = 0) -> list[Paper]:
        """The trending lists' order: rank on the source list, then upvotes, then newest."""
        rows = await self.db.fetchall(
            f"SELECT {SELECT} FROM papers WHERE source_rank IS NOT NULL "
            "ORDER BY source_rank ASC, upvotes DESC, published DESC, pid DESC "
            "LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [row_to_paper(row, 1) for row in rows]

    async def sources_of(self, paper_id: str) -> list[str]:
        """The sources a paper was imported from."""
        rows = await self.db.fetchall(
            "SELECT s.source FROM paper_sources s JOIN papers p USING (pid) WHERE p.id = ? "
            "ORDER BY s.source",
            (paper_id,),
        )
        return [str(r[0]) for r in rows]
