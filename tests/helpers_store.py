"""Helpers for tests that need a real store: plain async functions, no fixtures.

store = await make_store(tmp_path)
try:
    ...
finally:
    await store.close()
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
TRENDING = FIXTURES / "trending-may-28.txt"
DAILY = FIXTURES / "daily_papers.sample.json"
SNAPSHOT = FIXTURES / "arxiv-metadata-oai-snapshot.200.jsonl"
ARXIV_API = FIXTURES / "arxiv-api"


async def make_store(tmp_path: Path, name: str = "paperbot.db") -> Store:
    """An opened, migrated store on a real SQLite file in *tmp_path* (close it when done)."""
    return await Store.open(tmp_path / name)


async def table_rows(store: Store, table: str) -> list[tuple[Any, ...]]:
    """Every row of *table* as tuples in a stable order, for before/after comparisons."""
    rows = await store.db.fetchall(f"SELECT * FROM {table}")
    return sorted((tuple(r) for r in rows), key=repr)


async def fts_match(store: Store, query: str, table: str = "papers_fts") -> list[int]:
    """The pids the FTS index returns for an FTS5 MATCH *query*."""
    rows = await store.db.fetchall(
        f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rowid", (query,)
    )
    return [int(r[0]) for r in rows]


def fts_instances(store: Store, table: str = "papers_fts") -> list[tuple[Any, ...]]:
    """Every (term, row, column) entry of a full-text index: its logical content.

    Two indexes with the same entries answer every query alike, whatever their segments look
    like (an undone import leaves the same entries, not the same pages).
    """
    conn = sqlite3.connect(store.db.path)
    try:
        conn.execute(f"CREATE VIRTUAL TABLE temp.v USING fts5vocab(main, {table}, 'instance')")
        return sorted(tuple(r) for r in conn.execute("SELECT * FROM temp.v"))
    finally:
        conn.close()


def write_jsonl(path: Path, records: Iterable[dict[str, Any] | str]) -> Path:
    """Write canonical JSON lines (dicts are dumped, strings written as they are)."""
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(record if isinstance(record, str) else json.dumps(record, ensure_ascii=False))
            out.write("\n")
    return path


def snapshot_record(n: int, title: str, abstract: str = "") -> dict[str, Any]:
    """An arXiv metadata snapshot record of paper ``2401.<n>`` (one author, one version)."""
    return {
        "id": f"2401.{n:05d}",
        "title": title,
        "abstract": abstract,
        "authors": "A. Writer",
        "authors_parsed": [["Writer", "A.", ""]],
        "categories": "cs.LG",
        "versions": [{"version": "v1", "created": "Mon, 1 Jan 2024 00:00:00 GMT"}],
        "update_date": "2024-01-01",
    }
