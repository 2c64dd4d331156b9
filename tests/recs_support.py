"""Shared by the For you tests: a real store of the bundled papers with their vectors.

The store (the trending page, the arXiv snapshot sample, the daily-papers sample and the arXiv
API answers, every paper embedded by the bot's own model) is built once per test session and
copied for each test, so each test gets its own real SQLite file in a second.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from bot.semantic.backfill import ready_meaning
from bot.semantic.model import Embedder
from bot.store import Store
from bot.store.loader import load_file

FIXTURES = Path(__file__).parent / "fixtures"
FILES = (
    "trending-may-28.txt",
    "arxiv-metadata-oai-snapshot.200.jsonl",
    "daily_papers.sample.json",
    *sorted(f"arxiv-api/{p.name}" for p in (FIXTURES / "arxiv-api").glob("*.xml")),
)

_TEMPLATE: Path | None = None
_EMBEDDER: Embedder | None = None


def embedder() -> Embedder:
    global _EMBEDDER
    if _EMBEDDER is None:
        _EMBEDDER = Embedder.load()
    return _EMBEDDER


def _have_template() -> bool:
    return _TEMPLATE is not None and _TEMPLATE.exists()


async def _template(folder: Path) -> Path:
    global _TEMPLATE
    if not _have_template():
        path = folder / "recs-template.db"
        store = await Store.open(path)
        for name in FILES:
            await load_file(store, FIXTURES / name)
        await ready_meaning(store, embedder())
        await store.close()
        _TEMPLATE = path
    assert _TEMPLATE is not None
    return _TEMPLATE


async def real_store(tmp_path: Path, template_dir: Path, name: str = "bot.db") -> Store:
    """An opened store of the bundled papers with vectors, on a file of its own."""
    template = await _template(template_dir)
    target = tmp_path / name
    shutil.copyfile(template, target)
    return await Store.open(target)


def rows_of_user(path: Path, user_id: int) -> dict[str, int]:
    """For every table with a user column: how many rows belong to *user_id*."""
    conn = sqlite3.connect(path)
    try:
        found: dict[str, int] = {}
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            for column in ("user_id", "target_id", "created_by"):
                if column in columns:
                    count = conn.execute(
                        f"SELECT count(*) FROM {table} WHERE {column} = ?", (user_id,)
                    ).fetchone()[0]
                    found[f"{table}.{column}"] = int(count)
        return found
    finally:
        conn.close()
