"""The daily-post runner against a real SQLite file, a fake clock and a fake Poster.

Covers: posting once per local day (DST both ways), catch-up after downtime without
flooding, crash between send and record (no double post), pause on 403/404 and resume,
retries on 5xx/429 the same day, topics with no match, exhaustion (said once), several
channels, one failing channel not blocking the others, votes, manual posts, and scale.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.schedule.leased import retry_delay
from bot.schedule.runner import (
    ChannelUnavailable,
    DailyRunner,
    PostReceipt,
    PostRequest,
    make_nonce,
)
from bot.schedule.timecalc import today_or_next
from bot.shards import ShardSet
from bot.store.database import Database
from bot.store.papers import PaperRepo
from bot.store.schedules import BLOCKED, FAILED, SENDING, SENT, ScheduleRepo
from tests.daily_support import (
    FakeClock,
    FakePoster,
    Harness,
    add_paper,
    add_ranked,
    transient,
    turn_off_while_picking,
)

BERLIN = ZoneInfo("Europe/Berlin")
CH_A, CH_B, CH_C = 1001, 1002, 1003


def berlin(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "bot.db").open()
    yield database
    await database.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(berlin(2024, 5, 1, 8, 0))


@pytest.fixture
def poster(clock: FakeClock) -> FakePoster:
    return FakePoster(clock)


@pytest.fixture
async def h(db: Database, clock: FakeClock, poster: FakePoster) -> Harness:
    await add_ranked(db, 10)
    return Harness(db, clock, poster)


async def test_posts_once_at_the_local_time_and_not_again_that_day(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 1, 8, 59, 59))
    assert h.poster.messages == []
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    posted = h.poster.in_channel(CH_A)
    assert [m.paper_id for m in posted] == ["2405.00001"]
    assert posted[0].context == "📈 Trending today"
    assert posted[0].role_id is None
    for minute in range(1, 600, 7):
        await h.tick_at(berlin(2024, 5, 1, 9, 0) + timedelta(minutes=minute))
    assert len(h.poster.in_channel(CH_A)) == 1
    await h.tick_at(berlin(2024, 5, 2, 9, 0))
    assert [m.paper_id for m in h.poster.in_channel(CH_A)] == ["2405.00001", "2405.00002"]
    schedule = await h.repo.get(CH_A)
    assert schedule is not None
    assert schedule.last_status == "posted “Paper number 2”"
    assert schedule.next_run == berlin(2024, 5, 3, 9, 0)


async def test_nine_berlin_stays_nine_local_across_both_dst_changes(
    db: Database, clock: FakeClock, poster: FakePoster
) -> None:
    await add_ranked(db, 40)
    h = Harness(db, clock, poster)
    for start in (berlin(2024, 3, 28, 10), berlin(2024, 10, 24, 10)):
        clock.set(start)
        await h.set(CH_A, "09:00", "Europe/Berlin")
        # tick every 15 minutes for 6 days around the change
        await h.tick_every(start, start + timedelta(days=6), timedelta(minutes=15))
    local = [m.at.astimezone(BERLIN) for m in poster.messages]
    assert len(local) == 12
    assert all((t.hour, t.minute) == (9, 0) for t in local)
    assert len({t.date() for t in local}) == 12
    assert date(2024, 3, 31) in {t.date() for t in local}
    assert date(2024, 10, 27) in {t.date() for t in local}


async def test_spring_forward_nonexistent_time_posts_at_first_valid_minute(h: Harness) -> None:
    h.clock.set(berlin(2024, 3, 30, 12))
    await h.set(CH_A, "02:30", "Europe/Berlin")
    # every minute through the night of the change
    await h.tick_every(
        datetime(2024, 3, 30, 23, 0, tzinfo=UTC),
        datetime(2024, 3, 31, 3, 0, tzinfo=UTC),
        timedelta(minutes=1),
    )
    posted = h.poster.in_channel(CH_A)
    assert len(posted) == 1
    assert posted[0].at == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)
    assert posted[0].at.astimezone(BERLIN).strftime("%H:%M") == "03:00"


async def test_fall_back_ambiguous_time_posts_once(h: Harness) -> None:
    h.clock.set(berlin(2024, 10, 26, 12))
    await h.set(CH_A, "02:30", "Europe/Berlin")
    await h.tick_every(
        datetime(2024, 10, 26, 23, 0, tzinfo=UTC),
        datetime(2024, 10, 27, 4, 0, tzinfo=UTC),
        timedelta(minutes=1),
    )
    posted = h.poster.in_channel(CH_A)
    assert len(posted) == 1
    assert posted[0].at == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # the first 02:30


async def test_due_while_down_posts_once_on_return_the_same_day(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    # the bot was down from 08:00 to 13:17
    await h.tick_at(berlin(2024, 5, 1, 13, 17))
    await h.tick_at(berlin(2024, 5, 1, 13, 18))
    await h.tick_at(berlin(2024, 5, 1, 23, 59))
    assert len(h.poster.in_channel(CH_A)) == 1
    assert h.poster.messages[0].at == berlin(2024, 5, 1, 13, 17)


async def test_several_days_down_posts_only_today(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert len(h.poster.messages) == 1
    # down from May 1 10:00 until May 5 10:30: May 2, 3, 4 are not made up for
    await h.tick_at(berlin(2024, 5, 5, 10, 30))
    await h.tick_at(berlin(2024, 5, 5, 11, 0))
    assert len(h.poster.messages) == 2
    # back before today's time: the missed days are skipped, today's goes out at 09:00
    await h.tick_at(berlin(2024, 5, 9, 8, 0))
    assert len(h.poster.messages) == 2
    await h.tick_at(berlin(2024, 5, 9, 9, 0))
    assert len(h.poster.messages) == 3


@pytest.mark.parametrize("dedupe_window_minutes", [5, 0])
async def test_crash_between_send_and_record_does_not_post_twice(
    db: Database,
    clock: FakeClock,
    poster: FakePoster,
    tmp_path: Path,
    dedupe_window_minutes: int,
) -> None:
    await add_ranked(db, 5)
    poster.nonce_window = timedelta(minutes=dedupe_window_minutes)
    first = Harness(db, clock, poster)
    await first.set(CH_A, "09:00", "Europe/Berlin")
    poster.hang_after.add(CH_A)  # Discord got the message; the process dies before recording
    clock.set(berlin(2024, 5, 1, 9, 0))
    task = asyncio.create_task(first.runner.tick())
    await asyncio.wait_for(poster.hanging.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(poster.messages) == 1
    run = await first.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.state == SENDING and run.verify

    # restart: a new process (new runner, new connection) some minutes later
    await db.close()
    db2 = await Database(tmp_path / "bot.db").open()
    try:
        poster.hang_after.clear()
        second = Harness(db2, clock, poster)
        await second.tick_at(berlin(2024, 5, 1, 9, 20))
        await second.tick_at(berlin(2024, 5, 1, 9, 40))
        assert len(poster.messages) == 1
        run = await second.repo.get_run(CH_A, "2024-05-01")
        assert run is not None and run.state == SENT
        assert run.message_id == poster.messages[0].message_id
        await second.tick_at(berlin(2024, 5, 2, 9, 0))
        assert [m.paper_id for m in poster.messages] == ["2405.00001", "2405.00002"]
    finally:
        await db2.close()


async def test_crash_after_recording_sending_but_before_discord_posts_once(
    db: Database, clock: FakeClock, poster: FakePoster, tmp_path: Path
) -> None:
    await add_ranked(db, 5)
    first = Harness(db, clock, poster)
    await first.set(CH_A, "09:00", "Europe/Berlin")
    poster.hang_before.add(CH_A)  # the request never reached Discord
    clock.set(berlin(2024, 5, 1, 9, 0))
    task = asyncio.create_task(first.runner.tick())
    await asyncio.wait_for(poster.hanging.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert poster.messages == []
    await db.close()
    db2 = await Database(tmp_path / "bot.db").open()
    try:
        poster.hang_before.clear()
        second = Harness(db2, clock, poster)
        await second.tick_at(berlin(2024, 5, 1, 11, 0))
        await second.tick_at(berlin(2024, 5, 1, 11, 5))
        assert [m.paper_id for m in poster.messages] == ["2405.00001"]  # the same pick
        assert ("find", CH_A) in poster.calls  # it looked before resending
    finally:
        await db2.close()


async def test_forbidden_pauses_the_schedule_and_resume_posts_the_same_day(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    h.poster.failures[CH_A].append(ChannelUnavailable("missing permission: Send Messages"))
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    schedule = await h.repo.get(CH_A)
    assert schedule is not None
    assert schedule.paused_reason == "missing permission: Send Messages"
    assert schedule.last_status == "paused: missing permission: Send Messages"
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.state == BLOCKED
    sends = len(h.poster.calls)
    for hour in (10, 11, 12):
        await h.tick_at(berlin(2024, 5, 1, hour))
    await h.tick_at(berlin(2024, 5, 2, 9, 0))
    assert len(h.poster.calls) == sends  # paused: nothing tried
    assert h.poster.messages == []
    # the admin fixes the permission and resumes on May 2 at 10:00: May 2's post goes out
    # at once (May 1 is not made up for), exactly once
    h.clock.set(berlin(2024, 5, 2, 10, 0))
    resumed = await h.repo.resume(
        CH_A,
        next_run=today_or_next(time(9, 0), BERLIN, h.clock.now()),
        today_key="2024-05-02",
        now=h.clock.now(),
    )
    assert resumed is not None and resumed.paused_reason is None
    await h.tick_at(berlin(2024, 5, 2, 10, 0))
    await h.tick_at(berlin(2024, 5, 2, 11, 0))
    assert [m.at for m in h.poster.messages] == [berlin(2024, 5, 2, 10, 0)]
    old = await h.repo.get_run(CH_A, "2024-05-01")
    assert old is not None and old.state == "skipped"


async def test_blocked_run_resumes_the_same_day(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    h.poster.failures[CH_A].append(ChannelUnavailable("missing permission: Embed Links"))
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert h.poster.messages == []
    h.clock.set(berlin(2024, 5, 1, 15, 0))
    await h.set(CH_A, "09:00", "Europe/Berlin")  # re-set by an admin after fixing it
    await h.tick_at(berlin(2024, 5, 1, 15, 0))
    await h.tick_at(berlin(2024, 5, 1, 16, 0))
    assert len(h.poster.messages) == 1
    assert h.poster.messages[0].at == berlin(2024, 5, 1, 15, 0)
    await h.tick_at(berlin(2024, 5, 2, 9, 0))
    assert len(h.poster.messages) == 2


async def test_deleted_channel_pauses_and_other_day_runs_are_dropped_on_resume(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    h.poster.failures[CH_A].append(ChannelUnavailable("the channel was deleted"))
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    schedule = await h.repo.get(CH_A)
    assert schedule is not None and schedule.paused_reason == "the channel was deleted"
    h.clock.set(berlin(2024, 5, 3, 8, 0))
    resumed = await h.repo.resume(
        CH_A,
        next_run=today_or_next(time(9, 0), BERLIN, h.clock.now()),
        today_key="2024-05-03",
        now=h.clock.now(),
    )
    assert resumed is not None
    await h.tick_at(berlin(2024, 5, 3, 8, 30))
    assert h.poster.messages == []  # May 1 is not made up for
    await h.tick_at(berlin(2024, 5, 3, 9, 0))
    assert len(h.poster.messages) == 1


async def test_transient_errors_are_retried_with_backoff_the_same_day(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    h.poster.failures[CH_A].extend(
        [
            transient("500 Internal Server Error"),
            transient("429 Too Many Requests", retry_after=7.0, maybe_sent=False),
        ]
    )
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert h.poster.messages == []
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None
    assert run.error == "500 Internal Server Error"
    assert run.verify  # a 5xx may have gone through: look before resending
    first_retry = run.next_attempt
    assert berlin(2024, 5, 1, 9, 0, 30) <= first_retry <= berlin(2024, 5, 1, 9, 1)
    await h.tick_at(first_retry - timedelta(seconds=1))
    assert h.poster.calls.count(("send", CH_A)) == 1  # not before its time
    await h.tick_at(first_retry)
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.error == "429 Too Many Requests" and not run.verify
    assert run.next_attempt - first_retry >= timedelta(seconds=8)  # retry_after honoured
    await h.tick_at(run.next_attempt)
    assert [m.paper_id for m in h.poster.messages] == ["2405.00001"]
    await h.tick_at(berlin(2024, 5, 1, 18, 0))
    assert len(h.poster.messages) == 1


async def test_errors_all_day_give_up_at_midnight_and_the_next_day_is_fresh(h: Harness) -> None:
    await h.set(CH_A, "23:00", "Europe/Berlin")
    h.poster.failures[CH_A].extend([transient()] * 50)
    await h.tick_every(berlin(2024, 5, 1, 23, 0), berlin(2024, 5, 2, 0, 30), timedelta(minutes=1))
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.state == FAILED
    schedule = await h.repo.get(CH_A)
    assert schedule is not None and schedule.last_status is not None
    assert schedule.last_status.startswith("could not post 2024-05-01")
    h.poster.failures[CH_A].clear()
    await h.tick_at(berlin(2024, 5, 2, 23, 0))
    assert len(h.poster.messages) == 1


async def test_topic_without_match_says_so_once(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin", topic="quantum")
    for day in range(1, 5):
        await h.tick_at(berlin(2024, 5, day, 9, 0))
    posted = h.poster.in_channel(CH_A)
    assert len(posted) == 1
    assert posted[0].paper_id is None
    assert posted[0].text is not None and "“quantum”" in posted[0].text
    assert "/daily set" in posted[0].text
    schedule = await h.repo.get(CH_A)
    assert schedule is not None and schedule.exhausted_at is not None
    assert schedule.last_status == "nothing left to post matching “quantum”"
    # a matching paper arrives: posted next day, and "nothing left" is re-armed
    await add_paper(h.db, "2405.09999", "Quantum error correction at scale", rank=30)
    h.runner.picker.invalidate()  # type: ignore[attr-defined]
    await h.tick_at(berlin(2024, 5, 5, 9, 0))
    await h.tick_at(berlin(2024, 5, 6, 9, 0))
    posted = h.poster.in_channel(CH_A)
    assert [m.paper_id for m in posted] == [None, "2405.09999", None]


async def test_store_exhaustion_is_announced_once_and_never_repeats_a_paper(
    db: Database, clock: FakeClock, poster: FakePoster
) -> None:
    await add_ranked(db, 3)
    h = Harness(db, clock, poster)
    await h.set(CH_A, "09:00", "Europe/Berlin")
    for day in range(1, 9):
        await h.tick_at(berlin(2024, 5, day, 9, 0))
    ids = [m.paper_id for m in poster.messages]
    assert ids == ["2405.00001", "2405.00002", "2405.00003", None]
    assert poster.messages[3].text is not None and "load more papers" in poster.messages[3].text


async def test_two_channels_in_one_server_with_their_own_time_zone_and_topic(
    db: Database, clock: FakeClock, poster: FakePoster
) -> None:
    await add_ranked(db, 5)
    await add_paper(db, "2405.07777", "Diffusion models for proteins", rank=40)
    h = Harness(db, clock, poster)
    await h.set(CH_A, "09:00", "Europe/Berlin", role_id=555, thread=True)
    await h.set(CH_B, "09:00", "America/New_York", topic="diffusion")
    await h.tick_every(berlin(2024, 5, 1, 8), berlin(2024, 5, 2, 8), timedelta(minutes=10))
    a, b = poster.in_channel(CH_A), poster.in_channel(CH_B)
    assert [m.paper_id for m in a] == ["2405.00001"]
    assert a[0].role_id == 555 and a[0].thread_id is not None
    assert [m.paper_id for m in b] == ["2405.07777"]
    assert b[0].role_id is None and b[0].thread_id is None
    assert b[0].context == "📈 Trending today · diffusion"
    assert b[0].at == datetime(2024, 5, 1, 13, 0, tzinfo=UTC)  # 09:00 EDT


async def test_one_failing_channel_does_not_block_the_others(
    db: Database, clock: FakeClock, poster: FakePoster
) -> None:
    await add_ranked(db, 5)
    h = Harness(db, clock, poster, post_timeout=0.2)
    for ch in (CH_A, CH_B, CH_C):
        await h.set(ch, "09:00", "Europe/Berlin")
    poster.hang_before.add(CH_A)  # never answers
    poster.failures[CH_B].append(RuntimeError("bug in somebody's code"))
    h.clock.set(berlin(2024, 5, 1, 9, 0))
    await asyncio.wait_for(h.runner.tick(), timeout=10)
    assert [m.channel_id for m in poster.messages] == [CH_C]
    run_a = await h.repo.get_run(CH_A, "2024-05-01")
    run_b = await h.repo.get_run(CH_B, "2024-05-01")
    assert run_a is not None and run_a.error == "Discord did not answer in time"
    assert run_b is not None and run_b.error == "internal error: RuntimeError"
    poster.hang_before.clear()
    await h.tick_at(berlin(2024, 5, 1, 9, 30))
    assert sorted(m.channel_id for m in poster.messages) == [CH_A, CH_B, CH_C]


async def test_server_votes_change_that_servers_pick_only(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin", guild_id=1)
    await h.set(CH_B, "09:00", "Europe/Berlin", guild_id=2)
    pid7 = await h.db.fetchval("SELECT pid FROM papers WHERE id = '2405.00007'")
    vote_time = berlin(2024, 5, 1, 8, 30).isoformat(timespec="seconds")
    for user in (1, 2, 3):
        await h.db.execute(
            "INSERT INTO votes(guild_id, user_id, pid, created_at) VALUES (1, ?, ?, ?)",
            (user, pid7, vote_time),
        )
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert h.poster.in_channel(CH_A)[0].paper_id == "2405.00007"
    assert h.poster.in_channel(CH_B)[0].paper_id == "2405.00001"


async def test_post_now_is_extra_idempotent_and_never_pings(h: Harness) -> None:
    schedule = await h.set(CH_A, "09:00", "Europe/Berlin", role_id=555)
    out = await h.runner.post_now(schedule, "interaction-1")
    assert out.status == "sent" and out.paper_id == "2405.00001"
    again = await h.runner.post_now(schedule, "interaction-1")
    assert again.status == "skipped"
    assert len(h.poster.messages) == 1 and h.poster.messages[0].role_id is None
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert [m.paper_id for m in h.poster.messages] == ["2405.00001", "2405.00002"]
    assert h.poster.messages[1].role_id == 555


async def test_preview_shows_the_next_pick_without_recording(h: Harness) -> None:
    schedule = await h.set(CH_A, "09:00", "Europe/Berlin")
    paper = await h.runner.preview(schedule)
    assert paper is not None and paper.id == "2405.00001"
    assert await h.repo.posted_pids(CH_A) == set()
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    schedule2 = await h.repo.get(CH_A)
    assert schedule2 is not None
    nxt = await h.runner.preview(schedule2)
    assert nxt is not None and nxt.id == "2405.00002"


async def test_turning_a_channel_off_stops_it_and_keeps_its_history(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert await h.repo.delete(CH_A, now=h.clock.now())
    await h.tick_at(berlin(2024, 5, 2, 9, 0))
    assert len(h.poster.messages) == 1
    h.clock.set(berlin(2024, 5, 3, 8, 0))
    await h.set(CH_A, "09:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 3, 9, 0))
    assert [m.paper_id for m in h.poster.messages] == ["2405.00001", "2405.00002"]


async def test_changing_the_time_after_todays_post_does_not_post_again(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    h.clock.set(berlin(2024, 5, 1, 10, 0))
    await h.set(CH_A, "18:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 1, 18, 0))
    assert len(h.poster.messages) == 1
    await h.tick_at(berlin(2024, 5, 2, 18, 0))
    assert len(h.poster.messages) == 2


async def test_many_schedules_due_in_the_same_minute_all_post_once(
    db: Database, clock: FakeClock, poster: FakePoster
) -> None:
    await add_ranked(db, 3)
    h = Harness(db, clock, poster, concurrency=64)
    repo = h.repo
    now = clock.now()
    due = berlin(2024, 5, 1, 9, 0)
    async with db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO schedules(channel_id, guild_id, local_time, tz, next_run, created_at, "
            "updated_at) VALUES (?, ?, '09:00', 'Europe/Berlin', ?, ?, ?)",
            [
                (10_000 + i, i % 97, due.isoformat(), now.isoformat(), now.isoformat())
                for i in range(2000)
            ],
        )
    clock.set(due)
    processed = await h.runner.tick()
    assert processed == 2000
    assert len(poster.messages) == 2000
    assert len({m.channel_id for m in poster.messages}) == 2000
    assert await h.runner.tick() == 0
    assert await repo.count() == 2000


async def test_run_forever_survives_failures_and_wakes_for_due_posts(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    real_due = h.repo.due
    calls = {"n": 0}

    async def flaky_due(now: datetime, limit: int, **kw):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OSError("disk hiccup")
        return await real_due(now, limit, **kw)

    h.repo.due = flaky_due  # type: ignore[method-assign]
    task = asyncio.create_task(h.runner.run_forever())
    deadline = asyncio.get_running_loop().time() + 20  # generous: a loaded CI machine
    try:
        for _ in range(100_000):
            if h.poster.messages or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.005)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert [m.paper_id for m in h.poster.messages] == ["2405.00001"]
    assert h.poster.messages[0].at >= berlin(2024, 5, 1, 9, 0)
    assert h.poster.messages[0].at < berlin(2024, 5, 1, 9, 2)
    assert "daily scheduler tick failed (2 in a row)" in caplog.text


async def test_stop_ends_the_loop_even_when_a_cancellation_is_lost(h: Harness) -> None:
    # What asyncio can do when a cancellation meets a failing TaskGroup child: the loop sees
    # an ordinary exception instead of CancelledError. stop() must end it all the same.
    async def failing_due(now: datetime, limit: int, **kw):  # type: ignore[no-untyped-def]
        raise ExceptionGroup("runs failed", [RuntimeError("session closed")])

    h.repo.due = failing_due  # type: ignore[method-assign]
    await h.set(CH_A, "09:00", "Europe/Berlin")
    task = asyncio.create_task(h.runner.run_forever())
    await asyncio.sleep(0.05)
    assert not task.done()  # failures alone never end the loop
    h.runner.stop()
    await asyncio.wait_for(task, 2)  # returns, without being cancelled
    assert task.done() and not task.cancelled()


async def test_a_second_runner_cannot_claim_the_same_day(
    db: Database, clock: FakeClock, poster: FakePoster
) -> None:
    await add_ranked(db, 5)
    one = Harness(db, clock, poster)
    two = Harness(db, clock, poster)
    await one.set(CH_A, "09:00", "Europe/Berlin")
    clock.set(berlin(2024, 5, 1, 9, 0))
    await asyncio.gather(one.runner.tick(), two.runner.tick())
    assert len(poster.messages) == 1


def test_nonce_is_deterministic_and_fits_discord() -> None:
    assert make_nonce(1, "2024-05-01") == make_nonce(1, "2024-05-01")
    assert make_nonce(1, "2024-05-01") != make_nonce(1, "2024-05-02")
    assert make_nonce(2, "2024-05-01") != make_nonce(1, "2024-05-01")
    assert len(make_nonce(123456789012345678, "now:1234567890123456789")) <= 25


def test_retry_delay_backs_off_and_honours_retry_after() -> None:
    delays = [retry_delay(n, None, 7) for n in range(1, 9)]
    assert delays == sorted(delays)
    assert 30 <= delays[0] < 40 and delays[-1] <= 900 * 1.25
    assert 5.0 <= retry_delay(3, 4.0, 7) <= 7.0


async def test_paused_schedule_is_not_claimed(db: Database, clock: FakeClock) -> None:
    repo = ScheduleRepo(db)
    await repo.upsert(
        channel_id=CH_A,
        guild_id=1,
        local_time="09:00",
        tz="Europe/Berlin",
        topic=None,
        thread=False,
        role_id=None,
        next_run=berlin(2024, 5, 1, 9),
        created_by=None,
        today_key="2024-05-01",
        now=clock.now(),
    )
    await repo.pause(CH_A, reason="test", now=clock.now())
    assert await repo.due(berlin(2024, 5, 2, 0), 10) == []


async def test_runner_default_clock_is_utc(db: Database) -> None:
    runner = DailyRunner(ScheduleRepo(db), None, None, None)  # type: ignore[arg-type]
    now = runner.clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


async def test_paper_deleted_after_an_unrecorded_post_is_still_recognised(
    db: Database, clock: FakeClock, poster: FakePoster, tmp_path: Path
) -> None:
    await add_ranked(db, 5)
    first = Harness(db, clock, poster)
    await first.set(CH_A, "09:00", "Europe/Berlin")
    poster.hang_after.add(CH_A)
    clock.set(berlin(2024, 5, 1, 9, 0))
    task = asyncio.create_task(first.runner.tick())
    await asyncio.wait_for(poster.hanging.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # while the bot is down, the posted paper is removed from the store
    assert await PaperRepo(db).delete("2405.00001")
    poster.hang_after.clear()
    second = Harness(db, clock, poster)
    await second.tick_at(berlin(2024, 5, 1, 12, 0))
    assert len(poster.messages) == 1
    run = await second.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.state == SENT


async def test_a_failed_look_keeps_looking_before_any_resend(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    h.poster.failures[CH_A].append(transient("502 Bad Gateway"))  # may have gone through
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.verify

    real_find = h.poster.find_sent
    looks = {"n": 0}

    async def flaky_find(request, since):  # type: ignore[no-untyped-def]
        looks["n"] += 1
        if looks["n"] == 1:
            raise transient("429 on history", retry_after=2.0, maybe_sent=False)
        return await real_find(request, since)

    h.poster.find_sent = flaky_find  # type: ignore[method-assign]
    await h.tick_at(run.next_attempt)
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.verify  # still must look first
    assert h.poster.calls.count(("send", CH_A)) == 1
    await h.tick_at(run.next_attempt)
    assert looks["n"] == 2
    assert len(h.poster.messages) == 1


# -- several processes, one database ------------------------------------------------------


def guild_on_shard(shard: int, n: int) -> int:
    """A server id on *shard* of 2 (Discord: shard = (id >> 22) % count)."""
    return ((2 * n + shard) << 22) | 12345


async def two_processes(
    tmp_path: Path, clock: FakeClock
) -> tuple[list[Harness], list[Database], list[FakePoster]]:
    """Two bot processes on one SQLite file: shard 0 and shard 1 of 2, each with its own
    connections and its own Discord connection (poster)."""
    dbs = [await Database(tmp_path / "bot.db").open() for _ in range(2)]
    await add_ranked(dbs[0], 10)
    posters = [FakePoster(clock), FakePoster(clock)]
    harnesses = [
        Harness(dbs[i], clock, posters[i], shards=ShardSet(2, (i,)), owner=f"process-{i}")
        for i in range(2)
    ]
    return harnesses, dbs, posters


async def test_two_shard_processes_post_each_channel_once_from_the_process_of_its_server(
    tmp_path: Path, clock: FakeClock
) -> None:
    (a, b), dbs, posters = await two_processes(tmp_path, clock)
    try:
        channels = {}
        for n in range(6):
            for shard in (0, 1):
                channel = 5000 + 10 * n + shard
                channels[channel] = shard
                await a.set(channel, "09:00", "Europe/Berlin", guild_id=guild_on_shard(shard, n))
        for day in (1, 2):
            due = berlin(2024, 5, day, 9, 0)
            # Both processes tick at the same instant, several times over the morning.
            for minute in (0, 0, 1, 5, 30):
                when = due + timedelta(minutes=minute)
                await asyncio.gather(a.tick_at(when), b.tick_at(when))
            for channel, shard in channels.items():
                mine = [m for m in posters[shard].in_channel(channel)]
                theirs = posters[1 - shard].in_channel(channel)
                assert len(mine) == day and theirs == [], (channel, day)
    finally:
        for db in dbs:
            await db.close()


async def test_a_process_starting_leaves_the_runs_of_another_live_process_alone(
    tmp_path: Path, clock: FakeClock
) -> None:
    (a, b), dbs, posters = await two_processes(tmp_path, clock)
    try:
        mine, other = 6001, 6002
        await a.set(mine, "09:00", "Europe/Berlin", guild_id=guild_on_shard(0, 1))
        await a.set(other, "09:00", "Europe/Berlin", guild_id=guild_on_shard(1, 1))
        posters[0].hang_after.add(mine)  # process 0 is in the middle of posting
        clock.set(berlin(2024, 5, 1, 9, 0))
        task = asyncio.create_task(a.runner.tick())
        await asyncio.wait_for(posters[0].hanging.wait(), timeout=10)
        # Process 1 starts now: it releases the leases of its own shards' runs left by a
        # predecessor, never the lease process 0 holds on the run it is sending.
        await b.tick_at(berlin(2024, 5, 1, 9, 1))
        run = await b.repo.get_run(mine, "2024-05-01")
        assert run is not None and run.state == SENDING and run.owner == "process-0"
        assert [m.channel_id for m in posters[1].messages] == [other]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        for db in dbs:
            await db.close()


async def test_a_paper_that_left_the_store_is_looked_for_then_replaced(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    h.poster.failures[CH_A].append(transient("502 Bad Gateway"))  # may have gone through
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.state == SENDING and run.paper_id is not None
    gone = run.paper_id
    assert await PaperRepo(h.db).delete(gone)
    await h.tick_at(berlin(2024, 5, 1, 9, 5))
    assert ("find", CH_A) in h.poster.calls  # looked for the first attempt before anything
    [posted] = h.poster.messages
    assert posted.paper_id is not None and posted.paper_id != gone
    done = await h.repo.get_run(CH_A, "2024-05-01")
    assert done is not None and done.state == SENT and done.paper_id == posted.paper_id


async def test_a_paper_that_left_the_store_after_it_was_posted_is_not_posted_again(
    h: Harness,
) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    h.poster.hang_after.add(CH_A)  # Discord got the message; the process dies before recording
    h.clock.set(berlin(2024, 5, 1, 9, 0))
    task = asyncio.create_task(h.runner.tick())
    await asyncio.wait_for(h.poster.hanging.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    h.poster.hang_after.clear()
    [posted] = h.poster.messages
    assert posted.paper_id is not None and await PaperRepo(h.db).delete(posted.paper_id)
    restarted = Harness(h.db, h.clock, h.poster)
    await restarted.tick_at(berlin(2024, 5, 1, 9, 20))
    await restarted.tick_at(berlin(2024, 5, 1, 9, 40))
    assert h.poster.messages == [posted]
    done = await h.repo.get_run(CH_A, "2024-05-01")
    assert done is not None and done.state == SENT and done.message_id == posted.message_id


async def test_a_pass_just_before_the_due_second_does_not_hang(
    db: Database, clock: FakeClock, poster: FakePoster
) -> None:
    """A pass that starts in the last second before a due time (one pass a minute makes that
    likely) with a full claim batch due then: the pass ends and the posts go out on time."""
    await add_ranked(db, 10)
    h = Harness(db, clock, poster, claim_batch=2)
    for channel in (CH_A, CH_B):
        await h.set(channel, "09:00", "Europe/Berlin")
    try:
        async with asyncio.timeout(3):
            await h.tick_at(berlin(2024, 5, 1, 8, 59, 59) + timedelta(seconds=0.5))
            await h.tick_at(berlin(2024, 5, 1, 9, 0))
    except TimeoutError:
        pytest.fail("the scheduler's pass never ended: no daily post would go out any more")
    assert len(poster.messages) == 2


async def test_a_paper_that_left_the_store_and_came_back_is_not_posted_again(h: Harness) -> None:
    """Never the same paper twice in a channel: a posted paper that leaves the store (an
    import undone) and comes back (loaded again, under a new row id) still counts as posted."""
    await h.set(CH_A, "09:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    [first] = h.poster.in_channel(CH_A)
    assert first.paper_id == "2405.00001"
    assert await PaperRepo(h.db).delete("2405.00001")
    await add_paper(h.db, "2405.00001", "Paper number 1", rank=1)  # loaded again
    h.runner.picker.invalidate()
    await h.tick_at(berlin(2024, 5, 2, 9, 0))
    assert [m.paper_id for m in h.poster.in_channel(CH_A)] == ["2405.00001", "2405.00002"]


async def test_a_slow_post_in_one_channel_does_not_make_another_miss_its_day(
    db: Database, clock: FakeClock
) -> None:
    """One channel's post takes 90 s (within the 120 s timeout) across another channel's due
    time, 23:59: that channel's claim comes after midnight, and it still gets that day's post."""

    class SlowPoster(FakePoster):
        async def send(self, request: PostRequest, /) -> PostReceipt:
            if request.channel_id == CH_A:
                for _ in range(90):  # Discord answers after 90 s
                    self.clock.advance(seconds=1)
                    await asyncio.sleep(0)
            return await super().send(request)

    await add_ranked(db, 10)
    poster = SlowPoster(clock)
    h = Harness(db, clock, poster)
    clock.set(berlin(2024, 5, 1, 12, 0))
    await h.set(CH_A, "23:58", "Europe/Berlin")
    await h.set(CH_B, "23:59", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 1, 23, 58, 30))  # CH_A's post spans 23:59
    assert len(poster.in_channel(CH_A)) == 1
    await h.tick_at(clock.now())  # the next pass, right after: 00:00 on 2 May
    await h.tick_at(berlin(2024, 5, 2, 0, 5))
    run = await h.repo.get_run(CH_B, "2024-05-01")
    assert run is not None and run.state == SENT, "channel B missed its post of 1 May"
    assert len(poster.in_channel(CH_B)) == 1


async def test_papers_that_came_back_do_not_hide_those_never_posted(h: Harness) -> None:
    """Once the shared pool is used up, the store is asked for the best papers never posted in
    the channel: papers posted, gone and loaded again (under new row ids) are not those, and
    must not crowd out the ones that are (a "nothing left" notice with papers left)."""
    h.picker.trending.pool_per_signal = 2  # small pools: the store is asked sooner
    await h.set(CH_A, "09:00", "Europe/Berlin")
    for day in range(1, 7):
        await h.tick_at(berlin(2024, 5, day, 9, 0))
    posted = [m.paper_id for m in h.poster.in_channel(CH_A)]
    assert len(set(posted)) == 6 and None not in posted
    for paper_id in posted[:4]:  # an import undone, then loaded again
        assert paper_id is not None and await PaperRepo(h.db).delete(paper_id)
        await add_paper(h.db, paper_id, "Back again", rank=int(paper_id[-2:]))
    h.picker.invalidate()
    await h.tick_at(berlin(2024, 5, 7, 9, 0))
    latest = h.poster.in_channel(CH_A)[-1].paper_id
    assert latest is not None and latest not in posted, latest


async def test_daily_off_during_the_pick_posts_nothing(h: Harness) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin")
    calls = turn_off_while_picking(h, CH_A)
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert calls  # the run got as far as its pick
    assert h.poster.messages == []  # turned off before its pick: nothing posted
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.state == "skipped" and run.pid is None
    await h.tick_at(berlin(2024, 5, 1, 10, 0))
    await h.tick_at(berlin(2024, 5, 2, 9, 0))
    assert h.poster.messages == []
    assert await h.repo.posted_pids(CH_A) == set()  # the paper is free for a later schedule


async def test_daily_off_during_the_pick_of_a_nothing_left_notice_posts_nothing(
    h: Harness,
) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin", topic="quantum")  # no paper matches
    turn_off_while_picking(h, CH_A)
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert h.poster.messages == []
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.state == "skipped"


async def test_a_manual_post_past_its_hour_is_not_revived_by_resume(h: Harness) -> None:
    schedule = await h.set(CH_A, "09:00", "Europe/Berlin")
    await h.tick_at(berlin(2024, 5, 1, 9, 0))  # today's post went out
    h.clock.set(berlin(2024, 5, 1, 10, 0))
    h.poster.failures[CH_A].append(ChannelUnavailable("missing permission: Send Messages"))
    out = await h.runner.post_now(schedule, "interaction-1")
    assert out.status == "blocked"
    # the admin fixes the permission and resumes two hours later: the manual post's hour is
    # over; it is closed without a word, not tried and reported as failed
    h.clock.set(berlin(2024, 5, 1, 12, 0))
    paused = await h.repo.get(CH_A)
    assert paused is not None
    resumed = await h.service.resume(paused)
    assert resumed.paused_reason is None
    await h.tick_at(berlin(2024, 5, 1, 12, 0))
    schedule2 = await h.repo.get(CH_A)
    assert schedule2 is not None and schedule2.last_status is not None
    assert "could not post" not in schedule2.last_status, schedule2.last_status
    manual = await h.repo.get_run(CH_A, "now:interaction-1")
    assert manual is not None and manual.state == "skipped"
    assert len(h.poster.messages) == 1
    await h.tick_at(berlin(2024, 5, 2, 9, 0))
    assert [m.paper_id for m in h.poster.messages] == ["2405.00001", "2405.00002"]


async def test_a_manual_post_resumed_within_its_hour_still_goes_out(h: Harness) -> None:
    schedule = await h.set(CH_A, "09:00", "Europe/Berlin")
    h.poster.failures[CH_A].append(ChannelUnavailable("missing permission: Send Messages"))
    out = await h.runner.post_now(schedule, "interaction-1")
    assert out.status == "blocked"
    h.clock.set(berlin(2024, 5, 1, 8, 30))
    paused = await h.repo.get(CH_A)
    assert paused is not None
    await h.service.resume(paused)
    await h.tick_at(berlin(2024, 5, 1, 8, 30))
    manual = await h.repo.get_run(CH_A, "now:interaction-1")
    assert manual is not None and manual.state == SENT
    assert len(h.poster.messages) == 1 and h.poster.messages[0].at == berlin(2024, 5, 1, 8, 30)


async def test_a_topic_changed_while_the_notice_is_unsure_does_not_post_it_twice(
    h: Harness,
) -> None:
    await h.set(CH_A, "09:00", "Europe/Berlin", topic="quantum")  # no paper matches
    # the notice reaches Discord but the answer is lost: the run looks before resending
    h.poster.hang_after.add(CH_A)
    h.runner.timeout = 0.05
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    h.poster.hang_after.clear()
    assert len(h.poster.in_channel(CH_A)) == 1
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.state == SENDING and run.verify
    # the admin changes the topic (still nothing matches) before the retry
    h.clock.set(berlin(2024, 5, 1, 9, 0, 30))
    await h.set(CH_A, "09:00", "Europe/Berlin", topic="astrology")
    await h.tick_at(run.next_attempt + timedelta(minutes=10))  # past Discord's nonce window
    posted = h.poster.in_channel(CH_A)
    assert len(posted) == 1, [m.text for m in posted]  # the notice went out once that day
    run = await h.repo.get_run(CH_A, "2024-05-01")
    assert run is not None and run.state == "exhausted"
    # the channel was told about "quantum", not "astrology": the next day says so once
    for day in (2, 3, 4):
        await h.tick_at(berlin(2024, 5, day, 9, 0))
    texts = [m.text or "" for m in h.poster.in_channel(CH_A)]
    assert len(texts) == 2 and "“quantum”" in texts[0] and "“astrology”" in texts[1], texts
