"""Daily- and weekly-post schedules and their runs: every query of the scheduled posts.

A *schedule* is one channel's configuration plus ``next_run``, the UTC instant the runner
next has to look at it. A *run* is one post for one channel and key (a local date, an ISO week
``2026-W14`` for a weekly list, or ``now:<id>`` for a manual post) moving through
``pending -> sending -> sent`` (or ``exhausted`` / ``blocked`` / ``failed`` / ``skipped``).
The run row is the exactly-once guarantee: its primary key makes a second run for the same
day (or week) impossible, and a unique index makes a second post of the same paper to the same
channel impossible. A weekly list's papers are rows of ``run_papers`` (one per paper, unique
per channel too); triggers keep the two tables from sharing a paper in one channel.

:class:`ScheduleRepo` is the :class:`bot.store.runs.RunLedger` of ``daily_runs`` (claiming,
leasing, retrying: the queries it shares with the For you digest) plus what only the daily
posts do: a schedule's settings, pauses, and the papers a run posts.

Time values are UTC ISO strings with second precision, so they compare as text.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from bot.store.database import Database
from bot.store.runs import SENDING, LeasedRun, RunLedger, RunTable
from bot.store.stamps import parse_required_ts, parse_ts, ts

log = logging.getLogger(__name__)

# Run states
PENDING = "pending"
SENT = "sent"
EXHAUSTED = "exhausted"
BLOCKED = "blocked"
FAILED = "failed"
SKIPPED = "skipped"
# Cadences
DAILY = "daily"
WEEKLY = "weekly"

_RUNS = RunTable(
    table="daily_runs",
    key="channel_id",
    pending=PENDING,
    parent="schedules",
    ready="paused_reason IS NULL",
    sharded=True,
    count_leases=True,
)


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
            next_run=parse_required_ts(row["next_run"]),
            paused_reason=row["paused_reason"],
            exhausted_at=parse_ts(row["exhausted_at"]),
            last_status=row["last_status"],
            last_at=parse_ts(row["last_at"]),
            created_by=row["created_by"],
            created_at=parse_required_ts(row["created_at"]),
            updated_at=parse_required_ts(row["updated_at"]),
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
class Run(LeasedRun):
    """One post to one channel (see the module docstring)."""

    channel_id: int
    guild_id: int
    pid: int | None
    paper_id: str | None
    title: str | None  # the paper's (a list's: "5 papers: …"); a notice run: its text
    thread_id: int | None

    @property
    def key(self) -> int:
        return self.channel_id

    @property
    def manual(self) -> bool:
        return self.run_key.startswith("now:")

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Run:
        return cls(
            **LeasedRun.columns(row),
            channel_id=int(row["channel_id"]),
            guild_id=int(row["guild_id"]),
            pid=row["pid"],
            paper_id=row["paper_id"],
            title=row["title"],
            thread_id=row["thread_id"],
        )


class ScheduleRepo(RunLedger[Run, Schedule]):
    """Schedules and their runs: the shared :class:`RunLedger` queries, and the rest."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, _RUNS, Run.from_row, Schedule.from_row)

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
        deadline: datetime | None = None,
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
            await self._unblock(conn, channel_id, today_key, stamp, deadline)
            async with conn.execute(
                "SELECT * FROM schedules WHERE channel_id = ?", (channel_id,)
            ) as cur:
                row = await cur.fetchone()
        assert row is not None
        return Schedule.from_row(row)

    @staticmethod
    async def _unblock(
        conn: aiosqlite.Connection,
        channel_id: int,
        today_key: str,
        stamp: str,
        deadline: datetime | None = None,
    ) -> None:
        if deadline is not None:
            # A weekly run blocked on its weekday and unblocked later that week: its deadline
            # (the end of that weekday) has passed; it may be tried until today ends.
            await conn.execute(
                "UPDATE daily_runs SET deadline = max(deadline, ?) "
                "WHERE channel_id = ? AND state = ? AND run_key = ?",
                (ts(deadline), channel_id, BLOCKED, today_key),
            )
        await conn.execute(
            # A run that may have reached Discord is looked for before anything is resent.
            "UPDATE daily_runs SET state = CASE WHEN verify AND paper_id IS NOT NULL "
            "THEN ? ELSE ? END, next_attempt = ?, owner = NULL, updated_at = ? "
            # A manual post whose hour is over is not tried again: dropped below, quietly.
            "WHERE channel_id = ? AND state = ? AND (run_key = ? OR (run_key LIKE 'now:%' "
            "AND deadline > ?))",
            (SENDING, PENDING, stamp, stamp, channel_id, BLOCKED, today_key, stamp),
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
        self,
        channel_id: int,
        *,
        next_run: datetime,
        today_key: str,
        now: datetime,
        deadline: datetime | None = None,
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
            await self._unblock(conn, channel_id, today_key, stamp, deadline)
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

    # -- the runner's side (the rest is the ledger's) --------------------------------------

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
        fields = {
            "channel_id": channel_id,
            "run_key": run_key,
            "guild_id": guild_id,
            "state": PENDING,
            "nonce": nonce,
            "owner": owner,
            "attempts": 1,
            "next_attempt": ts(leased_until),
            "deadline": ts(deadline),
        }
        async with self.db.transaction() as conn:
            created = await self.insert(conn, fields, now) > 0
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

    async def pause_server(self, guild_id: int, *, reason: str, now: datetime) -> list[int]:
        """Pause every schedule of a server and withdraw their public feeds, in one
        transaction (the bot was removed from it); the channels paused."""
        stamp = ts(now)
        async with self.db.transaction() as conn:
            async with conn.execute(
                "SELECT channel_id FROM schedules WHERE guild_id = ? ORDER BY channel_id",
                (guild_id,),
            ) as cur:
                channels = [int(r[0]) for r in await cur.fetchall()]
            await conn.execute(
                "UPDATE schedules SET paused_reason = ?, last_status = ?, last_at = ?, "
                "updated_at = ?, feed_token = NULL WHERE guild_id = ?",
                (reason, f"paused: {reason}", stamp, stamp, guild_id),
            )
        return channels

    async def restart_run(self, run: Run, *, now: datetime) -> Run:
        """Back to ``pending`` without a paper (the picked paper left the store)."""
        async with self.db.transaction() as conn:
            await _drop_papers(conn, run)
            await self.update(
                run, now, conn=conn, state=PENDING, pid=None, paper_id=None, title=None, verify=0
            )
        fresh = await self.get_run(run.channel_id, run.run_key)
        assert fresh is not None
        return fresh

    async def open_runs_for_guild(self, guild_id: int) -> dict[int, Run]:
        """Runs still being tried in a server (for ``/daily status``): channel -> latest run."""
        rows = await self.db.fetchall(
            f"SELECT * FROM daily_runs WHERE guild_id = ? AND {self.open_sql} ORDER BY created_at",
            (guild_id,),
        )
        return {int(r["channel_id"]): Run.from_row(r) for r in rows}

    async def begin_send(
        self, run: Run, *, pid: int, paper_id: str, title: str, now: datetime
    ) -> bool:
        """Record the pick and enter ``sending`` BEFORE Discord is called.

        False when that paper is already taken by another run of the channel (the unique
        index refused it): pick again. Only from ``pending``: a run closed meanwhile (turned
        off) raises :class:`RunClosed`.
        """
        try:
            async with self.db.transaction() as conn:
                await self.begin_sending(
                    run, now, conn=conn, pid=pid, paper_id=paper_id, title=title
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
        as a post of papers, not a notice), ``pid`` stays NULL. Only from ``pending`` (else
        :class:`RunClosed`, nothing written).
        """
        try:
            async with self.db.transaction() as conn:
                await _drop_papers(conn, run)
                await conn.executemany(
                    "INSERT INTO run_papers(channel_id, run_key, position, pid, paper_id, title) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (run.channel_id, run.run_key, p.position, p.pid, p.paper_id, p.title)
                        for p in papers
                    ],
                )
                # (RunClosed leaves the transaction, and so rolls the papers back too)
                await self.begin_sending(
                    run, now, conn=conn, pid=None, paper_id=papers[0].paper_id, title=title
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
        async with self.db.transaction() as conn:
            await _drop_papers(conn, run)

    async def begin_notice(self, run: Run, *, text: str, now: datetime) -> None:
        """Enter ``sending`` for the "nothing left" notice (no paper); its *text* is kept in
        ``title``: every attempt sends, and looks for, the same words even if the topic
        changes meanwhile. Only from ``pending`` (else :class:`RunClosed`)."""
        async with self.db.transaction() as conn:
            await _drop_papers(conn, run)
            await self.begin_sending(run, now, conn=conn, pid=None, paper_id=None, title=text)

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
        told: bool | None = None,
    ) -> None:
        """Record the post. A notice marks the schedule exhausted (said once) when *told*
        (default: *notice*): it was about the schedule's current topic and cadence."""
        told = notice if told is None else told
        async with self.db.transaction() as conn:
            state = EXHAUSTED if notice else SENT
            await self.close(
                run, state, now, conn=conn, message_id=message_id, thread_id=thread_id, error=note
            )
            await conn.execute(
                "UPDATE schedules SET last_status = ?, last_at = ?, "
                "exhausted_at = CASE WHEN ? THEN ? END WHERE channel_id = ?",
                (status, ts(now), int(notice and told), ts(now), run.channel_id),
            )

    async def mark_exhausted_quietly(self, run: Run, *, status: str, now: datetime) -> None:
        """Nothing to post and the channel was told already: close the run, no message."""
        async with self.db.transaction() as conn:
            await self.close(run, EXHAUSTED, now, conn=conn)
            await self._tell(conn, run, status, now)

    async def mark_blocked(self, run: Run, *, reason: str, verify: bool, now: datetime) -> None:
        """Discord refused the channel (403/404): park the run and pause the schedule."""
        async with self.db.transaction() as conn:
            await self.update(
                run, now, conn=conn, state=BLOCKED, owner=None, error=reason, verify=int(verify)
            )
            await conn.execute(
                "UPDATE schedules SET paused_reason = ?, last_status = ?, last_at = ?, "
                "updated_at = ? WHERE channel_id = ?",
                (reason, f"paused: {reason}", ts(now), ts(now), run.channel_id),
            )

    async def mark_failed(self, run: Run, *, error: str, status: str, now: datetime) -> None:
        """Gave up for the day. The paper is freed unless it may have been posted."""
        async with self.db.transaction() as conn:
            await conn.execute(
                "DELETE FROM run_papers WHERE channel_id = ? AND run_key = ? AND NOT "
                "(SELECT verify FROM daily_runs WHERE channel_id = ? AND run_key = ?)",
                (run.channel_id, run.run_key, run.channel_id, run.run_key),
            )
            await self.update(
                run,
                now,
                conn=conn,
                also="pid = CASE WHEN verify THEN pid END",
                state=FAILED,
                owner=None,
                error=error,
            )
            await self._tell(conn, run, status, now)

    async def mark_skipped(self, run: Run, *, now: datetime) -> None:
        await self.update(run, now, state=SKIPPED, owner=None)

    @staticmethod
    async def _tell(conn: aiosqlite.Connection, run: Run, status: str, now: datetime) -> None:
        """The schedule's last status (``/daily status``)."""
        await conn.execute(
            "UPDATE schedules SET last_status = ?, last_at = ? WHERE channel_id = ?",
            (status, ts(now), run.channel_id),
        )

    # -- picking --------------------------------------------------------------------------

    async def posted_pids(self, channel_id: int) -> set[int]:
        """Papers posted (or being posted) to the channel: never picked again there."""
        rows = await self.db.fetchall(
            "SELECT pid FROM daily_runs WHERE channel_id = ?1 AND pid IS NOT NULL "
            "UNION SELECT pid FROM run_papers WHERE channel_id = ?1 "
            # A posted paper that left the store and came back has a new pid: its id counts.
            "UNION SELECT papers.pid FROM daily_runs JOIN papers ON papers.id = "
            "daily_runs.paper_id WHERE daily_runs.channel_id = ?1 "
            "AND (daily_runs.state = 'sent' OR daily_runs.verify) "
            "UNION SELECT papers.pid FROM run_papers JOIN papers ON papers.id = "
            "run_papers.paper_id WHERE run_papers.channel_id = ?1",
            (channel_id,),
        )
        return {int(r[0]) for r in rows}


async def _drop_papers(conn: aiosqlite.Connection, run: Run) -> None:
    """Forget the papers of a list run (an earlier pick, or one that did not go out)."""
    await conn.execute(
        "DELETE FROM run_papers WHERE channel_id = ? AND run_key = ?",
        (run.channel_id, run.run_key),
    )
