"""Daily- and weekly-post schedules and their runs: every query of the scheduled posts.

A *schedule* is one channel's configuration plus ``next_run``, the UTC instant the runner
next has to look at it. A *run* is one post for one channel and key (a local date, an ISO week
``2026-W14`` for a weekly list, or ``now:<id>`` for a manual post) moving through
``pending -> sending -> sent`` (or ``exhausted`` / ``blocked`` / ``failed`` / ``skipped``).
The run row is the exactly-once guarantee: its primary key makes a second run for the same
day (or week) impossible, and a unique index makes a second post of the same paper to the same
channel impossible. A weekly list's papers are rows of ``run_papers`` (one per paper, unique
per channel too); triggers keep the two tables from sharing a paper in one channel.

Time values are UTC ISO strings with second precision, so they compare as text.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from bot.shards import ShardSet
from bot.store.database import Database
from bot.store.stamps import parse_ts, ts

log = logging.getLogger(__name__)

# Run states
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
EXHAUSTED = "exhausted"
BLOCKED = "blocked"
FAILED = "failed"
SKIPPED = "skipped"
# Cadences
DAILY = "daily"
WEEKLY = "weekly"
# Written literally (not bound) so SQLite can use the partial index daily_runs_ready.
_OPEN_SQL = "state IN ('pending', 'sending')"


def _on_shards(shards: ShardSet | None) -> tuple[str, list[int]]:
    """`` AND <the row's server is on these shards>`` and its parameters ("" for all).

    Discord's formula, ``(guild_id >> 22) % shard_count``, on the row's ``guild_id``."""
    if shards is None:
        return "", []
    marks = ",".join("?" * len(shards.ids))
    return f" AND ((guild_id >> 22) % ?) IN ({marks})", [shards.count, *shards.ids]


def _req_ts(value: str) -> datetime:
    parsed = parse_ts(value)
    assert parsed is not None
    return parsed


@dataclass(frozen=True, slots=True)
class Schedule:
    channel_id: int
    guild_id: int
    local_time: str
    tz: str
    topic: str | None
    thread: bool
    role_id: int | None
    next_run: datetime
    paused_reason: str | None
    exhausted_at: datetime | None
    last_status: str | None
    last_at: datetime | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime
    cadence: str = DAILY  # DAILY: a card every day; WEEKLY: a list on `weekday`
    weekday: int | None = None  # 0 = Monday

    @property
    def weekly(self) -> bool:
        return self.cadence == WEEKLY

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Schedule:
        return cls(
            channel_id=int(row["channel_id"]),
            guild_id=int(row["guild_id"]),
            local_time=str(row["local_time"]),
            tz=str(row["tz"]),
            topic=row["topic"],
            thread=bool(row["thread"]),
            role_id=row["role_id"],
            next_run=_req_ts(row["next_run"]),
            paused_reason=row["paused_reason"],
            exhausted_at=parse_ts(row["exhausted_at"]),
            last_status=row["last_status"],
            last_at=parse_ts(row["last_at"]),
            created_by=row["created_by"],
            created_at=_req_ts(row["created_at"]),
            updated_at=_req_ts(row["updated_at"]),
            cadence=WEEKLY if row["cadence"] == WEEKLY else DAILY,
            weekday=None if row["weekday"] is None else int(row["weekday"]),
        )


@dataclass(frozen=True, slots=True)
class RunPaper:
    """One paper of a run that posts a list (a weekly post), as picked."""

    position: int
    pid: int
    paper_id: str
    title: str


@dataclass(frozen=True, slots=True)
class Run:
    channel_id: int
    run_key: str
    guild_id: int
    state: str
    pid: int | None
    paper_id: str | None
    title: str | None
    nonce: str
    verify: bool
    attempt_at: datetime | None  # when the latest send attempt started
    attempts: int
    next_attempt: datetime
    deadline: datetime
    owner: str | None
    message_id: int | None
    thread_id: int | None
    error: str | None

    @property
    def manual(self) -> bool:
        return self.run_key.startswith("now:")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Run:
        return cls(
            channel_id=int(row["channel_id"]),
            run_key=str(row["run_key"]),
            guild_id=int(row["guild_id"]),
            state=str(row["state"]),
            pid=row["pid"],
            paper_id=row["paper_id"],
            title=row["title"],
            nonce=str(row["nonce"]),
            verify=bool(row["verify"]),
            attempt_at=parse_ts(row["attempt_at"]),
            attempts=int(row["attempts"]),
            next_attempt=_req_ts(row["next_attempt"]),
            deadline=_req_ts(row["deadline"]),
            owner=row["owner"],
            message_id=row["message_id"],
            thread_id=row["thread_id"],
            error=row["error"],
        )


@dataclass(frozen=True, slots=True)
class NewRun:
    """One due schedule's outcome, written by :meth:`ScheduleRepo.open_runs`.

    ``run_key`` None: nothing to post (a missed earlier day), only ``next_run`` moves on.
    """

    channel_id: int
    guild_id: int
    expected_next_run: datetime
    next_run: datetime
    run_key: str | None = None
    nonce: str = ""
    deadline: datetime | None = None


class ScheduleRepo:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- configuration ------------------------------------------------------------------

    async def upsert(
        self,
        *,
        channel_id: int,
        guild_id: int,
        local_time: str,
        tz: str,
        topic: str | None,
        thread: bool,
        role_id: int | None,
        next_run: datetime,
        created_by: int | None,
        today_key: str,
        now: datetime,
        cadence: str = DAILY,
        weekday: int | None = None,
    ) -> Schedule:
        """Create or replace a channel's schedule. Clears a pause, re-arms "nothing left".

        A run of *today_key* (today's date, or this week's key for a weekly schedule) that
        was blocked by a pause becomes pending again (the post still goes out once the channel
        works); older blocked runs are skipped.
        """
        stamp = ts(now)
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO schedules(channel_id, guild_id, local_time, tz, topic, thread, "
                "role_id, next_run, created_by, created_at, updated_at, cadence, weekday) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(channel_id) DO UPDATE SET guild_id = excluded.guild_id, "
                "local_time = excluded.local_time, tz = excluded.tz, topic = excluded.topic, "
                "thread = excluded.thread, role_id = excluded.role_id, "
                "next_run = excluded.next_run, paused_reason = NULL, exhausted_at = NULL, "
                "updated_at = excluded.updated_at, cadence = excluded.cadence, "
                "weekday = excluded.weekday",
                (
                    channel_id,
                    guild_id,
                    local_time,
                    tz,
                    topic,
                    int(thread),
                    role_id,
                    ts(next_run),
                    created_by,
                    stamp,
                    stamp,
                    WEEKLY if cadence == WEEKLY else DAILY,
                    weekday if cadence == WEEKLY else None,
                ),
            )
            await self._unblock(conn, channel_id, today_key, stamp)
            async with conn.execute(
                "SELECT * FROM schedules WHERE channel_id = ?", (channel_id,)
            ) as cur:
                row = await cur.fetchone()
        assert row is not None
        return Schedule.from_row(row)

    @staticmethod
    async def _unblock(
        conn: aiosqlite.Connection, channel_id: int, today_key: str, stamp: str
    ) -> None:
        await conn.execute(
            # A run that may have reached Discord is looked for before anything is resent.
            "UPDATE daily_runs SET state = CASE WHEN verify AND paper_id IS NOT NULL "
            "THEN ? ELSE ? END, next_attempt = ?, owner = NULL, updated_at = ? "
            "WHERE channel_id = ? AND state = ? AND (run_key = ? OR run_key LIKE 'now:%')",
            (SENDING, PENDING, stamp, stamp, channel_id, BLOCKED, today_key),
        )
        # Older blocked runs are dropped; their papers are free again unless they may be out.
        await conn.execute(
            "DELETE FROM run_papers WHERE (channel_id, run_key) IN (SELECT channel_id, run_key "
            "FROM daily_runs WHERE channel_id = ? AND state = ? AND NOT verify)",
            (channel_id, BLOCKED),
        )
        await conn.execute(
            "UPDATE daily_runs SET state = ?, pid = CASE WHEN verify THEN pid END, "
            "updated_at = ? WHERE channel_id = ? AND state = ?",
            (SKIPPED, stamp, channel_id, BLOCKED),
        )

    async def resume(
        self, channel_id: int, *, next_run: datetime, today_key: str, now: datetime
    ) -> Schedule | None:
        """Lift a pause (the admin fixed the channel). None when there is no schedule."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE schedules SET paused_reason = NULL, next_run = ?, updated_at = ? "
                "WHERE channel_id = ?",
                (ts(next_run), stamp, channel_id),
            )
            if cur.rowcount == 0:
                return None
            await self._unblock(conn, channel_id, today_key, stamp)
            async with conn.execute(
                "SELECT * FROM schedules WHERE channel_id = ?", (channel_id,)
            ) as cur2:
                row = await cur2.fetchone()
        return Schedule.from_row(row) if row else None

    async def delete(self, channel_id: int, *, now: datetime) -> bool:
        """Turn a channel's daily post off. Its history stays (no repeats if turned on again)."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            cur = await conn.execute("DELETE FROM schedules WHERE channel_id = ?", (channel_id,))
            removed = cur.rowcount > 0
            # Not-yet-sent runs are dropped; a 'sending' one may already be out, the runner
            # still settles it.
            await conn.execute(
                "UPDATE daily_runs SET state = ?, owner = NULL, updated_at = ? "
                "WHERE channel_id = ? AND state IN (?, ?)",
                (SKIPPED, stamp, channel_id, PENDING, BLOCKED),
            )
        return removed

    async def get(self, channel_id: int) -> Schedule | None:
        row = await self.db.fetchone("SELECT * FROM schedules WHERE channel_id = ?", (channel_id,))
        return Schedule.from_row(row) if row else None

    async def for_guild(self, guild_id: int) -> list[Schedule]:
        rows = await self.db.fetchall(
            "SELECT * FROM schedules WHERE guild_id = ? ORDER BY local_time, channel_id",
            (guild_id,),
        )
        return [Schedule.from_row(r) for r in rows]

    async def count_for_guild(self, guild_id: int) -> int:
        return int(
            await self.db.fetchval("SELECT count(*) FROM schedules WHERE guild_id = ?", (guild_id,))
            or 0
        )

    async def count(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM schedules") or 0)

    # -- the runner's side ----------------------------------------------------------------

    async def due(
        self, now: datetime, limit: int, *, shards: ShardSet | None = None
    ) -> list[Schedule]:
        """Active schedules whose next run has come, oldest first (of servers on *shards*:
        a process running some of the shards posts for its own servers only)."""
        where, params = _on_shards(shards)
        rows = await self.db.fetchall(
            f"SELECT * FROM schedules WHERE paused_reason IS NULL AND next_run <= ?{where} "
            "ORDER BY next_run, channel_id LIMIT ?",
            (ts(now), *params, limit),
        )
        return [Schedule.from_row(r) for r in rows]

    async def next_wakeup(self, *, shards: ShardSet | None = None) -> datetime | None:
        """The earliest instant anything becomes due (a schedule or a run's retry)."""
        where, params = _on_shards(shards)
        row = await self.db.fetchone(
            "SELECT min(t) FROM ("
            f" SELECT min(next_run) AS t FROM schedules WHERE paused_reason IS NULL{where}"
            " UNION ALL"
            f" SELECT min(next_attempt) FROM daily_runs WHERE {_OPEN_SQL}{where})",
            (*params, *params),
        )
        return parse_ts(row[0]) if row and row[0] else None

    async def open_runs(self, items: Sequence[NewRun], now: datetime) -> int:
        """Advance due schedules and create their runs, atomically (``BEGIN IMMEDIATE``).

        Each schedule moves only if its ``next_run`` is still the one read (another claimer
        or an admin's change wins otherwise); a run key that exists already is left alone.
        Returns the number of runs created.
        """
        created = 0
        stamp = ts(now)
        async with self.db.transaction() as conn:
            for item in items:
                cur = await conn.execute(
                    "UPDATE schedules SET next_run = ? "
                    "WHERE channel_id = ? AND next_run = ? AND paused_reason IS NULL",
                    (ts(item.next_run), item.channel_id, ts(item.expected_next_run)),
                )
                if cur.rowcount == 0 or item.run_key is None:
                    continue
                assert item.deadline is not None
                cur = await conn.execute(
                    "INSERT INTO daily_runs(channel_id, run_key, guild_id, state, nonce, "
                    "next_attempt, deadline, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        item.channel_id,
                        item.run_key,
                        item.guild_id,
                        PENDING,
                        item.nonce,
                        stamp,
                        ts(item.deadline),
                        stamp,
                        stamp,
                    ),
                )
                created += cur.rowcount
        return created

    async def create_run(
        self,
        *,
        channel_id: int,
        guild_id: int,
        run_key: str,
        nonce: str,
        deadline: datetime,
        owner: str | None,
        leased_until: datetime,
        now: datetime,
    ) -> tuple[Run, bool]:
        """A run made outside the schedule (``/daily post-now``), leased to *owner*.

        Returns (the run, whether it was created); an existing key is returned untouched.
        """
        stamp = ts(now)
        async with self.db.transaction() as conn:
            cur = await conn.execute(
                "INSERT INTO daily_runs(channel_id, run_key, guild_id, state, nonce, owner, "
                "attempts, next_attempt, deadline, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    channel_id,
                    run_key,
                    guild_id,
                    PENDING,
                    nonce,
                    owner,
                    ts(leased_until),
                    ts(deadline),
                    stamp,
                    stamp,
                ),
            )
            created = cur.rowcount > 0
        run = await self.get_run(channel_id, run_key)
        assert run is not None
        return run, created

    async def pause(self, channel_id: int, *, reason: str, now: datetime) -> None:
        stamp = ts(now)
        await self.db.execute(
            "UPDATE schedules SET paused_reason = ?, last_status = ?, last_at = ?, "
            "updated_at = ? WHERE channel_id = ?",
            (reason, f"paused: {reason}", stamp, stamp, channel_id),
        )

    async def restart_run(self, run: Run, *, now: datetime) -> Run:
        """Back to ``pending`` without a paper (the picked paper left the store)."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM run_papers WHERE channel_id = ? AND run_key = ?",
                (run.channel_id, run.run_key),
            )
            await conn.execute(
                "UPDATE daily_runs SET state = ?, pid = NULL, paper_id = NULL, title = NULL, "
                "verify = 0, updated_at = ? WHERE channel_id = ? AND run_key = ?",
                (PENDING, ts(now), run.channel_id, run.run_key),
            )
        fresh = await self.get_run(run.channel_id, run.run_key)
        assert fresh is not None
        return fresh

    async def open_runs_for_guild(self, guild_id: int) -> dict[int, Run]:
        """Runs still being tried in a server (for ``/daily status``): channel -> latest run."""
        rows = await self.db.fetchall(
            f"SELECT * FROM daily_runs WHERE guild_id = ? AND {_OPEN_SQL} ORDER BY created_at",
            (guild_id,),
        )
        return {int(r["channel_id"]): Run.from_row(r) for r in rows}

    async def get_run(self, channel_id: int, run_key: str) -> Run | None:
        row = await self.db.fetchone(
            "SELECT * FROM daily_runs WHERE channel_id = ? AND run_key = ?", (channel_id, run_key)
        )
        return Run.from_row(row) if row else None

    async def lease(
        self,
        now: datetime,
        *,
        owner: str,
        lease: timedelta,
        limit: int,
        shards: ShardSet | None = None,
    ) -> list[Run]:
        """Take up to *limit* ready runs for this runner until ``now + lease`` (runs of
        servers on *shards* only).

        A lease that runs out (the runner died mid-run) makes the run ready again.
        """
        stamp = ts(now)
        until = ts(now + lease)
        where, params = _on_shards(shards)
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT channel_id, run_key FROM daily_runs "
                f"WHERE {_OPEN_SQL} AND next_attempt <= ?{where} ORDER BY next_attempt LIMIT ?",
                (stamp, *params, limit),
            ) as cur:
                keys = [(int(r[0]), str(r[1])) for r in await cur.fetchall()]
            await conn.executemany(
                "UPDATE daily_runs SET owner = ?, next_attempt = ?, attempts = attempts + 1, "
                "updated_at = ? WHERE channel_id = ? AND run_key = ?",
                [(owner, until, stamp, ch, key) for ch, key in keys],
            )
            runs: list[Run] = []
            for ch, key in keys:
                async with conn.execute(
                    "SELECT * FROM daily_runs WHERE channel_id = ? AND run_key = ?", (ch, key)
                ) as cur:
                    row = await cur.fetchone()
                if row is not None:
                    runs.append(Run.from_row(row))
        return runs

    async def release_stale(
        self, owner: str, now: datetime, *, shards: ShardSet | None = None
    ) -> int:
        """Runs leased by an earlier process (it crashed or restarted): ready now.

        With *shards*, only runs of servers on those shards: the earlier process that ran
        them is this one's predecessor; another live process (other shards) keeps its own.
        """
        stamp = ts(now)
        where, params = _on_shards(shards)
        return await self.db.execute(
            "UPDATE daily_runs SET owner = NULL, next_attempt = ?, updated_at = ? "
            f"WHERE {_OPEN_SQL} AND owner IS NOT NULL AND owner != ?{where}",
            (stamp, stamp, owner, *params),
        )

    async def begin_send(
        self, run: Run, *, pid: int, paper_id: str, title: str, now: datetime
    ) -> bool:
        """Record the pick and enter ``sending`` BEFORE Discord is called.

        False when that paper is already taken by another run of the channel (the unique
        index refused it): pick again.
        """
        stamp = ts(now)
        try:
            async with self.db.transaction() as conn:
                await conn.execute(
                    "UPDATE daily_runs SET state = ?, pid = ?, paper_id = ?, title = ?, "
                    "verify = 1, attempt_at = ?, updated_at = ? "
                    "WHERE channel_id = ? AND run_key = ?",
                    (SENDING, pid, paper_id, title, stamp, stamp, run.channel_id, run.run_key),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    async def begin_send_list(
        self, run: Run, papers: Sequence[RunPaper], *, title: str, now: datetime
    ) -> bool:
        """:meth:`begin_send` for a run that posts a list (a weekly post): its papers are
        recorded (``run_papers``, in order) with ``sending``, BEFORE Discord is called.

        False when one of them is already taken in the channel (posted there, or in another
        run's list): pick again. The run's ``paper_id`` is the first paper's (what marks it
        as a post of papers, not a notice), ``pid`` stays NULL.
        """
        stamp = ts(now)
        try:
            async with self.db.transaction() as conn:
                await conn.execute(
                    "DELETE FROM run_papers WHERE channel_id = ? AND run_key = ?",
                    (run.channel_id, run.run_key),
                )
                await conn.executemany(
                    "INSERT INTO run_papers(channel_id, run_key, position, pid, paper_id, title) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (run.channel_id, run.run_key, p.position, p.pid, p.paper_id, p.title)
                        for p in papers
                    ],
                )
                await conn.execute(
                    "UPDATE daily_runs SET state = ?, pid = NULL, paper_id = ?, title = ?, "
                    "verify = 1, attempt_at = ?, updated_at = ? "
                    "WHERE channel_id = ? AND run_key = ?",
                    (
                        SENDING,
                        papers[0].paper_id,
                        title,
                        stamp,
                        stamp,
                        run.channel_id,
                        run.run_key,
                    ),
                )
        except sqlite3.IntegrityError:
            return False
        return True

    async def run_papers(self, run: Run) -> list[RunPaper]:
        """The papers of a list run, in order (none for a one-paper run)."""
        rows = await self.db.fetchall(
            "SELECT position, pid, paper_id, title FROM run_papers "
            "WHERE channel_id = ? AND run_key = ? ORDER BY position",
            (run.channel_id, run.run_key),
        )
        return [RunPaper(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    async def clear_run_papers(self, run: Run) -> None:
        """Forget a pending run's earlier picks (it is about to pick again)."""
        await self.db.execute(
            "DELETE FROM run_papers WHERE channel_id = ? AND run_key = ?",
            (run.channel_id, run.run_key),
        )

    async def begin_attempt(self, run: Run, *, now: datetime) -> None:
        """Another send attempt of a ``sending`` run is about to start (written before it)."""
        stamp = ts(now)
        await self.db.execute(
            "UPDATE daily_runs SET verify = 1, attempt_at = ?, updated_at = ? "
            "WHERE channel_id = ? AND run_key = ?",
            (stamp, stamp, run.channel_id, run.run_key),
        )

    async def begin_notice(self, run: Run, *, now: datetime) -> None:
        """Enter ``sending`` for the "nothing left" notice (no paper)."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM run_papers WHERE channel_id = ? AND run_key = ?",
                (run.channel_id, run.run_key),
            )
            await conn.execute(
                "UPDATE daily_runs SET state = ?, pid = NULL, paper_id = NULL, title = NULL, "
                "verify = 1, attempt_at = ?, updated_at = ? "
                "WHERE channel_id = ? AND run_key = ?",
                (SENDING, stamp, stamp, run.channel_id, run.run_key),
            )

    async def mark_sent(
        self,
        run: Run,
        *,
        message_id: int,
        thread_id: int | None,
        status: str,
        note: str | None,
        notice: bool,
        now: datetime,
    ) -> None:
        stamp = ts(now)
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE daily_runs SET state = ?, message_id = ?, thread_id = ?, verify = 0, "
                "owner = NULL, error = ?, updated_at = ? WHERE channel_id = ? AND run_key = ?",
                (
                    EXHAUSTED if notice else SENT,
                    message_id,
                    thread_id,
                    note,
                    stamp,
                    run.channel_id,
                    run.run_key,
                ),
            )
            await conn.execute(
                "UPDATE schedules SET last_status = ?, last_at = ?, "
                "exhausted_at = CASE WHEN ? THEN ? END WHERE channel_id = ?",
                (status, stamp, int(notice), stamp, run.channel_id),
            )

    async def mark_exhausted_quietly(self, run: Run, *, status: str, now: datetime) -> None:
        """Nothing to post and the channel was told already: close the run, no message."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE daily_runs SET state = ?, owner = NULL, verify = 0, updated_at = ? "
                "WHERE channel_id = ? AND run_key = ?",
                (EXHAUSTED, stamp, run.channel_id, run.run_key),
            )
            await conn.execute(
                "UPDATE schedules SET last_status = ?, last_at = ? WHERE channel_id = ?",
                (status, stamp, run.channel_id),
            )

    async def mark_retry(
        self, run: Run, *, next_attempt: datetime, error: str, verify: bool, now: datetime
    ) -> None:
        await self.db.execute(
            "UPDATE daily_runs SET owner = NULL, next_attempt = ?, error = ?, verify = ?, "
            "updated_at = ? WHERE channel_id = ? AND run_key = ?",
            (ts(next_attempt), error, int(verify), ts(now), run.channel_id, run.run_key),
        )

    async def mark_blocked(self, run: Run, *, reason: str, verify: bool, now: datetime) -> None:
        """Discord refused the channel (403/404): park the run and pause the schedule."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE daily_runs SET state = ?, owner = NULL, error = ?, verify = ?, "
                "updated_at = ? WHERE channel_id = ? AND run_key = ?",
                (BLOCKED, reason, int(verify), stamp, run.channel_id, run.run_key),
            )
            await conn.execute(
                "UPDATE schedules SET paused_reason = ?, last_status = ?, last_at = ?, "
                "updated_at = ? WHERE channel_id = ?",
                (reason, f"paused: {reason}", stamp, stamp, run.channel_id),
            )

    async def mark_failed(self, run: Run, *, error: str, status: str, now: datetime) -> None:
        """Gave up for the day. The paper is freed unless it may have been posted."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM run_papers WHERE channel_id = ? AND run_key = ? AND NOT "
                "(SELECT verify FROM daily_runs WHERE channel_id = ? AND run_key = ?)",
                (run.channel_id, run.run_key, run.channel_id, run.run_key),
            )
            await conn.execute(
                "UPDATE daily_runs SET state = ?, owner = NULL, error = ?, "
                "pid = CASE WHEN verify THEN pid END, updated_at = ? "
                "WHERE channel_id = ? AND run_key = ?",
                (FAILED, error, stamp, run.channel_id, run.run_key),
            )
            await conn.execute(
                "UPDATE schedules SET last_status = ?, last_at = ? WHERE channel_id = ?",
                (status, stamp, run.channel_id),
            )

    async def mark_skipped(self, run: Run, *, now: datetime) -> None:
        await self.db.execute(
            "UPDATE daily_runs SET state = ?, owner = NULL, updated_at = ? "
            "WHERE channel_id = ? AND run_key = ?",
            (SKIPPED, ts(now), run.channel_id, run.run_key),
        )

    # -- picking --------------------------------------------------------------------------

    async def posted_pids(self, channel_id: int) -> set[int]:
        """Papers posted (or being posted) to the channel: never picked again there."""
        rows = await self.db.fetchall(
            "SELECT pid FROM daily_runs WHERE channel_id = ?1 AND pid IS NOT NULL "
            "UNION SELECT pid FROM run_papers WHERE channel_id = ?1",
            (channel_id,),
        )
        return {int(r[0]) for r in rows}
