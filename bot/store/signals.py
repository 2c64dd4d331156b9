"""The trending inputs of papers (see :mod:`bot.ranking`): what each paper's score is made of,
and the pools of papers that can top the score.

A pool is the union of the best *per_signal* papers by each signal (source rank, upvotes,
publication date, newest added): any paper outside it scores lower than some paper inside.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from bot.store.database import Database
from bot.store.stamps import parse_ts

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PaperSignals:
    """The trending inputs of one paper (see bot.ranking)."""

    pid: int
    id: str
    source_rank: int | None
    upvotes: int | None
    published: date | None
    added_at: datetime | None


_COLUMNS = "p.pid, p.id, p.source_rank, p.upvotes, p.published, p.added_at"

# Never posted to the channel ?1 (neither as a daily card nor in a weekly list), by row id
# or, for a paper that left the store and came back under a new one, by its public id (as
# ScheduleRepo.posted_pids).
_UNPOSTED = (
    "NOT EXISTS (SELECT 1 FROM daily_runs r WHERE r.channel_id = ?1 AND r.pid = papers.pid)"
    " AND NOT EXISTS (SELECT 1 FROM run_papers l WHERE l.channel_id = ?1 AND l.pid = papers.pid)"
    " AND NOT EXISTS (SELECT 1 FROM daily_runs r WHERE r.channel_id = ?1"
    " AND r.paper_id = papers.id AND (r.state = 'sent' OR r.verify))"
    " AND NOT EXISTS (SELECT 1 FROM run_papers l WHERE l.channel_id = ?1"
    " AND l.paper_id = papers.id)"
)


def _pool_sql(unposted: bool) -> str:
    """The pool query: ``?2`` papers by each signal (``?1`` the channel when *unposted*)."""
    extra = f" AND {_UNPOSTED}" if unposted else ""
    every = f" WHERE {_UNPOSTED}" if unposted else ""
    return (
        f"SELECT {_COLUMNS} FROM papers p WHERE p.pid IN ("
        f" SELECT pid FROM (SELECT pid FROM papers WHERE source_rank IS NOT NULL{extra}"
        "  ORDER BY source_rank LIMIT ?2)"
        f" UNION SELECT pid FROM (SELECT pid FROM papers WHERE upvotes IS NOT NULL{extra}"
        "  ORDER BY upvotes DESC LIMIT ?2)"
        f" UNION SELECT pid FROM (SELECT pid FROM papers WHERE published IS NOT NULL{extra}"
        "  ORDER BY published DESC LIMIT ?2)"
        f" UNION SELECT pid FROM (SELECT pid FROM papers{every} ORDER BY pid DESC LIMIT ?2))"
    )


def _signals(row: sqlite3.Row) -> PaperSignals:
    published: date | None = None
    if row["published"]:
        try:
            published = date.fromisoformat(str(row["published"])[:10])
        except ValueError:
            published = None
    try:
        added = parse_ts(row["added_at"])
    except ValueError:
        added = None
    return PaperSignals(
        pid=int(row["pid"]),
        id=str(row["id"]),
        source_rank=row["source_rank"],
        upvotes=row["upvotes"],
        published=published,
        added_at=added,
    )


class SignalRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def pool(self, per_signal: int) -> list[PaperSignals]:
        """The papers that can top the trending score: the best *per_signal* by each signal."""
        rows = await self.db.fetchall(_pool_sql(unposted=False), (None, per_signal))
        return [_signals(r) for r in rows]

    async def unposted_pool(self, channel_id: int, per_signal: int) -> list[PaperSignals]:
        """Like :meth:`pool`, among papers never posted to *channel_id*."""
        rows = await self.db.fetchall(_pool_sql(unposted=True), (channel_id, per_signal))
        return [_signals(r) for r in rows]

    async def of(self, papers: Sequence[str | int]) -> list[PaperSignals]:
        """Signals of these papers, by public id (str) or row id (int); unknown ones are left
        out, each paper once, in no particular order."""
        pids = [p for p in papers if isinstance(p, int)]
        ids = [p for p in papers if isinstance(p, str)]
        if not pids and not ids:
            return []
        rows = await self.db.fetchall(
            f"SELECT {_COLUMNS} FROM papers p WHERE p.pid IN ("
            " SELECT value FROM json_each(?1)"
            " UNION SELECT pid FROM papers WHERE id IN (SELECT value FROM json_each(?2)))",
            (json.dumps(pids), json.dumps(ids)),
        )
        return [_signals(r) for r in rows]
