"""Alerts: subscriptions (a keyword query, or an author followed), what each matched, and
what each recipient was sent.

An alert remembers ``last_pid``: papers stored after it (higher row id) have not been checked
against it yet. Deliveries are keyed by recipient and paper, so nobody is sent the same paper
twice, whichever of their alerts matched it, and they feed the per-day cap.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from bot.store.database import Database
from bot.store.stamps import stamp

RecipientKind = Literal["user", "channel"]
AlertKind = Literal["keywords", "author"]
KEYWORDS: AlertKind = "keywords"
AUTHOR: AlertKind = "author"


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    guild_id: int
    user_id: int
    channel_id: int | None  # set: a channel alert posted there; None: a DM to user_id
    origin_channel_id: int
    query: str
    created_at: datetime
    paused_at: datetime | None
    paused_reason: str | None
    last_pid: int
    kind: AlertKind = KEYWORDS  # the query is words to look for, or an author's name

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    @property
    def recipient(self) -> tuple[RecipientKind, int]:
        if self.channel_id is not None:
            return ("channel", self.channel_id)
        return ("user", self.user_id)


def _ts(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(
        id=int(row["id"]),
        guild_id=int(row["guild_id"]),
        user_id=int(row["user_id"]),
        channel_id=None if row["channel_id"] is None else int(row["channel_id"]),
        origin_channel_id=int(row["origin_channel_id"]),
        query=str(row["query"]),
        created_at=_ts(row["created_at"]) or datetime.now(UTC),
        paused_at=_ts(row["paused_at"]),
        paused_reason=row["paused_reason"],
        last_pid=int(row["last_pid"]),
        kind=AUTHOR if row["kind"] == AUTHOR else KEYWORDS,
    )


@dataclass(frozen=True, slots=True)
class Match:
    pid: int
    id: str
    upvotes: int | None
    title: str
    authors: str  # as stored (a JSON array): only read for words
    abstract: str


class AlertRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- subscriptions ------------------------------------------------------------------------

    async def add(
        self,
        *,
        guild_id: int,
        user_id: int,
        query: str,
        origin_channel_id: int,
        channel_id: int | None = None,
        kind: AlertKind = KEYWORDS,
    ) -> tuple[Alert, bool]:
        """Subscribe; returns (alert, created). The same query (of the same kind) again
        resumes a paused alert.

        A new or resumed alert only sees papers stored from now on.
        """
        now = stamp()
        async with self.db.transaction() as conn:
            async with conn.execute("SELECT coalesce(max(pid), 0) FROM papers") as cur:
                row = await cur.fetchone()
            top = int(row[0]) if row else 0
            async with conn.execute(
                "SELECT id, paused_at FROM alerts WHERE guild_id = ? AND user_id = ? "
                "AND coalesce(channel_id, 0) = ? AND kind = ? AND query = ?",
                (guild_id, user_id, channel_id or 0, kind, query),
            ) as cur:
                existing = await cur.fetchone()
            if existing is None:
                cur2 = await conn.execute(
                    "INSERT INTO alerts(guild_id, user_id, channel_id, origin_channel_id, query, "
                    "created_at, last_pid, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (guild_id, user_id, channel_id, origin_channel_id, query, now, top, kind),
                )
                alert_id, created = int(cur2.lastrowid or 0), True
            else:
                alert_id, created = int(existing[0]), False
                if existing[1] is not None:
                    await conn.execute(
                        "UPDATE alerts SET paused_at = NULL, paused_reason = NULL, last_pid = ?, "
                        "origin_channel_id = ? WHERE id = ?",
                        (top, origin_channel_id, alert_id),
                    )
            async with conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)) as cur:
                fresh = await cur.fetchone()
        assert fresh is not None
        return _alert(fresh), created

    async def get(self, alert_id: int) -> Alert | None:
        row = await self.db.fetchone("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return None if row is None else _alert(row)

    async def for_member(self, guild_id: int, user_id: int) -> list[Alert]:
        """The member's alerts in a server: their DM alerts and the channel alerts they set."""
        rows = await self.db.fetchall(
            "SELECT * FROM alerts WHERE guild_id = ? AND user_id = ? ORDER BY id",
            (guild_id, user_id),
        )
        return [_alert(r) for r in rows]

    async def for_guild(self, guild_id: int, *, channels_only: bool = False) -> list[Alert]:
        sql = "SELECT * FROM alerts WHERE guild_id = ?"
        if channels_only:
            sql += " AND channel_id IS NOT NULL"
        rows = await self.db.fetchall(sql + " ORDER BY id", (guild_id,))
        return [_alert(r) for r in rows]

    async def count_for_member(self, guild_id: int, user_id: int) -> int:
        value = await self.db.fetchval(
            "SELECT count(*) FROM alerts WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return int(value or 0)

    async def remove(self, alert_id: int) -> bool:
        return await self.db.execute("DELETE FROM alerts WHERE id = ?", (alert_id,)) > 0

    async def active(self) -> list[Alert]:
        rows = await self.db.fetchall("SELECT * FROM alerts WHERE paused_at IS NULL ORDER BY id")
        return [_alert(r) for r in rows]

    async def pause(self, alert_ids: Iterable[int], reason: str) -> int:
        ids = list(alert_ids)
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        return await self.db.execute(
            f"UPDATE alerts SET paused_at = ?, paused_reason = ? "
            f"WHERE paused_at IS NULL AND id IN ({marks})",
            [stamp(), reason, *ids],
        )

    async def pause_dm_alerts(self, user_id: int, reason: str) -> list[Alert]:
        """Pause every active DM alert of *user_id*; returns those it paused."""
        async with (
            self.db.transaction() as conn,
            conn.execute(
                "UPDATE alerts SET paused_at = ?, paused_reason = ? "
                "WHERE user_id = ? AND channel_id IS NULL AND paused_at IS NULL RETURNING *",
                (stamp(), reason, user_id),
            ) as cur,
        ):
            rows = await cur.fetchall()
        return sorted((_alert(r) for r in rows), key=lambda a: a.id)

    async def resume_member(
        self, guild_id: int, user_id: int, *, keep_reasons: Sequence[str] = ()
    ) -> tuple[int, int]:
        """Resume the member's paused alerts in a server and, since DMs are per member (closed
        DMs pause them everywhere), their paused DM alerts in every other server too. From now
        on (no backlog); alerts paused for one of *keep_reasons* stay paused. Returns (resumed
        in this server, DM alerts resumed elsewhere)."""
        async with (
            self.db.transaction() as conn,
            conn.execute(
                "UPDATE alerts SET paused_at = NULL, paused_reason = NULL, "
                "last_pid = (SELECT coalesce(max(pid), 0) FROM papers) "
                "WHERE user_id = ? AND paused_at IS NOT NULL "
                "AND (guild_id = ? OR channel_id IS NULL) "
                "AND coalesce(paused_reason, '') NOT IN (SELECT value FROM json_each(?)) "
                "RETURNING guild_id",
                (user_id, guild_id, json.dumps(list(keep_reasons))),
            ) as cur,
        ):
            rows = list(await cur.fetchall())
        here = sum(1 for r in rows if int(r[0]) == guild_id)
        return here, len(rows) - here

    # -- matching and deliveries ------------------------------------------------------------

    async def match(
        self,
        fts_query: str | None,
        *,
        after_pid: int,
        upto_pid: int,
        published_since: date | None = None,
        sources: Sequence[str] = (),
        limit: int = 500,
    ) -> list[Match]:
        """Papers stored in (after_pid, upto_pid] whose text matches an FTS5 expression (None:
        every one), optionally only those published since a day and imported from one of
        *sources*; in pid order, at most *limit*."""
        params: list[object]
        if fts_query is not None:
            sql = (
                "SELECT p.pid, p.id, p.upvotes, p.title, p.authors, p.abstract "
                "FROM papers_fts JOIN papers AS p ON p.pid = papers_fts.rowid "
                "WHERE papers_fts MATCH ? AND papers_fts.rowid > ? AND papers_fts.rowid <= ?"
            )
            params = [fts_query, after_pid, upto_pid]
            if sources:
                sql += (
                    " AND EXISTS (SELECT 1 FROM paper_sources AS s WHERE s.pid = p.pid "
                    "AND s.source IN (SELECT value FROM json_each(?)))"
                )
                params.append(json.dumps(list(sources)))
        elif sources:
            # Through the index on paper_sources(source): a bulk load of another source in
            # the range costs nothing here.
            sql = (
                "SELECT p.pid, p.id, p.upvotes, p.title, p.authors, p.abstract FROM papers AS p "
                "WHERE p.pid IN (SELECT s.pid FROM paper_sources AS s "
                "WHERE s.source IN (SELECT value FROM json_each(?)) AND s.pid > ? AND s.pid <= ?)"
            )
            params = [json.dumps(list(sources)), after_pid, upto_pid]
        else:
            sql = (
                "SELECT p.pid, p.id, p.upvotes, p.title, p.authors, p.abstract FROM papers AS p "
                "WHERE p.pid > ? AND p.pid <= ?"
            )
            params = [after_pid, upto_pid]
        if published_since is not None:
            sql += " AND (p.published IS NULL OR p.published >= ?)"
            params.append(published_since.isoformat())
        sql += " ORDER BY p.pid LIMIT ?"
        params.append(limit)
        rows = await self.db.fetchall(sql, params)
        return [
            Match(
                int(r[0]),
                str(r[1]),
                None if r[2] is None else int(r[2]),
                str(r[3]),
                str(r[4] or ""),
                str(r[5] or ""),
            )
            for r in rows
        ]

    async def delivered(self, kind: RecipientKind, target_id: int, pids: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(pids), 500):
            chunk = list(pids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = await self.db.fetchall(
                f"SELECT pid FROM alert_deliveries WHERE kind = ? AND target_id = ? "
                f"AND pid IN ({marks})",
                [kind, target_id, *chunk],
            )
            found.update(int(r[0]) for r in rows)
        return found

    async def delivered_since(self, kind: RecipientKind, target_id: int, since: datetime) -> int:
        """How many papers the recipient was sent since *since* (the daily cap)."""
        value = await self.db.fetchval(
            "SELECT count(*) FROM alert_deliveries WHERE kind = ? AND target_id = ? "
            "AND delivered_at >= ?",
            (kind, target_id, since.astimezone(UTC).isoformat(timespec="seconds")),
        )
        return int(value or 0)

    async def record_delivery(
        self,
        kind: RecipientKind,
        target_id: int,
        sent: Sequence[tuple[int, int]],
        *,
        checked: Mapping[int, int],
        at: datetime | None = None,
    ) -> None:
        """In one transaction: remember the (pid, alert id) pairs sent and move each alert's
        watermark (alert id -> papers checked up to this pid; it never moves back)."""
        when = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
        async with self.db.transaction() as conn:
            await conn.executemany(
                "INSERT OR IGNORE INTO alert_deliveries(kind, target_id, pid, alert_id, "
                "delivered_at) VALUES (?, ?, ?, ?, ?)",
                [(kind, target_id, pid, alert_id, when) for pid, alert_id in sent],
            )
            await conn.executemany(
                "UPDATE alerts SET last_pid = max(last_pid, ?) WHERE id = ?",
                [(upto, alert_id) for alert_id, upto in checked.items()],
            )

    async def forget_deliveries(
        self, kind: RecipientKind, target_id: int, pids: Sequence[int]
    ) -> None:
        """Take back deliveries recorded before a send that did not show these papers."""
        if pids:
            await self.db.executemany(
                "DELETE FROM alert_deliveries WHERE kind = ? AND target_id = ? AND pid = ?",
                [(kind, target_id, pid) for pid in pids],
            )

    async def advance(self, checked: Mapping[int, int]) -> None:
        """Move alerts' watermarks without sending anything (alert id -> checked up to)."""
        if checked:
            await self.db.executemany(
                "UPDATE alerts SET last_pid = max(last_pid, ?) WHERE id = ?",
                [(upto, alert_id) for alert_id, upto in checked.items()],
            )
