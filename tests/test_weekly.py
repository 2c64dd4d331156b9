"""Weekly digests (issue 11, item 6): the week's top papers once a week on one weekday, as one
list, with the daily posts' exactly-once rules, and never a paper already posted in the
channel. The runner runs against a real SQLite file, a fake clock and the fake Poster."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.schedule import timecalc
from bot.schedule.runner import WEEKLY_COUNT, ChannelUnavailable
from bot.schedule.timecalc import today_key
from bot.store.database import Database, load_migrations
from bot.store.papers import PaperRepo
from bot.store.schedules import SENDING, SENT, RunPaper
from tests.daily_support import (
    FakeClock,
    FakePoster,
    Harness,
    add_paper,
    add_ranked,
    turn_off_while_picking,
)

BERLIN = ZoneInfo("Europe/Berlin")
CH_A, CH_B = 2001, 2002
MONDAY, WEDNESDAY, SUNDAY = 0, 2, 6


def berlin(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "bot.db").open()
    yield database
    await database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(berlin(2024, 5, 1, 8, 0))  # a Wednesday


@pytest.fixture
def poster(clock: FakeClock) -> FakePoster:
    return FakePoster(clock)


@pytest.fixture
async def h(db: Database, clock: FakeClock, poster: FakePoster) -> Harness:
    await add_ranked(db, 30)
    return Harness(db, clock, poster)


def ranked(*numbers: int) -> list[str]:
    return [f"2405.0{n:04d}" for n in numbers]


# -- due times --------------------------------------------------------------------------------


def test_weekly_due_times_and_keys() -> None:
    nine = time(9, 0)
    wed_8 = berlin(2024, 5, 1, 8, 0)
    assert timecalc.next_run(nine, BERLIN, wed_8, WEDNESDAY) == berlin(2024, 5, 1, 9, 0)
    assert timecalc.next_run(nine, BERLIN, wed_8, MONDAY) == berlin(2024, 5, 6, 9, 0)
    after = berlin(2024, 5, 1, 9, 0)  # strictly after: next week
    assert timecalc.next_run(nine, BERLIN, after, WEDNESDAY) == berlin(2024, 5, 8, 9, 0)
    # Across the spring-forward change: Sunday 31 March 2024, 02:30 does not exist in Berlin.
    sat = berlin(2024, 3, 30, 12, 0)
    assert timecalc.next_run(time(2, 30), BERLIN, sat, SUNDAY) == berlin(2024, 3, 31, 3, 0)
    # On another weekday nothing is due, even past the time; on the day it is.
    assert timecalc.run_for(nine, BERLIN, berlin(2024, 5, 2, 10, 0), WEDNESDAY).run_date is None
    decision = timecalc.run_for(nine, BERLIN, berlin(2024, 5, 1, 10, 0), WEDNESDAY)
    assert decision.run_date == date(2024, 5, 1)
    assert decision.next_run == berlin(2024, 5, 8, 9, 0)
    assert timecalc.week_key(date(2024, 5, 1)) == "2024-W18"
    assert timecalc.week_key(date(2024, 12, 30)) == "2025-W01"  # ISO year
    assert today_key("Europe/Berlin", berlin(2024, 5, 3, 12, 0), weekly=True) == "2024-W18"
    assert timecalc.today_or_next(nine, BERLIN, berlin(2024, 5, 1, 10), WEDNESDAY) == after
    assert timecalc.today_or_next(nine, BERLIN, berlin(2024, 5, 2, 10), WEDNESDAY) == berlin(
        2024, 5, 8, 9, 0
    )


# -- posting --------------------------------------------------------------------------------------


async def test_the_weeks_top_papers_go_out_once_a_week_never_repeating(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin", weekday=WEDNESDAY)
    # Every 2 hours for two weeks: exactly one post each Wednesday at 09:00.
    await h.tick_every(berlin(2024, 5, 1, 8, 0), berlin(2024, 5, 14, 23, 0), timedelta(hours=2))
    posts = h.poster.in_channel(CH_A)
    assert [p.at for p in posts] == [berlin(2024, 5, 1, 10, 0), berlin(2024, 5, 8, 10, 0)]
    assert posts[0].paper_ids == tuple(ranked(1, 2, 3, 4, 5))  # best first
    assert posts[1].paper_ids == tuple(ranked(6, 7, 8, 9, 10))  # none repeated
    assert posts[0].context == "🗓️ This week's top papers"
    run = await h.repo.get_run(CH_A, "2024-W18")
    assert run is not None and run.state == SENT and run.pid is None
    listed = await h.repo.run_papers(run)
    assert [p.paper_id for p in listed] == ranked(1, 2, 3, 4, 5)
    assert [p.position for p in listed] == [1, 2, 3, 4, 5]
    schedule = await h.repo.get(CH_A)
    assert schedule is not None and schedule.last_status is not None
    assert schedule.last_status.startswith("posted 5 papers, first “Paper number 6”")


async def test_a_weekly_list_never_repeats_a_daily_post_of_the_channel(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")  # daily first
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    await h.tick_at(berlin(2024, 5, 2, 9, 0))
    assert [m.paper_id for m in h.poster.messages] == ranked(1, 2)
    await h.set(CH_A, "09:00", "Europe/Berlin", weekday=MONDAY)  # then weekly
    await h.set(CH_B, "09:00", "Europe/Berlin", weekday=MONDAY)
    await h.tick_at(berlin(2024, 5, 6, 9, 0))
    assert h.poster.in_channel(CH_A)[-1].paper_ids == tuple(ranked(3, 4, 5, 6, 7))
    # ...and another channel is not affected by what was posted there.
    assert h.poster.in_channel(CH_B)[0].paper_ids == tuple(ranked(1, 2, 3, 4, 5))
    # back to daily: the papers of the weekly list are not posted again either
    await h.set(CH_B, "10:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 6, 10, 0))
    assert h.poster.in_channel(CH_B)[-1].paper_id == ranked(6)[0]


async def test_the_database_refuses_a_paper_twice_in_a_channel(h: Harness, db: Database) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 1, 9, 0))  # daily: paper 1
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.pid is not None
    await h.set(CH_A, "09:00", "Europe/Berlin", weekday=WEDNESDAY)
    weekly, _ = await h.repo.create_run(
        channel_id=CH_A,
        guild_id=1,
        run_key="2024-W18",
        nonce="n",
        deadline=berlin(2024, 5, 1, 23, 59),
        owner=None,
        leased_until=berlin(2024, 5, 1, 9, 0),
        now=berlin(2024, 5, 1, 9, 0),
    )
    taken = RunPaper(1, run.pid, "2405.00001", "Paper number 1")
    assert not await h.repo.begin_send_list(weekly, [taken], title="t", now=berlin(2024, 5, 1, 9))
    other_pid = run.pid + 1
    fresh = RunPaper(1, other_pid, "2405.00002", "Paper number 2")
    assert await h.repo.begin_send_list(weekly, [fresh], title="t", now=berlin(2024, 5, 1, 9))
    # the other way round: a daily run cannot take a paper of a weekly list
    with pytest.raises(sqlite3.IntegrityError):
        await db.execute(
            "UPDATE daily_runs SET pid = ? WHERE channel_id = ? AND run_key = ?",
            (other_pid, CH_A, "2024-05-01"),
        )


async def test_fewer_papers_left_then_none_is_said_once(db: Database, clock: FakeClock) -> None:
    poster = FakePoster(clock)
    await add_ranked(db, 7)
    h = Harness(db, clock, poster)
    await h.set(CH_A, "09:00", "Europe/Berlin", weekday=WEDNESDAY)
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    await h.tick_at(berlin(2024, 5, 8, 9, 0))
    await h.tick_at(berlin(2024, 5, 15, 9, 0))
    await h.tick_at(berlin(2024, 5, 22, 9, 0))
    first, second, notice = poster.messages
    assert len(first.paper_ids) == WEEKLY_COUNT and second.paper_ids == tuple(ranked(6, 7))
    assert notice.paper_id is None and notice.text is not None
    assert notice.text.startswith("📭 No top papers this week: I have already posted")


async def test_a_restart_between_send_and_record_posts_the_week_once(
    db: Database, clock: FakeClock, poster: FakePoster, tmp_path: Path
) -> None:
    await add_ranked(db, 12)
    first = Harness(db, clock, poster)
    await first.set(CH_A, "09:00", "Europe/Berlin", weekday=WEDNESDAY)
    poster.hang_after.add(CH_A)  # Discord has the message; the process dies before recording
    clock.set(berlin(2024, 5, 1, 9, 0))
    task = asyncio.create_task(first.runner.tick())
    await asyncio.wait_for(poster.hanging.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    run = await first.repo.get_run(CH_A, "2024-W18")
    assert run is not None and run.state == SENDING and run.verify
    assert len(await first.repo.run_papers(run)) == WEEKLY_COUNT  # written before Discord

    await db.close()
    db2 = await Database(tmp_path / "bot.db").open()
    try:
        poster.hang_after.clear()
        poster.nonce_window = timedelta(0)  # past Discord's dedupe window: only the look helps
        second = Harness(db2, clock, poster)
        await second.tick_at(berlin(2024, 5, 1, 9, 30))
        await second.tick_at(berlin(2024, 5, 1, 12, 0))
        assert len(poster.messages) == 1 and ("find", CH_A) in poster.calls
        run = await second.repo.get_run(CH_A, "2024-W18")
        assert run is not None and run.state == SENT
        assert run.message_id == poster.messages[0].message_id
        await second.tick_at(berlin(2024, 5, 8, 9, 0))
        assert poster.messages[1].paper_ids == tuple(ranked(6, 7, 8, 9, 10))
    finally:
        await db2.close()


async def test_a_failed_week_frees_its_papers_unless_they_may_be_out(h: Harness) -> None:
    from tests.daily_support import transient

    await h.set(CH_A, "09:00", "Europe/Berlin", weekday=WEDNESDAY)
    # a definite refusal all day (never reached Discord): the week is given up at midnight
    h.poster.failures[CH_A] = [transient("429", maybe_sent=False) for _ in range(100)]
    await h.tick_every(berlin(2024, 5, 1, 9, 0), berlin(2024, 5, 2, 0, 30), timedelta(minutes=20))
    run = await h.repo.get_run(CH_A, "2024-W18")
    assert run is not None and run.state == "failed"
    assert await h.repo.run_papers(run) == []  # freed: they can be next week's
    h.poster.failures[CH_A].clear()
    await h.tick_at(berlin(2024, 5, 8, 9, 0))
    assert h.poster.messages[-1].paper_ids == tuple(ranked(1, 2, 3, 4, 5))


async def test_post_now_and_preview_of_a_weekly_schedule(h: Harness) -> None:
    schedule = await h.set(CH_A, "09:00", "Europe/Berlin", weekday=MONDAY)
    preview = await h.runner.preview_list(schedule)
    assert [p.id for p in preview] == ranked(1, 2, 3, 4, 5)
    outcome = await h.runner.post_now(schedule, "interaction-1")
    assert outcome.status == "sent" and outcome.papers == WEEKLY_COUNT
    assert h.poster.messages[-1].paper_ids == tuple(ranked(1, 2, 3, 4, 5))
    assert h.poster.messages[-1].role_id is None
    again = await h.runner.post_now(schedule, "interaction-1")
    assert again.status == "skipped" and len(h.poster.messages) == 1
    assert [p.id for p in await h.runner.preview_list(schedule)] == ranked(6, 7, 8, 9, 10)


async def test_a_post_blocked_on_its_day_goes_out_when_resumed_later_that_week(h: Harness) -> None:
    """/daily resume says "If this week's post is due and hasn't gone out yet, it goes out
    now": a Monday post refused for a missing permission, fixed and resumed on Wednesday."""
    await h.set(CH_A, "09:00", "Europe/Berlin", weekday=MONDAY)
    h.poster.failures[CH_A].append(ChannelUnavailable("missing permission: Embed Links"))
    await h.tick_at(berlin(2024, 5, 6, 9, 0))
    schedule = await h.repo.get(CH_A)
    assert schedule is not None and schedule.paused_reason is not None
    assert h.poster.in_channel(CH_A) == []
    h.clock.set(berlin(2024, 5, 8, 10, 0))  # Wednesday: the admin fixes it and resumes
    await h.service.resume(schedule)
    await h.tick_at(berlin(2024, 5, 8, 10, 0))
    await h.tick_at(berlin(2024, 5, 8, 11, 0))
    run = await h.repo.get_run(CH_A, "2024-W19")
    assert run is not None and run.state == SENT, (run and run.state, run and run.error)
    assert len(h.poster.in_channel(CH_A)) == 1


async def test_a_listed_paper_that_left_the_store_and_came_back_is_not_listed_again(
    h: Harness,
) -> None:
    """A weekly list's papers are the channel's history even when one leaves the store (an
    import undone) and is loaded again under a new row id: not listed a second time."""
    await h.set(CH_A, "09:00", "Europe/Berlin", weekday=WEDNESDAY)
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    [first] = h.poster.in_channel(CH_A)
    assert first.paper_ids == tuple(ranked(1, 2, 3, 4, 5))
    third = ranked(3)[0]
    assert await PaperRepo(h.db).delete(third)
    await add_paper(h.db, third, "Paper number 3", rank=3)  # loaded again, a new pid
    run = await h.repo.get_run(CH_A, "2024-W18")
    assert run is not None
    assert [p.paper_id for p in await h.repo.run_papers(run)] == ranked(1, 2, 3, 4, 5)
    h.runner.picker.invalidate()
    await h.tick_at(berlin(2024, 5, 8, 9, 0))
    assert h.poster.in_channel(CH_A)[-1].paper_ids == tuple(ranked(6, 7, 8, 9, 10))


async def test_the_upgrade_to_lists_that_outlive_their_papers_keeps_every_list(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 10 rebuilds run_papers without 0007's ON DELETE CASCADE on the paper: a
    database of version 9 keeps its lists, and its two checks (a paper at most once in a
    channel) still hold afterwards."""
    path = tmp_path / "bot.db"
    db = await Database(path).open()
    await add_ranked(db, 30)
    h = Harness(db, clock, FakePoster(clock))
    await h.set(CH_A, "09:00", "Europe/Berlin", weekday=WEDNESDAY)
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    await db.close()
    # Back to version 9: run_papers as 0007 created it, with the same rows.
    v7 = (resources.files("bot.store.migrations") / "0007_reach.sql").read_text()
    create_v7 = v7[v7.index("CREATE TABLE run_papers") :]
    conn = sqlite3.connect(path)
    conn.executescript(
        "DROP TRIGGER daily_runs_once_in_lists; DROP TRIGGER run_papers_once;"
        "ALTER TABLE run_papers RENAME TO run_papers_v10; DROP INDEX run_papers_run;"
        "DROP INDEX run_papers_paper; DROP INDEX daily_runs_paper;"
        + create_v7
        + "INSERT INTO run_papers SELECT * FROM run_papers_v10; DROP TABLE run_papers_v10;"
        "PRAGMA user_version = 9;"
    )
    before = {r[2] for r in conn.execute("PRAGMA foreign_key_list(run_papers)")}
    conn.close()
    assert before == {"daily_runs", "papers"}

    # Version 9 to 10 alone (later migrations expect what they create not to exist yet).
    upto_10 = [m for m in load_migrations() if m.version <= 10]
    monkeypatch.setattr("bot.store.database.load_migrations", lambda: upto_10)
    db = await Database(path).open()
    try:
        assert await db.schema_version() == 10
        rows = await db.fetchall("SELECT paper_id, position FROM run_papers ORDER BY position")
        assert [(r[0], r[1]) for r in rows] == [
            (p, n) for n, p in enumerate(ranked(1, 2, 3, 4, 5), 1)
        ]
        referenced = {r[2] for r in await db.fetchall("PRAGMA foreign_key_list(run_papers)")}
        assert referenced == {"daily_runs"}
        pid = await db.fetchval("SELECT pid FROM papers WHERE id = ?", (ranked(2)[0],))
        with pytest.raises(sqlite3.IntegrityError, match="already posted"):
            await db.execute(
                "UPDATE daily_runs SET pid = ? WHERE channel_id = ? AND run_key = '2024-W18'",
                (pid, CH_A),
            )
        assert await PaperRepo(db).delete(ranked(2)[0])
        assert await db.fetchval("SELECT count(*) FROM run_papers") == WEEKLY_COUNT
    finally:
        await db.close()


async def test_daily_off_during_the_weeks_pick_posts_nothing(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin", weekday=WEDNESDAY)
    calls = turn_off_while_picking(h, CH_A)
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert calls and h.poster.messages == []
    run = await h.repo.get_run(CH_A, today_key("Europe/Berlin", berlin(2024, 5, 1, 9), weekly=True))
    assert run is not None and run.state == "skipped"
    assert await h.repo.run_papers(run) == []  # its picks are not kept: free again
    assert await h.repo.posted_pids(CH_A) == set()
