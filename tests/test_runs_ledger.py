"""The leased-run ledger (bot/store/runs.py) on both of its tables: the daily posts' runs and
the For you digest's. Real SQLite files; the runners' behaviour is tested in
test_daily_runner.py and test_recs_digest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.store.database import Database
from bot.store.recs import RecsRepo
from bot.store.runs import NewRun, RunLedger
from bot.store.schedules import ScheduleRepo

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
KEY = 5
LEASE = timedelta(minutes=10)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "bot.db").open()
    yield database
    await database.close()


async def armed(db: Database, kind: str) -> RunLedger[Any, Any]:
    """The ledger of *kind* with one recipient due at T0."""
    if kind == "daily":
        schedules = ScheduleRepo(db)
        await schedules.upsert(
            channel_id=KEY,
            guild_id=1,
            local_time="09:00",
            tz="UTC",
            topic=None,
            thread=False,
            role_id=None,
            next_run=T0,
            created_by=None,
            today_key="2026-04-01",
            now=T0,
        )
        return schedules
    recs = RecsRepo(db)
    await recs.set_digest(
        KEY,
        local_time="09:00",
        tz="UTC",
        cadence="daily",
        weekday=None,
        next_run=T0,
        origin_channel_id=None,
        now=T0,
    )
    return recs


def claim(run_key: str = "2026-04-01", expected: datetime = T0) -> NewRun:
    return NewRun(
        KEY,
        expected,
        T0 + timedelta(days=1),
        run_key=run_key,
        nonce="n",
        deadline=T0 + timedelta(hours=15),
        guild_id=1,
    )


@pytest.fixture(params=["daily", "digest"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_a_due_recipient_gets_one_run_and_moves_on(db: Database, kind: str) -> None:
    ledger = await armed(db, kind)
    assert len(await ledger.due(T0, 10)) == 1
    assert await ledger.open_runs([claim(expected=T0 - timedelta(days=1))], T0) == 0  # stale
    assert await ledger.open_runs([claim()], T0) == 1
    assert await ledger.due(T0, 10) == []  # next_run moved to tomorrow
    assert await ledger.next_wakeup() == T0  # the new run is ready now
    run = await ledger.get_run(KEY, "2026-04-01")
    assert run is not None and run.key == KEY and run.owner is None and not run.verify


async def test_a_restart_takes_over_only_its_predecessors_leases_at_once(
    db: Database, kind: str
) -> None:
    ledger = await armed(db, kind)
    await ledger.open_runs([claim()], T0)
    [held] = await ledger.lease(T0, owner="old", lease=LEASE, limit=10)
    assert held.owner == "old" and held.next_attempt == T0 + LEASE
    soon = T0 + timedelta(minutes=1)
    assert await ledger.lease(soon, owner="new", lease=LEASE, limit=10) == []  # still held
    assert await ledger.release_stale("new", soon) == 1  # the old process is gone
    [taken] = await ledger.lease(soon, owner="new", lease=LEASE, limit=10)
    assert taken.owner == "new"
    assert await ledger.release_stale("new", soon) == 0  # its own lease stays


async def test_attempts_count_leases_of_a_daily_post_and_sends_of_a_digest(
    db: Database, kind: str
) -> None:
    ledger = await armed(db, kind)
    await ledger.open_runs([claim()], T0)
    [run] = await ledger.lease(T0, owner="a", lease=LEASE, limit=10)
    assert run.attempts == (1 if kind == "daily" else 0)
    await ledger.begin_attempt(run, T0)
    after = await ledger.get_run(KEY, "2026-04-01")
    assert after is not None and after.verify and after.attempt_at == T0
    assert after.attempts == 1
    await ledger.mark_retry(run, next_attempt=T0 + LEASE, error="502", verify=False, now=T0)
    retried = await ledger.get_run(KEY, "2026-04-01")
    assert retried is not None and retried.owner is None and not retried.verify
    assert retried.error == "502" and retried.next_attempt == T0 + LEASE
