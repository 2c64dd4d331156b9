"""A paper as a row of the ``papers`` table and back: the only place that knows the column
order and encodings (authors and keywords as JSON lists, categories space-separated, the
title key and its 64-bit hash). Pure functions, safe in worker and reader threads."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

from bot.models import Paper, fast_title_key

# The papers columns a Paper maps to, in row order (pid, added_at, updated_at are the store's).
COLUMNS: tuple[str, ...] = (
    "id",
    "title_key",
    "title_hash",
    "title",
    "abstract",
    "authors",
    "published",
    "categories",
    "url_abs",
    "url_pdf",
    "url_code",
    "url_project",
    "url_hf",
    "source",
    "source_rank",
    "upvotes",
    "ai_summary",
    "ai_keywords",
    "doi",
    "journal_ref",
)
COL_INDEX = {name: i for i, name in enumerate(COLUMNS)}
# The columns a paper read back needs, in row_to_paper's order (pid first).
SELECT = "pid, " + ", ".join(COLUMNS) + ", added_at, updated_at"
# A stored row as the papers columns in COLUMNS order.
Row = tuple[Any, ...]


ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _dumps(values: list[str]) -> str:
    return ENCODER.encode(values) if values else "[]"


def title_hash(key: str) -> int:
    """The indexed 64-bit hash of a title key (signed, as SQLite integers are)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def text_hash(title: str, abstract: str) -> int:
    """A 64-bit hash of a paper's title and abstract (signed, as SQLite integers are)."""
    digest = hashlib.blake2b(f"{title}\x00{abstract}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def paper_to_row(paper: Paper, key: str | None = None) -> Row:
    """The papers columns (COLUMNS order) for *paper*; *key* is its title key if known."""
    if key is None:
        key = fast_title_key(paper.title)
    return (
        paper.id,
        key,
        title_hash(key),
        paper.title,
        paper.abstract,
        _dumps(paper.authors),
        paper.published.isoformat() if paper.published else None,
        " ".join(paper.categories),
        paper.url_abs,
        paper.url_pdf,
        paper.url_code,
        paper.url_project,
        paper.url_hf,
        paper.source,
        paper.source_rank,
        paper.upvotes,
        paper.ai_summary,
        _dumps(paper.ai_keywords),
        paper.doi,
        paper.journal_ref,
    )


def _json_list(text: str | None) -> list[str]:
    if not text:
        return []
    value = json.loads(text)
    return [str(x) for x in value] if isinstance(value, list) else []


def row_to_paper(row: sqlite3.Row | Sequence[Any], offset: int = 0) -> Paper:
    """Inverse of :func:`paper_to_row`; *offset* is where the ``id`` column starts in *row*."""
    r = row[offset : offset + len(COLUMNS)]
    published = r[6]
    return Paper(
        id=r[0],
        title=r[3],
        abstract=r[4],
        authors=_json_list(r[5]),
        published=date.fromisoformat(published) if published else None,
        categories=r[7].split() if r[7] else [],
        url_abs=r[8],
        url_pdf=r[9],
        url_code=r[10],
        url_project=r[11],
        url_hf=r[12],
        source=r[13],
        source_rank=r[14],
        upvotes=r[15],
        ai_summary=r[16],
        ai_keywords=_json_list(r[17]),
        doi=r[18],
        journal_ref=r[19],
    )


Prepared = list[tuple[str, Row]]
"""Each paper's title key and row, computed ahead (:func:`prepare`) — e.g. in a worker thread."""


def prepare(papers: Sequence[Paper]) -> Prepared:
    """The title key and row of each paper: the pure-Python part of an upsert, thread-safe."""
    out: Prepared = []
    for paper in papers:
        key = fast_title_key(paper.title)
        out.append((key, paper_to_row(paper, key)))
    return out
