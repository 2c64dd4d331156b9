"""For you: every query of personal recommendations (bot/recs) and their digest.

A member's profile is keyed by user id alone (it follows them across servers). Its signals
are rows of other tables too: ⭐ ``saves`` and 👍 ``votes`` (any server) are the positives, 👎
``rec_dismissals`` the negatives. ``rec_shown`` holds every paper a member was shown as a pick:
those, and anything saved, voted or dismissed, are never picked again.

The digest is the daily runner's exactly-once machine for one DM per member and local day (or
ISO week): a ``rec_digest_runs`` row ``due -> sending -> sent``. The papers of a digest are
written to ``rec_shown`` (with the run's key) in the same transaction that enters ``sending``,
before Discord is called; a run that never went out releases them.

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
from datetime import datetime, timedelta

import aiosqlite

from bot.store.database import Database
from bot.store.marks import toggle_mark
from bot.store.stamps import parse_ts, ts

# Digest run states
DUE = "due"
SENDING = "sending"
SENT = "sent"
EMPTY = "empty"  # nothing new to send that day: no DM
BLOCKED = "blocked"  # the member's DMs are closed: the digest is paused
FAILED = "failed"
_OPEN_SQL = "state IN ('due', 'sending')"  # literal, so the partial index is used
PAUSE_DMS_CLOSED = "dms-closed"
DAILY, WEEKLY = "daily", "weekly"


def _req_ts(value: str) -> datetime:
    parsed = parse_ts(value)
    assert parsed is not None
    return parsed


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
class DigestRun:
    user_id: int
    run_key: str
    state: str
    nonce: str
    deadline: datetime
    next_attempt: datetime
    owner: str | None
    attempts: int
    attempt_at: datetime | None
    verify: bool
    message_id: int | None
    error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DigestRun:
        return cls(
            user_id=int(row["user_id"]),
            run_key=str(row["run_key"]),
            state=str(row["state"]),
            nonce=str(row["nonce"]),
            deadline=_req_ts(row["deadline"]),
            next_attempt=_req_ts(row["next_attempt"]),
            owner=row["owner"],
            attempts=int(row["attempts"]),
            attempt_at=parse_ts(row["attempt_at"]),
            verify=bool(row["verify"]),
            message_id=row["message_id"],
            error=row["error"],
        )


@dataclass(frozen=True, slots=True)
class NewDigest:
    """A due member's outcome for :meth:`RecsRepo.open_runs`: their next look, and the run
    to create (``run_key`` None: the due time was on an earlier local day, nothing to send)."""

    user_id: int
    expected_next_run: datetime
    next_run: datetime
    run_key: str | None = None
    nonce: str = ""
    deadline: datetime | None = None


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


class RecsRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

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
                f"rec_digest_runs WHERE user_id = ? AND {_OPEN_SQL} AND NOT verify)",
                (user_id, user_id),
            )
            await conn.execute(
                "UPDATE rec_digest_runs SET state = ?, owner = NULL, error = ?, updated_at = ? "
                f"WHERE user_id = ? AND {_OPEN_SQL} AND NOT verify",
                (FAILED, "the digest was turned off", stamp, user_id),
            )
        return was_on

    # -- the digest's runs ------------------------------------------------------------------

    async def due(self, now: datetime, limit: int) -> list[Member]:
        rows = await self.db.fetchall(
            "SELECT * FROM rec_members WHERE digest = 1 AND paused_reason IS NULL "
            "AND next_run <= ? ORDER BY next_run LIMIT ?",
            (ts(now), limit),
        )
        return [Member.from_row(r) for r in rows]

    async def next_wakeup(self) -> datetime | None:
        """The earliest instant the digest runner has something to do."""
        row = await self.db.fetchone(
            "SELECT (SELECT min(next_run) FROM rec_members WHERE digest = 1 "
            "AND paused_reason IS NULL), "
            f"(SELECT min(next_attempt) FROM rec_digest_runs WHERE {_OPEN_SQL})"
        )
        found = [parse_ts(v) for v in (row or ()) if v]
        return min((f for f in found if f is not None), default=None)

    async def open_runs(self, items: Sequence[NewDigest], now: datetime) -> int:
        """Advance due members and create their runs, atomically. A member moves only if
        their ``next_run`` is still the one read; an existing run key is left alone.
        Returns the number of runs created."""
        created = 0
        stamp = ts(now)
        async with self.db.transaction() as conn:
            for item in items:
                cur = await conn.execute(
                    "UPDATE rec_members SET next_run = ? WHERE user_id = ? AND next_run = ? "
                    "AND digest = 1 AND paused_reason IS NULL",
                    (ts(item.next_run), item.user_id, ts(item.expected_next_run)),
                )
                if cur.rowcount == 0 or item.run_key is None:
                    continue
                assert item.deadline is not None
                cur = await conn.execute(
                    "INSERT INTO rec_digest_runs(user_id, run_key, state, nonce, deadline, "
                    "next_attempt, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (
                        item.user_id,
                        item.run_key,
                        DUE,
                        item.nonce,
                        ts(item.deadline),
                        stamp,
                        stamp,
                        stamp,
                    ),
                )
                created += cur.rowcount
        return created

    async def lease(
        self, now: datetime, *, owner: str, lease: timedelta, limit: int
    ) -> list[DigestRun]:
        """Take up to *limit* ready runs for this runner until ``now + lease`` (a runner that
        dies mid-run loses them when the lease runs out)."""
        stamp, until = ts(now), ts(now + lease)
        async with self.db.transaction() as conn:
            async with conn.execute(
                f"SELECT user_id, run_key FROM rec_digest_runs WHERE {_OPEN_SQL} "
                "AND next_attempt <= ? ORDER BY next_attempt LIMIT ?",
                (stamp, limit),
            ) as cur:
                keys = [(int(r[0]), str(r[1])) for r in await cur.fetchall()]
            await conn.executemany(
                "UPDATE rec_digest_runs SET owner = ?, next_attempt = ?, updated_at = ? "
                "WHERE user_id = ? AND run_key = ?",
                [(owner, until, stamp, user, key) for user, key in keys],
            )
            runs: list[DigestRun] = []
            for user, key in keys:
                async with conn.execute(
                    "SELECT * FROM rec_digest_runs WHERE user_id = ? AND run_key = ?", (user, key)
                ) as cur:
                    row = await cur.fetchone()
                if row is not None:
                    runs.append(DigestRun.from_row(row))
        return runs

    async def release_stale(self, owner: str, now: datetime) -> int:
        """Runs leased by an earlier process (it crashed or restarted): ready now."""
        stamp = ts(now)
        return await self.db.execute(
            "UPDATE rec_digest_runs SET owner = NULL, next_attempt = ?, updated_at = ? "
            f"WHERE {_OPEN_SQL} AND owner IS NOT NULL AND owner != ?",
            (stamp, stamp, owner),
        )

    async def get_run(self, user_id: int, run_key: str) -> DigestRun | None:
        row = await self.db.fetchone(
            "SELECT * FROM rec_digest_runs WHERE user_id = ? AND run_key = ?", (user_id, run_key)
        )
        return DigestRun.from_row(row) if row else None

    async def runs_for(self, user_id: int) -> list[DigestRun]:
        rows = await self.db.fetchall(
            "SELECT * FROM rec_digest_runs WHERE user_id = ? ORDER BY created_at, run_key",
            (user_id,),
        )
        return [DigestRun.from_row(r) for r in rows]

    async def begin_send(self, run: DigestRun, pids: Sequence[int], now: datetime) -> bool:
        """Reserve the digest's papers and enter ``sending`` BEFORE Discord is called.

        False (nothing written) when one of the papers was shown to the member meanwhile
        (a /foryou card): pick again."""
        stamp = ts(now)
        try:
            async with self.db.transaction() as conn:
                try:
                    await conn.executemany(
                        "INSERT INTO rec_shown(user_id, pid, shown_at, run_key, position) "
                        "VALUES (?, ?, ?, ?, ?)",
                        [
                            (run.user_id, pid, stamp, run.run_key, i)
                            for i, pid in enumerate(pids, 1)
                        ],
                    )
                except sqlite3.IntegrityError:
                    raise _Taken from None  # rolls the transaction back
                await conn.execute(
                    "UPDATE rec_digest_runs SET state = ?, verify = 1, attempt_at = ?, "
                    "attempts = attempts + 1, error = NULL, updated_at = ? "
                    "WHERE user_id = ? AND run_key = ?",
                    (SENDING, stamp, stamp, run.user_id, run.run_key),
                )
        except _Taken:
            return False
        return True

    async def begin_attempt(self, run: DigestRun, now: datetime) -> None:
        """Another try at a run already ``sending`` (same papers, same nonce)."""
        stamp = ts(now)
        await self.db.execute(
            "UPDATE rec_digest_runs SET verify = 1, attempt_at = ?, attempts = attempts + 1, "
            "updated_at = ? WHERE user_id = ? AND run_key = ?",
            (stamp, stamp, run.user_id, run.run_key),
        )

    async def run_pids(self, run: DigestRun) -> list[int]:
        """The papers reserved for the run, in their order."""
        rows = await self.db.fetchall(
            "SELECT pid FROM rec_shown WHERE user_id = ? AND run_key = ? ORDER BY position",
            (run.user_id, run.run_key),
        )
        return [int(r[0]) for r in rows]

    async def release(self, run: DigestRun) -> None:
        """Free the papers of a run that did not go out (they can be picked again)."""
        await self.db.execute(
            "DELETE FROM rec_shown WHERE user_id = ? AND run_key = ?", (run.user_id, run.run_key)
        )

    async def mark_sent(self, run: DigestRun, message_id: int, now: datetime) -> None:
        await self._close(run, SENT, now, message_id=message_id)

    async def mark_empty(self, run: DigestRun, now: datetime) -> None:
        await self._close(run, EMPTY, now, error="nothing new to send")

    async def mark_retry(
        self, run: DigestRun, *, next_attempt: datetime, error: str, verify: bool, now: datetime
    ) -> None:
        await self.db.execute(
            "UPDATE rec_digest_runs SET owner = NULL, next_attempt = ?, error = ?, verify = ?, "
            "updated_at = ? WHERE user_id = ? AND run_key = ?",
            (ts(next_attempt), error, int(verify), ts(now), run.user_id, run.run_key),
        )

    async def mark_blocked(self, run: DigestRun, *, reason: str, now: datetime) -> bool:
        """The member's DMs are closed: park the run, release its papers (nothing went out)
        and pause the digest. Returns whether the digest was paused now (not before)."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            await _free_papers(conn, run)
            await _end_run(conn, run, BLOCKED, reason, stamp)
            cur = await conn.execute(
                "UPDATE rec_members SET paused_reason = ?, updated_at = ? "
                "WHERE user_id = ? AND digest = 1 AND paused_reason IS NULL",
                (PAUSE_DMS_CLOSED, stamp, run.user_id),
            )
            return cur.rowcount > 0

    async def mark_failed(
        self, run: DigestRun, *, error: str, release: bool, now: datetime
    ) -> None:
        """Give up on the run; with *release*, its papers are freed (it did not go out)."""
        async with self.db.transaction() as conn:
            if release:
                await _free_papers(conn, run)
            await _end_run(conn, run, FAILED, error, ts(now))

    async def restart_run(self, run: DigestRun, now: datetime) -> DigestRun:
        """A ``sending`` run that did not go out and lost a paper: back to ``due``, papers
        released, to be picked again."""
        async with self.db.transaction() as conn:
            await _free_papers(conn, run)
            await conn.execute(
                "UPDATE rec_digest_runs SET state = ?, verify = 0, updated_at = ? "
                "WHERE user_id = ? AND run_key = ?",
                (DUE, ts(now), run.user_id, run.run_key),
            )
        return dataclasses.replace(run, state=DUE, verify=False)

    async def _close(
        self,
        run: DigestRun,
        state: str,
        now: datetime,
        *,
        message_id: int | None = None,
        error: str | None = None,
    ) -> None:
        await self.db.execute(
            "UPDATE rec_digest_runs SET state = ?, owner = NULL, verify = 0, message_id = ?, "
            "error = ?, updated_at = ? WHERE user_id = ? AND run_key = ?",
            (state, message_id, error, ts(now), run.user_id, run.run_key),
        )


async def _free_papers(conn: aiosqlite.Connection, run: DigestRun) -> None:
    """The run's papers can be picked again (it did not go out)."""
    await conn.execute(
        "DELETE FROM rec_shown WHERE user_id = ? AND run_key = ?", (run.user_id, run.run_key)
    )


async def _end_run(
    conn: aiosqlite.Connection, run: DigestRun, state: str, error: str, stamp: str
) -> None:
    await conn.execute(
        "UPDATE rec_digest_runs SET state = ?, owner = NULL, verify = 0, error = ?, "
        "updated_at = ? WHERE user_id = ? AND run_key = ?",
        (state, error, stamp, run.user_id, run.run_key),
    )


class _Taken(Exception):
    """A digest paper was taken by another pick meanwhile (see :meth:`RecsRepo.begin_send`)."""


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
