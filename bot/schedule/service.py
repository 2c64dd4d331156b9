"""Arming, resuming and turning off a channel's daily (or weekly) post.

What ``/daily set``, ``/daily resume``, ``/daily off`` and a deleted channel change: the
due-time arithmetic (:mod:`bot.schedule.timecalc`), the store (:class:`ScheduleRepo`) and
waking the runner so a post due now goes out at once. No discord here: the /daily cog checks
the member and the channel, then calls :class:`ScheduleService`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.errors import UserFacingError
from bot.schedule import timecalc
from bot.schedule.runner import DailyRunner
from bot.store.schedules import DAILY, WEEKLY, Schedule, ScheduleRepo

log = logging.getLogger(__name__)

MAX_SCHEDULES_PER_SERVER = 25
SERVER_REMOVED = "PaperBot was removed from the server"

TopicSearch = Callable[[str, int], Awaitable[object]]


class ScheduleRefused(UserFacingError):
    """A schedule that cannot be armed or resumed; the message says what to do."""


class UnsearchableTopic(ValueError):
    """The topic cannot be searched (odd syntax). Worded by the caller, which knows how to
    show the member's text safely."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"topic {topic!r} cannot be searched")
        self.topic = topic


class ScheduleService:
    """The daily posts' configuration, over *repo*, timed by *runner*'s clock.

    *topic_matches* searches a topic (it must not raise for one the daily pick can use)."""

    def __init__(self, repo: ScheduleRepo, runner: DailyRunner, topic_matches: TopicSearch):
        self.repo = repo
        self.runner = runner
        self.topic_matches = topic_matches

    async def arm(
        self,
        *,
        channel_id: int,
        guild_id: int,
        at: time,
        zone: ZoneInfo,
        topic: str | None = None,
        thread: bool = False,
        role_id: int | None = None,
        created_by: int | None = None,
        weekday: int | None = None,
    ) -> Schedule:
        """Create or replace the channel's schedule: daily, or weekly on *weekday*
        (0 = Monday). A post of today (this week) that a pause held back goes out now."""
        existing = await self.repo.get(channel_id)
        if (
            existing is None
            and await self.repo.count_for_guild(guild_id) >= MAX_SCHEDULES_PER_SERVER
        ):
            raise ScheduleRefused(
                f"This server has {MAX_SCHEDULES_PER_SERVER} daily posts already; turn one off "
                "with `/daily off` first."
            )
        topic = " ".join(topic.split()) if topic else None
        if topic:
            try:
                await self.topic_matches(topic, 1)
            except Exception:
                log.warning("topic %r cannot be searched", topic, exc_info=True)
                raise UnsearchableTopic(topic) from None
        now = self.runner.clock.now()
        weekly = weekday is not None
        schedule = await self.repo.upsert(
            channel_id=channel_id,
            guild_id=guild_id,
            local_time=timecalc.format_hhmm(at),
            tz=zone.key,
            topic=topic,
            thread=thread,
            role_id=role_id,
            next_run=timecalc.next_run(at, zone, now, weekday),
            created_by=created_by,
            today_key=timecalc.today_key(zone.key, now, weekly=weekly),
            now=now,
            cadence=WEEKLY if weekly else DAILY,
            weekday=weekday,
            deadline=_end_of_today(zone, now),
        )
        self.runner.wake()
        return schedule

    async def resume(self, schedule: Schedule) -> Schedule:
        """Lift the schedule's pause: today's (this week's) post still goes out if it has
        not, at once when its time has passed."""
        now = self.runner.clock.now()
        zone = timecalc.resolve_zone(schedule.tz)
        at = timecalc.parse_hhmm(schedule.local_time)
        day = (schedule.weekday or 0) if schedule.weekly else None
        resumed = await self.repo.resume(
            schedule.channel_id,
            next_run=timecalc.today_or_next(at, zone, now, day),
            today_key=timecalc.today_key(schedule.tz, now, weekly=schedule.weekly),
            now=now,
            deadline=_end_of_today(zone, now),
        )
        self.runner.wake()
        if resumed is None:  # pragma: no cover - deleted in between
            raise ScheduleRefused("That daily post was just turned off.")
        return resumed

    async def turn_off(self, channel_id: int) -> bool:
        """Delete the channel's schedule (its history stays: no repeats if armed again)."""
        return await self.repo.delete(channel_id, now=self.runner.clock.now())

    async def server_removed(self, guild_id: int) -> list[int]:
        """Pause every schedule of a server that removed the bot, and withdraw their public
        feeds (nobody there can turn them off any more; its channels are out of reach until
        it is invited back and an admin resumes them); their channel ids."""
        return await self.repo.pause_server(
            guild_id, reason=SERVER_REMOVED, now=self.runner.clock.now()
        )

    async def channel_deleted(self, channel_id: int) -> bool:
        """Pause the schedule of a channel that was deleted; whether one was paused."""
        schedule = await self.repo.get(channel_id)
        if schedule is None or schedule.paused_reason:
            return False
        await self.repo.pause(
            channel_id, reason="the channel was deleted", now=self.runner.clock.now()
        )
        return True


def _end_of_today(zone: ZoneInfo, now: datetime) -> datetime:
    """Until when a post held back by a pause may still be tried once it is lifted."""
    return timecalc.end_of_local_day(timecalc.local_date_for(now, zone), zone)
