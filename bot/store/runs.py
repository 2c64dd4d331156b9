"""Leased runs: the exactly-once ledger shared by the daily posts and the For you digest.

A *run* is one message to one recipient (a channel, a member) for one key (a local date, an
ISO week ``2026-W14``, ``now:<id>`` for a manual post): a row of a runs table whose primary
key is ``(<recipient>, run_key)``, so a second run for the same day is impossible. Its
recipient's row in a *parent* table (a schedule, a member's digest settings) holds
``next_run``, the UTC instant the runner next has to look at it.

:class:`RunLedger` holds every query the two tables share: claiming due recipients (their
``next_run`` moves on and their run is created, atomically), leasing ready runs to one runner
(``owner`` and ``next_attempt``: a runner that dies loses them when the lease runs out),
releasing a dead predecessor's leases, and the writes around each send (``verify = 1`` and
``attempt_at`` before Discord is called, retry, close). :class:`bot.store.schedules.ScheduleRepo`
and :class:`bot.store.recs.RecsRepo` are ledgers of their tables plus what only they do.

Table and column names in the SQL here are constants of the code (a :class:`RunTable`),
never input; every value is a bound parameter.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import aiosqlite

from bot.shards import ShardSet
from bot.store.database import Database
from bot.store.stamps import parse_required_ts, parse_ts, ts

SENDING = "sending"  # the state of a run whose message is being sent, in every runs table


class RunClosed(Exception):
    """The run left its pending state while it was picking (``/daily off`` skipped it, the
    digest was turned off or forgotten): it must not send."""


@dataclass(frozen=True, slots=True)
class LeasedRun:
    """The columns every run row has; :attr:`key` is its recipient (a subclass's column)."""

    run_key: str
    state: str
    nonce: str  # the same for every attempt of the run (Discord drops a repeat)
    verify: bool  # it may have reached Discord: look before sending again
    attempt_at: datetime | None  # when the latest send attempt started
    attempts: int
    next_attempt: datetime  # also the lease's end while a runner holds it
    deadline: datetime  # given up then (the end of the local day)
    owner: str | None  # the runner holding the lease
    message_id: int | None
    error: str | None

    @property
    def key(self) -> int:
        """The recipient: the value of the table's key column."""
        raise NotImplementedError

    @staticmethod
    def columns(row: sqlite3.Row) -> dict[str, Any]:
        """The shared fields of a row, as keyword arguments of a subclass."""
        return {
            "run_key": str(row["run_key"]),
            "state": str(row["state"]),
            "nonce": str(row["nonce"]),
            "verify": bool(row["verify"]),
            "attempt_at": parse_ts(row["attempt_at"]),
            "attempts": int(row["attempts"]),
            "next_attempt": parse_required_ts(row["next_attempt"]),
            "deadline": parse_required_ts(row["deadline"]),
            "owner": row["owner"],
            "message_id": row["message_id"],
            "error": row["error"],
        }


@dataclass(frozen=True, slots=True)
class NewRun:
    """A due recipient's outcome for :meth:`RunLedger.open_runs`: its next look, and the run
    to create (``run_key`` None: the due time was on an earlier local day, nothing to send)."""

    key: int
    expected_next_run: datetime  # the parent moves only if its next_run is still this
    next_run: datetime
    run_key: str | None = None
    nonce: str = ""
    deadline: datetime | None = None
    guild_id: int | None = None  # the server, in a table of runs by server (``sharded``)


@dataclass(frozen=True, slots=True)
class RunTable:
    """Which tables a ledger works on (constants of the code, written into its SQL)."""

    table: str  # the runs
    key: str  # the recipient column, in both tables
    pending: str  # the state of a run not yet sending
    parent: str  # the recipients, with ``next_run``
    ready: str  # the SQL condition of a parent that is armed (literal: its partial index)
    sharded: bool = False  # both tables have ``guild_id``: a runner can take some shards
    count_leases: bool = False  # ``attempts`` counts leases (else: send attempts)


R = TypeVar("R", bound=LeasedRun)
P = TypeVar("P")


class RunLedger(Generic[R, P]):
    """The shared queries of a runs table *spec* and its parent (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        spec: RunTable,
        run: Callable[[sqlite3.Row], R],
        parent: Callable[[sqlite3.Row], P],
    ) -> None:
        self.db = db
        self.spec = spec
        self._run = run
        self._parent = parent
        # Written literally (not bound) so SQLite can use the table's partial index.
        self.open_sql = f"state IN ('{spec.pending}', '{SENDING}')"
        self._match = f"{spec.key} = ? AND run_key = ?"

    def _on_shards(self, shards: ShardSet | None) -> tuple[str, list[int]]:
        """`` AND <the row's server is on these shards>`` and its parameters ("" for all).

        Discord's formula, ``(guild_id >> 22) % shard_count``, on the row's ``guild_id``."""
        if shards is None:
            return "", []
        if not self.spec.sharded:
            raise ValueError(f"{self.spec.table} has no server column to take shards by")
        marks = ",".join("?" * len(shards.ids))
        return f" AND ((guild_id >> 22) % ?) IN ({marks})", [shards.count, *shards.ids]

    # -- claiming ---------------------------------------------------------------------------

    async def due(self, now: datetime, limit: int, *, shards: ShardSet | None = None) -> list[P]:
        """Armed recipients whose next run has come, oldest first (of servers on *shards*:
        a process running some of the shards handles its own servers only)."""
        t = self.spec
        where, params = self._on_shards(shards)
        # Whole seconds down, not ts()'s rounding up: a recipient due in the next fraction of
        # a second is not due yet (its claim could not move next_run on, and a full batch of
        # them would be read again and again).
        floor = now.astimezone(UTC).replace(microsecond=0)
        rows = await self.db.fetchall(
            f"SELECT * FROM {t.parent} WHERE {t.ready} AND next_run <= ?{where} "
            f"ORDER BY next_run, {t.key} LIMIT ?",
            (ts(floor), *params, limit),
        )
        return [self._parent(r) for r in rows]

    async def next_wakeup(self, *, shards: ShardSet | None = None) -> datetime | None:
        """The earliest instant anything becomes due (a recipient or a run's retry)."""
        t = self.spec
        where, params = self._on_shards(shards)
        row = await self.db.fetchone(
            "SELECT min(t) FROM ("
            f" SELECT min(next_run) AS t FROM {t.parent} WHERE {t.ready}{where}"
            " UNION ALL"
            f" SELECT min(next_attempt) FROM {t.table} WHERE {self.open_sql}{where})",
            (*params, *params),
        )
        return parse_ts(row[0]) if row and row[0] else None

    async def open_runs(self, items: Sequence[NewRun], now: datetime) -> int:
        """Advance due recipients and create their runs, atomically (``BEGIN IMMEDIATE``).

        A recipient moves only if its ``next_run`` is still the one read (another claimer or
        a change of its settings wins otherwise); a run key that exists already is left alone.
        Returns the number of runs created.
        """
        t = self.spec
        created = 0
        stamp = ts(now)
        async with self.db.transaction() as conn:
            for item in items:
                cur = await conn.execute(
                    f"UPDATE {t.parent} SET next_run = ? "
                    f"WHERE {t.key} = ? AND next_run = ? AND {t.ready}",
                    (ts(item.next_run), item.key, ts(item.expected_next_run)),
                )
                if cur.rowcount == 0 or item.run_key is None:
                    continue
                assert item.deadline is not None
                fields: dict[str, object] = {
                    t.key: item.key,
                    "run_key": item.run_key,
                    "state": t.pending,
                    "nonce": item.nonce,
                    "next_attempt": stamp,
                    "deadline": ts(item.deadline),
                }
                if t.sharded:
                    fields["guild_id"] = item.guild_id
                created += await self.insert(conn, fields, now)
        return created

    async def insert(
        self, conn: aiosqlite.Connection, fields: Mapping[str, object], now: datetime
    ) -> int:
        """Create a run of *fields* (column names of the code) unless its key exists;
        returns 1 when it was created."""
        columns = [*fields, "created_at", "updated_at"]
        cur = await conn.execute(
            f"INSERT INTO {self.spec.table}({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))}) ON CONFLICT DO NOTHING",
            (*fields.values(), ts(now), ts(now)),
        )
        return cur.rowcount

    # -- leases -----------------------------------------------------------------------------

    async def lease(
        self,
        now: datetime,
        *,
        owner: str,
        lease: timedelta,
        limit: int,
        shards: ShardSet | None = None,
    ) -> list[R]:
        """Take up to *limit* ready runs for this runner until ``now + lease`` (runs of
        servers on *shards* only).

        A lease that runs out (the runner died mid-run) makes the run ready again.
        """
        t = self.spec
        stamp, until = ts(now), ts(now + lease)
        where, params = self._on_shards(shards)
        counted = ", attempts = attempts + 1" if t.count_leases else ""
        async with self.db.transaction() as conn:
            async with conn.execute(
                f"SELECT {t.key}, run_key FROM {t.table} "
                f"WHERE {self.open_sql} AND next_attempt <= ?{where} "
                "ORDER BY next_attempt LIMIT ?",
                (stamp, *params, limit),
            ) as cur:
                keys = [(int(r[0]), str(r[1])) for r in await cur.fetchall()]
            await conn.executemany(
                f"UPDATE {t.table} SET owner = ?, next_attempt = ?{counted}, updated_at = ? "
                f"WHERE {self._match}",
                [(owner, until, stamp, key, run_key) for key, run_key in keys],
            )
            runs: list[R] = []
            for key, run_key in keys:
                async with conn.execute(
                    f"SELECT * FROM {t.table} WHERE {self._match}", (key, run_key)
                ) as cur:
                    row = await cur.fetchone()
                if row is not None:
                    runs.append(self._run(row))
        return runs

    async def release_stale(
        self, owner: str, now: datetime, *, shards: ShardSet | None = None
    ) -> int:
        """Runs leased by an earlier process (it crashed or restarted): ready now.

        With *shards*, only runs of servers on those shards: the earlier process that ran
        them is this one's predecessor; another live process (other shards) keeps its own.
        """
        stamp = ts(now)
        where, params = self._on_shards(shards)
        return await self.db.execute(
            f"UPDATE {self.spec.table} SET owner = NULL, next_attempt = ?, updated_at = ? "
            f"WHERE {self.open_sql} AND owner IS NOT NULL AND owner != ?{where}",
            (stamp, stamp, owner, *params),
        )

    # -- one run ----------------------------------------------------------------------------

    async def get_run(self, key: int, run_key: str) -> R | None:
        row = await self.db.fetchone(
            f"SELECT * FROM {self.spec.table} WHERE {self._match}", (key, run_key)
        )
        return self._run(row) if row else None

    async def update(
        self,
        run: LeasedRun,
        now: datetime,
        *,
        conn: aiosqlite.Connection | None = None,
        also: str = "",
        only_from: str | None = None,
        **values: object,
    ) -> bool:
        """Set the run's columns *values* (names of the code), ``updated_at`` and *also*
        (SQL of the code, such as ``pid = CASE WHEN verify THEN pid END``); in *conn*'s
        transaction, or in one of its own. With *only_from*: only while the run is in that
        state. Whether the run was written."""
        return await self._write(run, now, conn, values, also, only_from)

    async def _write(
        self,
        run: LeasedRun,
        now: datetime,
        conn: aiosqlite.Connection | None,
        values: Mapping[str, object],
        also: str = "",
        only_from: str | None = None,
    ) -> bool:
        sets = [f"{name} = ?" for name in values] + ([also] if also else [])
        sql = f"UPDATE {self.spec.table} SET {', '.join(sets)}, updated_at = ? WHERE {self._match}"
        params: tuple[object, ...] = (*values.values(), ts(now), run.key, run.run_key)
        if only_from is not None:
            sql += " AND state = ?"
            params = (*params, only_from)
        if conn is None:
            return await self.db.execute(sql, params) > 0
        cur = await conn.execute(sql, params)
        return cur.rowcount > 0

    async def begin_attempt(
        self, run: LeasedRun, now: datetime, *, conn: aiosqlite.Connection | None = None
    ) -> None:
        """A send attempt is about to start (written before Discord is called): it may reach
        Discord from now on."""
        await self.start(run, now, conn=conn)

    async def start(
        self,
        run: LeasedRun,
        now: datetime,
        *,
        conn: aiosqlite.Connection | None = None,
        only_from: str | None = None,
        **values: object,
    ) -> bool:
        """:meth:`begin_attempt` that also sets *values* (``state``, the pick); with
        *only_from*, only from that state (whether the run was written)."""
        counted = "" if self.spec.count_leases else "attempts = attempts + 1"
        return await self.update(
            run,
            now,
            conn=conn,
            also=counted,
            only_from=only_from,
            verify=1,
            attempt_at=ts(now),
            **values,
        )

    async def begin_sending(
        self, run: LeasedRun, now: datetime, *, conn: aiosqlite.Connection, **values: object
    ) -> None:
        """:meth:`start` into ``sending`` with *values* (the pick), only from the pending
        state: a run closed while it picked (turned off) raises :class:`RunClosed`, with
        nothing written (in *conn*'s transaction, which the exception rolls back)."""
        pending = self.spec.pending
        if not await self.start(run, now, conn=conn, only_from=pending, state=SENDING, **values):
            raise RunClosed(run.run_key)

    async def close(
        self,
        run: LeasedRun,
        state: str,
        now: datetime,
        *,
        conn: aiosqlite.Connection | None = None,
        **values: object,
    ) -> None:
        """End the run in *state* (its lease and need to look cleared), setting *values*."""
        await self._write(run, now, conn, {"state": state, "owner": None, "verify": 0, **values})

    async def mark_retry(
        self, run: LeasedRun, *, next_attempt: datetime, error: str, verify: bool, now: datetime
    ) -> None:
        """Try again at *next_attempt* (lease released); *verify*: look first."""
        await self.update(
            run,
            now,
            owner=None,
            next_attempt=ts(next_attempt),
            error=error,
            verify=int(verify),
        )
