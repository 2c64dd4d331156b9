"""For you: every query of personal recommendations (bot/recs) and their digest.

A member's profile is keyed by user id alone (it follows them across servers). Its signals
are rows of other tables too: ⭐ ``saves`` and 👍 ``votes`` (any server) are the positives, 👎
``rec_dismissals`` the negatives. ``rec_shown`` holds every paper a member was shown as a pick:
those, and anything saved, voted or dismissed, are never picked again.

The digest is the daily runner's exactly-once machine for one DM per member and local day (or
ISO week): a ``rec_digest_runs`` row ``due -> sending -> sent``. The papers of a digest are
written to ``rec_shown`` (with the run's key) in the same transaction that enters ``sending``,
before Discord is called; a run that never went out releases them. :class:`RecsRepo` is the
:class:`bot.store.runs.RunLedger` of those runs (the queries shared with the daily posts).

The reads the recommender makes run in its reader thread, on its connection: the plain
functions at the bottom (like :mod:`bot.store.vectors`).

Time values are UTC ISO strings with second precision (:func:`bot.store.stamps.ts`).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.store.database import Database
from bot.store.marks import toggle_mark
from bot.store.runs import LeasedRun, RunLedger, RunTable
from bot.store.stamps import parse_ts, ts

# Digest run states
DUE = "due"
SENT = "sent"
EMPTY = "empty"  # nothing new to send that day: no DM
BLOCKED = "blocked"  # the member's DMs are closed: the digest is paused
FAILED = "failed"
PAUSE_DMS_CLOSED = "dms-closed"
DAILY, WEEKLY = "daily", "weekly"

_RUNS = RunTable(
    table="rec_digest_runs",
    key="user_id",
    pending=DUE,
    parent="rec_members",
    ready="digest = 1 AND paused_reason IS NULL",
)


@dataclass(frozen=True, slots=True)
class Member:
    """A member's For you row: their profile's start and their digest settings."""

    user_id: int
    reset_at: datetime | None
    digest: bool
    cadence: str
    weekday: int | None
    local_time: str | None
    tz: str | None
    next_run: datetime | None
    paused_reason: str | None
    origin_channel_id: int | None

    @property
    def weekly(self) -> bool:
        return self.cadence == WEEKLY

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Member:
        return cls(
            user_id=int(row["user_id"]),
            reset_at=parse_ts(row["reset_at"]),
            digest=bool(row["digest"]),
            cadence=WEEKLY if row["cadence"] == WEEKLY else DAILY,
            weekday=None if row["weekday"] is None else int(row["weekday"]),
            local_time=row["local_time"],
            tz=row["tz"],
            next_run=parse_ts(row["next_run"]),
            paused_reason=row["paused_reason"],
            origin_channel_id=row["origin_channel_id"],
        )


@dataclass(frozen=True, slots=True)
class DigestRun(LeasedRun):
    """One digest DM to one member (see the module docstring)."""

    user_id: int

    @property
    def key(self) -> int:
        return self.user_id

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DigestRun:
        return cls(**LeasedRun.columns(row), user_id=int(row["user_id"]))


@dataclass(frozen=True, slots=True)
class ResetCounts:
    """What ``/foryou reset`` set aside: signals that no longer shape the picks."""

    saves: int
    votes: int
    dismissals: int


@dataclass(frozen=True, slots=True)
class ForgetCounts:
    """What ``/foryou forget`` deleted, table by table."""

    saves: int
    votes: int
    dismissals: int
    shown: int
    digests: int  # digest runs (the DMs' records)
    profile: bool  # the member's row: profile start and digest settings

    @property
    def total(self) -> int:
        return (
            self.saves
            + self.votes
            + self.dismissals
            + self.shown
            + self.digests
            + int(self.profile)
        )


class RecsRepo(RunLedger[DigestRun, Member]):
    """For you's queries: signals, the digest's settings, and its runs (the shared
    :class:`RunLedger` queries, and the rest)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, _RUNS, DigestRun.from_row, Member.from_row)

    # -- signals -------------------------------------------------------------------------

    async def toggle_dismiss(self, user_id: int, paper_id: str, now: datetime) -> bool:
        """Mark the paper "not for me", or take that back. Returns dismissed now.
        Unknown paper: PaperNotFound."""
        async with self.db.transaction() as conn:
            dismissed, _ = await toggle_mark(
                conn, "rec_dismissals", {"user_id": user_id}, paper_id, ts(now)
            )
        return dismissed

    async def mark_shown(self, user_id: int, pids: Sequence[int], now: datetime) -> int:
        """Record papers shown to the member as picks; returns how many were new."""
        if not pids:
            return 0
        async with self.db.transaction() as conn:
            before = conn.total_changes
            await conn.executemany(
                "INSERT OR IGNORE INTO rec_shown(user_id, pid, shown_at) "
                "SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM papers WHERE pid = ?)",
                [(user_id, pid, ts(now), pid) for pid in dict.fromkeys(pids)],
            )
            return conn.total_changes - before

    async def member(self, user_id: int) -> Member | None:
        row = await self.db.fetchone("SELECT * FROM rec_members WHERE user_id = ?", (user_id,))
        return Member.from_row(row) if row else None

    async def recent_shown(self, user_id: int, limit: int) -> list[tuple[str, str]]:
        """(id, title) of the papers shown to the member as picks, the latest first."""
        rows = await self.db.fetchall(
            "SELECT p.id, p.title FROM rec_shown s JOIN papers p USING (pid) "
            "WHERE s.user_id = ? ORDER BY s.shown_at DESC, s.position, p.pid DESC LIMIT ?",
            (user_id, limit),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    async def reset(self, user_id: int, now: datetime) -> ResetCounts:
        """Start the member's profile over at *now*: their saves, votes and dismissals stay
        (and stay out of their picks) but no longer shape them. Returns what was set aside."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT reset_at FROM rec_members WHERE user_id = ?", (user_id,)
            ) as cur:
                row = await cur.fetchone()
            since = row[0] if row and row[0] else ""
            counts = []
            for sql in (
                "SELECT count(*) FROM saves WHERE user_id = ? AND created_at >= ?",
                "SELECT count(*) FROM votes WHERE user_id = ? AND created_at >= ?",
                "SELECT count(*) FROM rec_dismissals WHERE user_id = ? AND created_at >= ?",
            ):
                async with conn.execute(sql, (user_id, since)) as cur:
                    found = await cur.fetchone()
                counts.append(int(found[0]) if found else 0)
            await conn.execute(
                "INSERT INTO rec_members(user_id, reset_at, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET "
                "reset_at = excluded.reset_at, updated_at = excluded.updated_at",
                (user_id, stamp, stamp, stamp),
            )
        return ResetCounts(*counts)

    async def forget(self, user_id: int) -> ForgetCounts:
        """Delete every row PaperBot keeps of the member for For you: saves, votes (in every
        server), dismissals, papers shown, digest runs, and their profile row."""
        counts: list[int] = []
        async with self.db.transaction() as conn:
            for table in ("saves", "votes", "rec_dismissals", "rec_shown", "rec_digest_runs"):
                cur = await conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))
                counts.append(cur.rowcount)
            cur = await conn.execute("DELETE FROM rec_members WHERE user_id = ?", (user_id,))
            profile = cur.rowcount > 0
        saves, votes, dismissals, shown, digests = counts
        return ForgetCounts(saves, votes, dismissals, shown, digests, profile)

    # -- the digest's settings -------------------------------------------------------------

    async def set_digest(
        self,
        user_id: int,
        *,
        local_time: str,
        tz: str,
        cadence: str,
        weekday: int | None,
        next_run: datetime,
        origin_channel_id: int | None,
        now: datetime,
    ) -> Member:
        """Turn the member's digest on (or change it); a pause (closed DMs) is lifted."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO rec_members(user_id, digest, cadence, weekday, local_time, tz, "
                "next_run, paused_reason, origin_channel_id, created_at, updated_at) "
                "VALUES (?, 1, ?, ?, ?, ?, ?, NULL, ?, ?, ?) ON CONFLICT(user_id) DO UPDATE SET "
                "digest = 1, cadence = excluded.cadence, weekday = excluded.weekday, "
                "local_time = excluded.local_time, tz = excluded.tz, "
                "next_run = excluded.next_run, paused_reason = NULL, "
                "origin_channel_id = excluded.origin_channel_id, updated_at = excluded.updated_at",
                (
                    user_id,
                    cadence,
                    weekday,
                    local_time,
                    tz,
                    ts(next_run),
                    origin_channel_id,
                    stamp,
                    stamp,
                ),
            )
            async with conn.execute(
                "SELECT * FROM rec_members WHERE user_id = ?", (user_id,)
            ) as cur:
                row = await cur.fetchone()
        assert row is not None
        return Member.from_row(row)

    async def digest_off(self, user_id: int, now: datetime) -> bool:
        """Turn the digest off; returns whether it was on. Open runs are dropped (and their
        papers released) unless one may have gone out already."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE rec_members SET digest = 0, next_run = NULL, paused_reason = NULL, "
                "updated_at = ? WHERE user_id = ? AND digest = 1",
                (stamp, user_id),
            )
            was_on = cur.rowcount > 0
            await conn.execute(
                "DELETE FROM rec_shown WHERE user_id = ? AND run_key IN (SELECT run_key FROM "
                f"rec_digest_runs WHERE user_id = ? AND {self.open_sql} AND NOT verify)",
                (user_id, user_id),
            )
            await conn.execute(
                "UPDATE rec_digest_runs SET state = ?, owner = NULL, error = ?, updated_at = ? "
                f"WHERE user_id = ? AND {self.open_sql} AND NOT verify",
                (FAILED, "the digest was turned off", stamp, user_id),
            )
        return was_on

    # -- the digest's runs ------------------------------------------------------------------

    async def runs_for(self, user_id: int) -> list[DigestRun]:
        rows = await self.db.fetchall(
            "SELECT * FROM rec_digest_runs WHERE user_id = ? ORDER BY created_at, run_key",
            (user_id,),
        )
        return [DigestRun.from_row(r) for r in rows]

    async def begin_send(self, run: DigestRun, pids: Sequence[int], now: datetime) -> bool:
        """Reserve the digest's papers and enter ``sending`` BEFORE Discord is called.

        False (nothing written) when one of the papers was shown to the member meanwhile
        (a /foryou card): pick again. Only from ``due``: a run closed meanwhile (the digest
        turned off, the member forgotten) raises :class:`RunClosed`, nothing written."""
        stamp = ts(now)
        try:
            async with self.db.transaction() as conn:
                await conn.executemany(
                    "INSERT INTO rec_shown(user_id, pid, shown_at, run_key, position) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(run.user_id, pid, stamp, run.run_key, i) for i, pid in enumerate(pids, 1)],
                )
                # (RunClosed, the digest turned off meanwhile, rolls the papers back too)
                await self.begin_sending(run, now, conn=conn, error=None)
        except sqlite3.IntegrityError:
            return False  # the transaction was rolled back
        return True

    async def run_pids(self, run: DigestRun) -> list[int]:
        """The papers reserved for the run, in their order."""
        rows = await self.db.fetchall(
            "SELECT pid FROM rec_shown WHERE user_id = ? AND run_key = ? ORDER BY position",
            (run.user_id, run.run_key),
        )
        return [int(r[0]) for r in rows]

    async def mark_sent(self, run: DigestRun, message_id: int, now: datetime) -> None:
        await self.close(run, SENT, now, message_id=message_id, error=None)

    async def mark_empty(self, run: DigestRun, now: datetime) -> None:
        await self.close(run, EMPTY, now, message_id=None, error="nothing new to send")

    async def mark_blocked(self, run: DigestRun, *, reason: str, now: datetime) -> bool:
        """The member's DMs are closed: park the run, release its papers (nothing went out)
        and pause the digest. Returns whether the digest was paused now (not before)."""
        async with self.db.transaction() as conn:
            await _free_papers(conn, run)
            await self.close(run, BLOCKED, now, conn=conn, error=reason)
            cur = await conn.execute(
                "UPDATE rec_members SET paused_reason = ?, updated_at = ? "
                "WHERE user_id = ? AND digest = 1 AND paused_reason IS NULL",
                (PAUSE_DMS_CLOSED, ts(now), run.user_id),
            )
            return cur.rowcount > 0

    async def mark_failed(
        self, run: DigestRun, *, error: str, release: bool, now: datetime
    ) -> None:
        """Give up on the run; with *release*, its papers are freed (it did not go out)."""
        async with self.db.transaction() as conn:
            if release:
                await _free_papers(conn, run)
            await self.close(run, FAILED, now, conn=conn, error=error)

    async def restart_run(self, run: DigestRun, now: datetime) -> DigestRun:
        """A ``sending`` run that did not go out and lost a paper: back to ``due``, papers
        released, to be picked again."""
        async with self.db.transaction() as conn:
            await _free_papers(conn, run)
            await self.update(run, now, conn=conn, state=DUE, verify=0)
        return dataclasses.replace(run, state=DUE, verify=False)


async def _free_papers(conn: aiosqlite.Connection, run: DigestRun) -> None:
    """The run's papers can be picked again (it did not go out)."""
    await conn.execute(
        "DELETE FROM rec_shown WHERE user_id = ? AND run_key = ?", (run.user_id, run.run_key)
    )


# -- reads for the recommender (its reader thread, one snapshot) ----------------------------


@dataclass(frozen=True, slots=True)
class SignalRows:
    """A member's signals as stored. Positives and negatives count from ``reset_at`` on;
    ``excluded`` is every paper they saved, voted, dismissed or were shown, ever."""

    positives: list[int]  # saved or voted, most recent first
    negatives: list[int]  # dismissed, most recent first
    excluded: set[int]
    reset_at: datetime | None
    saves: int  # counted positives by kind (a paper saved and voted counts in both)
    votes: int


def member_signals(conn: sqlite3.Connection, user_id: int, limit: int) -> SignalRows:
    """The member's signals (at most *limit* of each kind, the most recent)."""
    row = conn.execute("SELECT reset_at FROM rec_members WHERE user_id = ?", (user_id,)).fetchone()
    since = str(row[0]) if row and row[0] else ""
    kinds: dict[int, set[str]] = {}
    latest: dict[int, str] = {}
    for kind, sql in (
        ("save", "SELECT pid, created_at FROM saves WHERE user_id = ? AND created_at >= ?"),
        ("vote", "SELECT pid, created_at FROM votes WHERE user_id = ? AND created_at >= ?"),
    ):
        for pid, at in conn.execute(sql, (user_id, since)):
            kinds.setdefault(int(pid), set()).add(kind)
            latest[int(pid)] = max(latest.get(int(pid), ""), str(at))
    positives = sorted(latest, key=lambda p: (latest[p], p), reverse=True)[:limit]
    negatives = [
        int(r[0])
        for r in conn.execute(
            "SELECT pid FROM rec_dismissals WHERE user_id = ? AND created_at >= ? "
            "ORDER BY created_at DESC, pid DESC LIMIT ?",
            (user_id, since, limit),
        )
    ]
    excluded = {
        int(r[0])
        for r in conn.execute(
            "SELECT pid FROM saves WHERE user_id = ?1 UNION SELECT pid FROM votes WHERE "
            "user_id = ?1 UNION SELECT pid FROM rec_dismissals WHERE user_id = ?1 "
            "UNION SELECT pid FROM rec_shown WHERE user_id = ?1",
            (user_id,),
        )
    }
    return SignalRows(
        positives=positives,
        negatives=negatives,
        excluded=excluded,
        reset_at=parse_ts(since) if since else None,
        saves=sum("save" in k for k in kinds.values()),
        votes=sum("vote" in k for k in kinds.values()),
    )


def pool_stamp(conn: sqlite3.Connection) -> tuple[int, int]:
    """(highest pid with a vector, highest vector seq): when either moves, the newest vectors
    changed (papers arrived, or a paper's text changed and its vector was made again)."""
    row = conn.execute(
        "SELECT (SELECT coalesce(max(pid), 0) FROM paper_vectors), "
        "(SELECT coalesce(max(seq), 0) FROM paper_vectors)"
    ).fetchone()
    return int(row[0]), int(row[1])


def newest_vectors(conn: sqlite3.Connection, limit: int) -> tuple[list[int], bytes]:
    """The pids (newest first) and int8 vectors, concatenated, of the *limit* papers added
    last among those with a vector."""
    pids: list[int] = []
    chunks: list[bytes] = []
    for pid, vec in conn.execute(
        "SELECT pid, vec FROM paper_vectors ORDER BY pid DESC LIMIT ?", (limit,)
    ):
        pids.append(int(pid))
        chunks.append(bytes(vec))
    return pids, b"".join(chunks)


@dataclass(frozen=True, slots=True)
class PaperText:
    pid: int
    id: str
    title: str
    abstract: str


def paper_texts(conn: sqlite3.Connection, pids: Sequence[int]) -> dict[int, PaperText]:
    if not pids:
        return {}
    rows = conn.execute(
        "SELECT pid, id, title, abstract FROM papers WHERE pid IN (SELECT value FROM json_each(?))",
        (json.dumps([int(p) for p in pids]),),
    ).fetchall()
    return {int(r[0]): PaperText(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows}


def pid_of(conn: sqlite3.Connection, paper_id: str) -> int | None:
    row = conn.execute("SELECT pid FROM papers WHERE id = ?", (paper_id,)).fetchone()
    return None if row is None else int(row[0])


@dataclass(frozen=True, slots=True)
class PaperFlags:
    """What the member did with one paper (any time, resets aside)."""

    saved: bool
    voted: bool
    dismissed: bool
    shown: bool


def paper_flags(conn: sqlite3.Connection, user_id: int, pid: int) -> PaperFlags:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM saves WHERE user_id = ?1 AND pid = ?2), "
        "EXISTS (SELECT 1 FROM votes WHERE user_id = ?1 AND pid = ?2), "
        "EXISTS (SELECT 1 FROM rec_dismissals WHERE user_id = ?1 AND pid = ?2), "
        "EXISTS (SELECT 1 FROM rec_shown WHERE user_id = ?1 AND pid = ?2)",
        (user_id, pid),
    ).fetchone()
    return PaperFlags(*(bool(v) for v in row))
