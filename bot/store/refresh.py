"""Where each live source left off (a per-source cursor), its last run, and HTTP validators.

The refresher (``bot/fetch``) reads a source's cursor before a run and moves it forward one
completed day at a time, so a run that stops half-way resumes from the last day it finished.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import aiosqlite

from bot.store.database import Database
from bot.store.leases import process_gone
from bot.store.stamps import stamp

log = logging.getLogger(__name__)


def _parse_ts(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Validators:
    """What a server said about a URL last time: send back as If-None-Match / If-Modified-Since."""

    etag: str | None = None
    last_modified: str | None = None
    items: int | None = None


@dataclass(frozen=True, slots=True)
class SourceState:
    source: str
    cursor: date | None
    last_run_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_new: int
    last_updated: int
    last_failed: int


class RefreshRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- cursors and run results -----------------------------------------------------------

    async def state(self, source: str) -> SourceState | None:
        row = await self.db.fetchone("SELECT * FROM refresh_state WHERE source = ?", (source,))
        if row is None:
            return None
        cursor = row["cursor"]
        return SourceState(
            source=source,
            cursor=date.fromisoformat(cursor) if cursor else None,
            last_run_at=_parse_ts(row["last_run_at"]),
            last_success_at=_parse_ts(row["last_success_at"]),
            last_error=row["last_error"],
            last_new=int(row["last_new"]),
            last_updated=int(row["last_updated"]),
            last_failed=int(row["last_failed"]),
        )

    async def cursor(self, source: str) -> date | None:
        state = await self.state(source)
        return state.cursor if state else None

    async def advance(
        self,
        source: str,
        day: date | None,
        validators: Mapping[str, Validators] | None = None,
        *,
        conn: aiosqlite.Connection | None = None,
    ) -> None:
        """Record *day* as fully imported (the cursor never moves back) and the validators
        of the URLs whose answers are now stored. With *day* None only the validators are
        saved (a day stored after an earlier day failed). Pass *conn* to join the caller's
        transaction (the day's papers and its cursor commit together)."""
        if conn is None:
            async with self.db.transaction() as tx:
                await self._advance(tx, source, day, validators)
        else:
            await self._advance(conn, source, day, validators)

    async def _advance(
        self,
        conn: aiosqlite.Connection,
        source: str,
        day: date | None,
        validators: Mapping[str, Validators] | None,
    ) -> None:
        if day is not None:
            await conn.execute(
                "INSERT INTO refresh_state(source, cursor) VALUES (?, ?) "
                "ON CONFLICT(source) DO UPDATE SET cursor = "
                "CASE WHEN cursor IS NULL OR cursor < excluded.cursor "
                "THEN excluded.cursor ELSE cursor END",
                (source, day.isoformat()),
            )
        if validators:
            now = stamp()
            await conn.executemany(
                "INSERT INTO http_cache(url, etag, last_modified, items, checked_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET "
                "etag = excluded.etag, last_modified = excluded.last_modified, "
                "items = excluded.items, checked_at = excluded.checked_at",
                [(url, v.etag, v.last_modified, v.items, now) for url, v in validators.items()],
            )

    async def acquire(self, source: str, owner: str, until: datetime) -> bool:
        """Take the run lease of *source* until *until*, unless another run holds it (the
        bot and ``python -m bot fetch`` are separate processes sharing the database).
        An expired lease is taken over, and so is one whose holder provably no longer runs
        (:func:`~bot.store.leases.process_gone`: a run killed on this machine), at once."""
        now = stamp()
        async with self.db.transaction() as conn:
            await conn.execute("INSERT OR IGNORE INTO refresh_state(source) VALUES (?)", (source,))
            async with conn.execute(
                "SELECT running_until, running_owner FROM refresh_state WHERE source = ?",
                (source,),
            ) as cur:
                row = await cur.fetchone()
            held_until, holder = (None, None) if row is None else (row[0], row[1])
            if held_until is not None and str(held_until) >= now:
                if holder is None or holder == owner or not process_gone(str(holder)):
                    return False
                log.warning(
                    "refresh %s: taking over the lease of %s, which no longer runs",
                    source,
                    holder,
                )
            await conn.execute(
                "UPDATE refresh_state SET running_until = ?, running_owner = ? WHERE source = ?",
                (until.astimezone(UTC).isoformat(timespec="seconds"), owner, source),
            )
            return True

    async def release(self, source: str, owner: str) -> None:
        await self.db.execute(
            "UPDATE refresh_state SET running_until = NULL, running_owner = NULL "
            "WHERE source = ? AND running_owner = ?",
            (source, owner),
        )

    async def record_run(
        self,
        source: str,
        *,
        ok: bool,
        new: int,
        updated: int,
        failed: int,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Store the outcome of a run; a clean one also counts as the last success."""
        when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        await self.db.execute(
            "INSERT INTO refresh_state(source, last_run_at, last_success_at, last_error, "
            "last_new, last_updated, last_failed) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(source) DO UPDATE SET last_run_at = excluded.last_run_at, "
            "last_success_at = COALESCE(excluded.last_success_at, last_success_at), "
            "last_error = excluded.last_error, last_new = excluded.last_new, "
            "last_updated = excluded.last_updated, last_failed = excluded.last_failed",
            (source, when, when if ok else None, error, new, updated, failed),
        )

    async def last_success(self) -> dict[str, datetime]:
        """When each source last ran cleanly (for ``/about``); sources never run are absent."""
        rows = await self.db.fetchall(
            "SELECT source, last_success_at FROM refresh_state "
            "WHERE last_success_at IS NOT NULL ORDER BY source"
        )
        found: dict[str, datetime] = {}
        for row in rows:
            ts = _parse_ts(row["last_success_at"])
            if ts is not None:
                found[str(row["source"])] = ts
        return found

    # -- HTTP validators ----------------------------------------------------------------------

    async def validators(self, urls: Iterable[str]) -> dict[str, Validators]:
        wanted = list(dict.fromkeys(urls))
        found: dict[str, Validators] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = await self.db.fetchall(
                f"SELECT url, etag, last_modified, items FROM http_cache WHERE url IN ({marks})",
                chunk,
            )
            for row in rows:
                found[str(row["url"])] = Validators(row["etag"], row["last_modified"], row["items"])
        return found

    async def get_validators(self, url: str) -> Validators | None:
        return (await self.validators([url])).get(url)
