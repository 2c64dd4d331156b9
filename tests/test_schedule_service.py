"""ScheduleService (arming, resuming, turning off a daily post) against a real SQLite file,
the real runner, a fake clock and a fake Poster: what /daily set, resume and off change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.schedule.runner import ChannelUnavailable
from bot.schedule.service import (
    MAX_SCHEDULES_PER_SERVER,
    ScheduleRefused,
    ScheduleService,
    UnsearchableTopic,
)
from bot.store.database import Database
from tests.daily_support import FakeClock, FakePoster, Harness, add_ranked

BERLIN = ZoneInfo("Europe/Berlin")
CH_A, CH_B = 1001, 1002


def berlin(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    db = await Database(tmp_path / "bot.db").open()
    await add_ranked(db, 10)
    clock = FakeClock(berlin(2024, 5, 1, 8, 0))  # a Wednesday
    yield Harness(db, clock, FakePoster(clock))
    await db.close()


def count_wakes(h: Harness) -> list[int]:
    wakes: list[int] = []
    h.runner.wake = lambda: wakes.append(1)  # type: ignore[method-assign]
    return wakes


async def test_arm_stores_the_local_time_and_the_next_due_instant_and_wakes_the_runner(
    h: Harness,
) -> None:
    wakes = count_wakes(h)
    schedule = await h.service.arm(
        channel_id=CH_A,
        guild_id=1,
        at=time(9, 5),
        zone=BERLIN,
        topic="  diffusion \n models ",
        thread=True,
        role_id=77,
        created_by=42,
    )
    assert (schedule.local_time, schedule.tz) == ("09:05", "Europe/Berlin")
    assert schedule.next_run == berlin(2024, 5, 1, 9, 5)
    assert schedule.topic == "diffusion models"
    assert (schedule.thread, schedule.role_id, schedule.weekly) == (True, 77, False)
    assert await h.repo.get(CH_A) == schedule
    assert wakes == [1]


async def test_arm_weekly_is_due_on_its_weekday_only(h: Harness) -> None:
    schedule = await h.service.arm(
        channel_id=CH_A, guild_id=1, at=time(9, 0), zone=BERLIN, weekday=0
    )
    assert schedule.weekly and schedule.weekday == 0
    assert schedule.next_run == berlin(2024, 5, 6, 9, 0)  # the next Monday


async def test_a_server_has_room_for_a_limited_number_of_posts(h: Harness) -> None:
    for channel in range(MAX_SCHEDULES_PER_SERVER):
        await h.service.arm(channel_id=5000 + channel, guild_id=7, at=time(9, 0), zone=BERLIN)
    with pytest.raises(ScheduleRefused, match="has 25 daily posts already"):
        await h.service.arm(channel_id=CH_A, guild_id=7, at=time(9, 0), zone=BERLIN)
    assert await h.repo.get(CH_A) is None
    # changing one of them is fine, and so is another server
    changed = await h.service.arm(channel_id=5000, guild_id=7, at=time(18, 0), zone=BERLIN)
    assert changed.local_time == "18:00"
    await h.service.arm(channel_id=CH_B, guild_id=8, at=time(9, 0), zone=BERLIN)


async def test_a_topic_that_cannot_be_searched_is_refused_and_nothing_is_stored(
    h: Harness,
) -> None:
    async def broken(topic: str, limit: int) -> list[str]:
        raise RuntimeError("fts5: syntax error")

    service = ScheduleService(h.repo, h.runner, broken)
    with pytest.raises(UnsearchableTopic) as err:
        await service.arm(channel_id=CH_A, guild_id=1, at=time(9, 0), zone=BERLIN, topic='"a')
    assert err.value.topic == '"a'
    assert await h.repo.get(CH_A) is None


async def test_resume_after_the_due_time_posts_today_once(h: Harness) -> None:
    await h.service.arm(channel_id=CH_A, guild_id=1, at=time(9, 0), zone=BERLIN)
    h.poster.failures[CH_A].append(ChannelUnavailable("missing permission: Send Messages"))
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    paused = await h.repo.get(CH_A)
    assert paused is not None and paused.paused_reason
    h.clock.set(berlin(2024, 5, 1, 15, 0))
    wakes = count_wakes(h)
    resumed = await h.service.resume(paused)
    assert resumed.paused_reason is None
    assert resumed.next_run == berlin(2024, 5, 1, 9, 0)  # today's, already passed: due now
    assert wakes == [1]
    await h.tick_at(berlin(2024, 5, 1, 15, 0))
    await h.tick_at(berlin(2024, 5, 1, 16, 0))
    assert [m.at for m in h.poster.messages] == [berlin(2024, 5, 1, 15, 0)]


async def test_resume_weekly_waits_for_its_weekday(h: Harness) -> None:
    schedule = await h.service.arm(
        channel_id=CH_A, guild_id=1, at=time(9, 0), zone=BERLIN, weekday=0
    )
    h.clock.set(berlin(2024, 5, 2, 12, 0))  # a Thursday
    resumed = await h.service.resume(schedule)
    assert resumed.next_run == berlin(2024, 5, 6, 9, 0)


async def test_turn_off_deletes_the_schedule_once(h: Harness) -> None:
    await h.service.arm(channel_id=CH_A, guild_id=1, at=time(9, 0), zone=BERLIN)
    assert await h.service.turn_off(CH_A) is True
    assert await h.repo.get(CH_A) is None
    assert await h.service.turn_off(CH_A) is False
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert h.poster.messages == []


async def test_a_deleted_channel_pauses_its_schedule_once(h: Harness) -> None:
    await h.service.arm(channel_id=CH_A, guild_id=1, at=time(9, 0), zone=BERLIN)
    assert await h.service.channel_deleted(CH_A) is True
    schedule = await h.repo.get(CH_A)
    assert schedule is not None and schedule.paused_reason == "the channel was deleted"
    assert await h.service.channel_deleted(CH_A) is False  # paused already
    assert await h.service.channel_deleted(CH_B) is False  # no schedule
    await h.tick_at(berlin(2024, 5, 1, 9, 0))
    assert h.poster.messages == []
