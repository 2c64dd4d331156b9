"""/daily: the slash commands (Manage Server only, in servers only) that configure the daily
trending paper (or the week's top papers) of a channel, and the scheduler's lifecycle.

Reading the options is :mod:`._transformers`' job, changing a schedule
:class:`~bot.schedule.service.ScheduleService`'s; this module checks the member and the
channel, calls the service and words the answer.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import discord
from discord import app_commands
from discord.ext import commands

from bot import cards, permissions, reach
from bot.cogs.daily._poster import ROLE_GONE, DiscordPoster, shared_limiter
from bot.cogs.daily._transformers import (
    DailyError,
    ScheduledChannel,
    TimeOfDay,
    TimeZone,
    weekday_label,
)
from bot.interactions import reply_private, when_ready
from bot.permissions import manages_server, perm_names
from bot.schedule import timecalc
from bot.schedule.leased import Clock, Outcome
from bot.schedule.picker import DailyPicker
from bot.schedule.ratelimit import RateLimiter
from bot.schedule.runner import DailyRunner
from bot.schedule.service import ScheduleService, UnsearchableTopic
from bot.schedule.supervisor import SupervisedTask
from bot.store.schedules import WEEKLY, Run, Schedule
from bot.web.feeds import daily_feed_url

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
ScheduleArg = app_commands.Transform[Schedule, ScheduledChannel]


def _ts(when: datetime, style: str) -> str:
    return discord.utils.format_dt(when, style)  # type: ignore[arg-type]


def local_label(when: datetime, tz_name: str) -> str:
    """``Tue 2 Apr 09:00 CEST`` in the schedule's zone."""
    return when.astimezone(timecalc.resolve_zone(tz_name)).strftime("%a %-d %b %H:%M %Z")


class DailyCog(commands.Cog):
    daily = app_commands.Group(
        name="daily",
        description="A trending paper posted every day (admins)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(
        self,
        bot: PaperBot,
        *,
        clock: Clock | None = None,
        limiter: RateLimiter | None = None,
        concurrency: int = 50,
    ) -> None:
        self.bot = bot
        shards = bot.settings.shard_set
        self.limiter = limiter or shared_limiter(shards.share if shards else 1.0)
        self.poster = DiscordPoster(bot, self.limiter)
        # The bot's trending ranking is shared with /trending (one cache of the ranked pool).
        self.picker = DailyPicker(bot.trends, bot.store.schedules)
        self.runner = DailyRunner(
            bot.store.schedules,
            self.picker,
            bot.store.papers,
            self.poster,
            clock,
            concurrency=concurrency,
            # With PAPERBOT_SHARDS: the schedules of this process's servers only.
            shards=shards,
        )
        self.schedules = ScheduleService(bot.store.schedules, self.runner, bot.topic_matches)
        # Restarted with backoff if the loop itself dies (see bot.schedule.supervisor).
        self.scheduler = SupervisedTask(
            "the daily scheduler",
            lambda: self.runner.run_forever(self.bot.wait_until_ready),
            self.runner.clock,
            halt=self.runner.stop,
            task_name="daily-scheduler",
        )

    # -- lifecycle: the scheduler runs from cog_load, supervised ----------------------------

    async def cog_load(self) -> None:
        self.scheduler.start()

    async def cog_unload(self) -> None:
        await self.scheduler.stop()

    async def interaction_check(self, interaction: discord.Interaction[PaperBot]) -> bool:  # type: ignore[override]
        if interaction.guild_id is None:
            raise DailyError("Daily posts are set up in a server, not in DMs.")
        # It posts in the server's channels as the bot user, which must be there.
        reach.require_bot_in_server(interaction, "`/daily`")
        if not manages_server(interaction):
            raise DailyError("You need the Manage Server permission to set up daily posts.")
        return True

    # -- helpers ----------------------------------------------------------------------------

    def _channel_label(self, channel_id: int) -> str:
        channel = self.bot.get_channel(channel_id)
        if isinstance(channel, discord.abc.GuildChannel):
            return channel.mention
        return f"a deleted channel ({channel_id})"

    def _check_member(
        self,
        interaction: discord.Interaction[PaperBot],
        channel: discord.abc.GuildChannel,
        role: discord.Role | None = None,
    ) -> None:
        """Refuse when the member could not post (or ping *role*) in *channel* themselves."""
        refusal = permissions.member_refusal(interaction.user, channel, role=role)
        if refusal is not None:
            log.info(
                "refused /daily for user %s in channel %s: %s",
                interaction.user.id,
                channel.id,
                refusal,
            )
            raise DailyError(refusal)

    def _validate_channel(
        self,
        interaction: discord.Interaction[PaperBot],
        channel: discord.TextChannel,
        *,
        thread: bool,
        role: discord.Role | None,
    ) -> None:
        self._check_member(interaction, channel, role)
        missing = self.poster.check_channel(channel, thread=thread)
        if missing:
            raise DailyError(
                f"I can't post in {channel.mention}: I'm missing {perm_names(missing)} there. "
                "Give my role these permissions in the channel's settings, then try again."
            )
        if role is not None:
            if role.is_default():
                raise DailyError("Pick a role to ping, not @everyone.")
            can_ping_all = channel.permissions_for(channel.guild.me).mention_everyone
            if not role.mentionable and not can_ping_all:
                raise DailyError(
                    f"I can't ping {role.mention}: make it mentionable (Server Settings › Roles) "
                    f"or give me the {perm_names(['mention_everyone'])} permission."
                )

    # -- commands ---------------------------------------------------------------------------

    @daily.command(
        name="set",
        description="Post the day's trending paper (or the week's top papers) in a channel",
    )
    @app_commands.describe(
        channel="Where to post",
        time="Local time, 24-hour HH:MM (e.g. 09:00)",
        timezone="Your time zone, e.g. Europe/Berlin (start typing)",
        topic="Only papers matching this search (e.g. diffusion models)",
        thread="Open a discussion thread on each post",
        role="Ping this role with each post",
        cadence="Daily: one paper a day. Weekly: the week's top 5 papers, once a week",
        weekday="For a weekly post: the day it goes out (default Monday)",
        public_feed="Publish the posts as an Atom feed at a secret link shown only to you",
    )
    async def set_(
        self,
        interaction: discord.Interaction[PaperBot],
        channel: discord.TextChannel,
        time: app_commands.Transform[time, TimeOfDay],
        timezone: app_commands.Transform[ZoneInfo, TimeZone],
        topic: app_commands.Range[str, 2, 100] | None = None,
        thread: bool = False,
        role: discord.Role | None = None,
        cadence: Literal["daily", "weekly"] = "daily",
        weekday: Weekday | None = None,
        public_feed: bool | None = None,
    ) -> None:
        if weekday is not None and cadence != WEEKLY:
            raise DailyError(
                "A weekday is for weekly posts: add `cadence: weekly`, or leave out `weekday`."
            )
        day = timecalc.WEEKDAYS.index(weekday or "monday") if cadence == WEEKLY else None
        self._validate_channel(interaction, channel, thread=thread, role=role)
        # The checks above are instant; what follows reads and writes the store (and may wait
        # behind an import), so acknowledge now to stay inside Discord's 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = interaction.guild_id or 0
        try:
            schedule = await self.schedules.arm(
                channel_id=channel.id,
                guild_id=guild_id,
                at=time,
                zone=timezone,
                topic=topic,
                thread=thread,
                role_id=role.id if role else None,
                created_by=interaction.user.id,
                weekday=day,
            )
        except UnsearchableTopic as exc:
            raise DailyError(
                f"I can't search for “{cards.escape(exc.topic)}”. Use plain words, "
                "e.g. diffusion models."
            ) from None
        topic = schedule.topic
        log.info(
            "daily post set in channel %s (guild %s) at %s %s by %s",
            channel.id,
            guild_id,
            schedule.local_time,
            schedule.tz,
            interaction.user.id,
        )
        lines = [
            f"✅ {_what(schedule)} in {channel.mention} {_when(schedule)}.",
            f"Next post: {local_label(schedule.next_run, schedule.tz)} "
            f"({_ts(schedule.next_run, 'R')}).",
        ]
        extras = []
        if topic:
            extras.append(f"topic “{cards.escape(topic)}”")
        if thread:
            extras.append("a thread for each post")
        if role:
            extras.append(f"pings {role.mention}")
        if extras:
            lines.append("With " + ", ".join(extras) + ".")
        lines.extend(await self._feed_lines(channel.id, public_feed))
        if topic:
            pick = await self.runner.preview(schedule)
            if pick is None:
                lines.append(
                    "⚠️ No paper matches that topic yet: the channel will be told once. "
                    "Try a broader topic."
                )
        await reply_private(interaction, "\n".join(lines))

    async def _feed_lines(self, channel_id: int, public: bool | None) -> list[str]:
        """Turn the public feed on or off (None: as it was) and say where it is."""
        feeds = self.bot.store.feeds
        if public is None:
            token = await feeds.token_for(channel_id)
        else:
            token = await feeds.set_public(channel_id, public)
        if token is None:
            return ["Public feed: off."] if public is False else []
        lines = [
            f"Public feed (anyone with this link can read this channel's daily papers; keep it "
            f"private or turn it off with `public_feed:False`): "
            f"<{daily_feed_url(self.bot.settings.web_url, token)}>"
        ]
        if not self.bot.settings.web_enabled:
            lines.append(
                "(This bot serves no web site itself, PAPERBOT_WEB is off: the link works "
                "where `python -m bot web` serves this database.)"
            )
        return lines

    @daily.command(name="off", description="Stop the daily post in a channel")
    @app_commands.rename(schedule="channel")
    @app_commands.describe(schedule="A channel with a daily post")
    async def off(self, interaction: discord.Interaction[PaperBot], schedule: ScheduleArg) -> None:
        # A write: it may wait behind another writer (an import), so "thinking…" if slow.
        await when_ready(interaction, self.schedules.turn_off(schedule.channel_id), ephemeral=True)
        log.info(
            "daily post turned off in channel %s by %s", schedule.channel_id, interaction.user.id
        )
        await reply_private(
            interaction,
            f"Turned off the daily post in {self._channel_label(schedule.channel_id)}. "
            "Papers posted there before won't be repeated if you turn it on again.",
        )

    @daily.command(name="status", description="This server's daily posts: next time, last result")
    async def status(self, interaction: discord.Interaction[PaperBot]) -> None:
        schedules = await self.bot.store.schedules.for_guild(interaction.guild_id or 0)
        if not schedules:
            await reply_private(interaction, "No daily posts here yet. Set one with `/daily set`.")
            return
        retrying = await self.bot.store.schedules.open_runs_for_guild(interaction.guild_id or 0)
        feeds = await self.bot.store.feeds.tokens_for_guild(interaction.guild_id or 0)
        blocks = [
            self._status_block(s, retrying.get(s.channel_id), feeds.get(s.channel_id))
            for s in schedules
        ]
        last = self.runner.last_tick
        now = self.runner.clock.now()
        if last is None or (now - last).total_seconds() > 600:
            blocks.append(
                "⚠️ The scheduler has not run recently; posts may be late. It restarts on its "
                "own; if this stays, check the bot's logs."
            )
        await reply_private(interaction, "\n\n".join(blocks))

    def _status_block(
        self, s: Schedule, trying: Run | None = None, feed_token: str | None = None
    ) -> str:
        when = f"{s.local_time} {s.tz}"
        if s.weekly:
            when = f"weekly top papers, {weekday_label(s)}s {when}"
        head = f"**{self._channel_label(s.channel_id)}** — {when}"
        bits = []
        if s.topic:
            bits.append(f"topic “{cards.escape(s.topic)}”")
        if s.thread:
            bits.append("thread")
        if s.role_id:
            guild = self.bot.get_guild(s.guild_id)
            if guild is not None and guild.get_role(s.role_id) is None:
                bits.append(f"no ping: {ROLE_GONE} (`/daily set` again to choose another)")
            else:
                bits.append(f"pings <@&{s.role_id}>")
        if bits:
            head += " · " + " · ".join(bits)
        lines = [head]
        if s.paused_reason:
            lines.append(
                f"⏸️ Paused: {s.paused_reason}. Fix it, then `/daily resume` (or `/daily off`)."
            )
        else:
            lines.append(f"Next: {local_label(s.next_run, s.tz)} ({_ts(s.next_run, 'R')})")
        if trying is not None and trying.error and not s.paused_reason:
            lines.append(
                f"Retrying: {cards.escape(trying.error)} (next try {_ts(trying.next_attempt, 'R')})"
            )
        if s.last_status and s.last_at:
            lines.append(f"Last: {cards.escape(s.last_status)} ({_ts(s.last_at, 'R')})")
        elif not s.last_status:
            lines.append("Last: nothing posted yet")
        if feed_token:
            lines.append(f"Public feed: <{daily_feed_url(self.bot.settings.web_url, feed_token)}>")
        return "\n".join(lines)

    @daily.command(name="preview", description="See (privately) the paper a channel gets next")
    @app_commands.rename(schedule="channel")
    @app_commands.describe(schedule="A channel with a daily post")
    async def preview(
        self, interaction: discord.Interaction[PaperBot], schedule: ScheduleArg
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        papers = await self.runner.preview_list(schedule)
        where = self._channel_label(schedule.channel_id)
        if not papers:
            await interaction.followup.send(
                f"Nothing left to post in {where}: every matching paper was posted there. "
                "Widen the topic with `/daily set` or load more papers.",
                ephemeral=True,
            )
            return
        when = local_label(max(schedule.next_run, self.runner.clock.now()), schedule.tz)
        context = f"Preview · next post in #{_name(self.bot, schedule)} · {when}"
        if schedule.weekly:
            embed = cards.list_embed(context, papers)
            text = f"These are the papers {where} gets next"
        else:
            embed = cards.paper_embed(papers[0], context=context)
            text = f"This is the paper {where} gets next"
        await interaction.followup.send(
            f"{text}, unless votes change the ranking before then.", embed=embed, ephemeral=True
        )

    @daily.command(name="post-now", description="Post a channel's next trending paper right away")
    @app_commands.rename(schedule="channel")
    @app_commands.describe(schedule="A channel with a daily post")
    async def post_now(
        self, interaction: discord.Interaction[PaperBot], schedule: ScheduleArg
    ) -> None:
        target = self.bot.get_channel(schedule.channel_id)
        if isinstance(target, discord.abc.GuildChannel):
            # (A manual post never pings the schedule's role.)
            self._check_member(interaction, target)
        await interaction.response.defer(ephemeral=True, thinking=True)
        outcome = await self.runner.post_now(schedule, str(interaction.id))
        log.info(
            "daily post-now in channel %s by %s: %s",
            schedule.channel_id,
            interaction.user.id,
            outcome.status,
        )
        await interaction.followup.send(self._outcome_text(schedule, outcome), ephemeral=True)

    def _outcome_text(self, schedule: Schedule, outcome: Outcome) -> str:
        where = self._channel_label(schedule.channel_id)
        if outcome.status == "sent":
            title = cards.escape(cards.truncate(outcome.title or "", 200))
            text = f"Posted “{title}” in {where}."
            if schedule.weekly:
                text = f"Posted the top {outcome.papers} paper(s) in {where}."
            if outcome.detail:
                text += f" ({outcome.detail})"
            if schedule.paused_reason:
                text += " The daily schedule is still paused: run `/daily resume`."
            else:
                text += " The daily post still goes out as scheduled."
            return text
        if outcome.status == "exhausted":
            return (
                f"Nothing left to post in {where}: every matching paper was posted there. "
                "Widen the topic with `/daily set` or load more papers."
            )
        if outcome.status == "blocked":
            return (
                f"I couldn't post in {where}: {outcome.detail}. The daily post is paused; "
                "fix it, then run `/daily resume`."
            )
        if outcome.status == "retry":
            return (
                f"Discord is having trouble ({outcome.detail}). I'll keep trying in the "
                "background for the next hour."
            )
        if outcome.status == "failed":
            return f"I couldn't post: {outcome.detail}."
        return "That post was already handled."

    @daily.command(name="resume", description="Resume a paused daily post after fixing the channel")
    @app_commands.rename(schedule="channel")
    @app_commands.describe(schedule="A channel with a daily post")
    async def resume(
        self, interaction: discord.Interaction[PaperBot], schedule: ScheduleArg
    ) -> None:
        target = self.bot.get_channel(schedule.channel_id)
        if not isinstance(target, discord.TextChannel):
            raise DailyError(
                "That channel is gone. Turn its daily post off with `/daily off`, or set one "
                "in another channel with `/daily set`."
            )
        role = target.guild.get_role(schedule.role_id) if schedule.role_id else None
        self._check_member(interaction, target, role)
        missing = self.poster.check_channel(target, thread=schedule.thread)
        if missing:
            raise DailyError(
                f"I still can't post in {target.mention}: I'm missing {perm_names(missing)}. "
                "Fix the channel's permissions, then try again."
            )
        # A write: it may wait behind another writer (an import), so "thinking…" if slow.
        resumed = await when_ready(interaction, self.schedules.resume(schedule), ephemeral=True)
        was = "Resumed" if schedule.paused_reason else "It wasn't paused; checked"
        if resumed.weekly:
            what = f"the weekly post in {target.mention} {_when(resumed)}"
            pending = "this week's post is due and hasn't gone out yet"
        else:
            what = f"the daily post in {target.mention} at {resumed.local_time} {resumed.tz}"
            pending = "today's post hasn't gone out yet"
        await reply_private(interaction, f"{was}: {what}. If {pending}, it goes out now.")

    # -- events -----------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        if await self.schedules.channel_deleted(channel.id):
            log.info("channel %s with a daily post was deleted; paused", channel.id)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        # Removed from the server (an outage is on_guild_unavailable, and changes nothing):
        # its posts pause, and their public feeds go offline, since nobody there can turn
        # them off any more. Invited back, an admin resumes (and re-publishes) them.
        paused = await self.schedules.server_removed(guild.id)
        if paused:
            log.info(
                "removed from guild %s: paused %d daily post(s), their public feeds withdrawn",
                guild.id,
                len(paused),
            )


def _what(schedule: Schedule) -> str:
    return "Weekly top papers" if schedule.weekly else "Daily trending paper"


def _when(schedule: Schedule) -> str:
    at = f"at {schedule.local_time} {schedule.tz}"
    return f"on {weekday_label(schedule)}s {at}" if schedule.weekly else at


def _name(bot: PaperBot, schedule: Schedule) -> str:
    channel = bot.get_channel(schedule.channel_id)
    return (
        channel.name if isinstance(channel, discord.abc.GuildChannel) else str(schedule.channel_id)
    )
