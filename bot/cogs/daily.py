"""/daily: the daily trending paper (or the week's top papers), configured by admins; and the
Discord side of posting it.

The schedule logic lives in :mod:`bot.schedule` (no discord there). This module holds the
slash commands (Manage Server only, in servers only) and :class:`DiscordPoster`, the
:class:`~bot.schedule.runner.Poster` that sends the card with discord.py: paced by a shared
:class:`~bot.schedule.ratelimit.RateLimiter`, with the run's nonce, and with Discord's
errors turned into "pause this channel" or "try again later".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot import cards, permissions, reach
from bot.interactions import CommandRefusal, reply_private
from bot.permissions import manages_server, perm_names
from bot.schedule import timecalc
from bot.schedule.picker import DailyPicker
from bot.schedule.ratelimit import RateLimiter
from bot.schedule.runner import (
    ChannelUnavailable,
    Clock,
    DailyRunner,
    Outcome,
    PostReceipt,
    PostRequest,
    TransientPostError,
)
from bot.schedule.supervisor import supervise
from bot.store.schedules import WEEKLY, Run, Schedule
from bot.views import action_id, card_view
from bot.web.feeds import daily_feed_url

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

MAX_SCHEDULES_PER_SERVER = 25
UNKNOWN_CHANNEL = 10003
THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

# What the bot needs in a channel to post there (and, for a thread, in the thread).
NEEDED = ("view_channel", "send_messages", "embed_links", "read_message_history")
NEEDED_FOR_THREADS = ("create_public_threads", "send_messages_in_threads")


def missing_permissions(perms: discord.Permissions, thread: bool) -> list[str]:
    """What the bot lacks to post a daily card here (and, with *thread*, to open a thread)."""
    return permissions.missing_permissions(perms, NEEDED + (NEEDED_FOR_THREADS if thread else ()))


POST_RATE = 40.0  # requests/s for daily posts, under Discord's 50/s global limit per bot
POST_BURST = 5


def shared_limiter(share: float) -> RateLimiter:
    """The daily posts' rate limiter for a process running *share* of the shards: Discord's
    global limit is per bot, so processes sharing a token split it by their shards."""
    share = min(max(share, 0.0), 1.0)
    return RateLimiter(rate=max(POST_RATE * share, 1.0), burst=max(round(POST_BURST * share), 1))


def _ts(when: datetime, style: str) -> str:
    return discord.utils.format_dt(when, style)  # type: ignore[arg-type]


def local_label(when: datetime, tz_name: str) -> str:
    """``Tue 2 Apr 09:00 CEST`` in the schedule's zone."""
    return when.astimezone(timecalc.resolve_zone(tz_name)).strftime("%a %-d %b %H:%M %Z")


# -- the Poster ------------------------------------------------------------------------------

PostErrorT = ChannelUnavailable | TransientPostError


class DiscordPoster:
    """Posts daily cards with discord.py. Every request first takes a token from *limiter*."""

    def __init__(self, bot: PaperBot, limiter: RateLimiter) -> None:
        self.bot = bot
        self.limiter = limiter

    async def _channel(self, channel_id: int) -> discord.TextChannel:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            await self.limiter.acquire()
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.NotFound:
                raise ChannelUnavailable("the channel was deleted") from None
            except discord.Forbidden:
                raise ChannelUnavailable(
                    "I can't see the channel (missing View Channel, or I left the server)"
                ) from None
            except discord.HTTPException as exc:
                raise self._transient(exc, maybe_sent=False) from None
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise TransientPostError(f"network error: {type(exc).__name__}") from None
        if not isinstance(channel, discord.TextChannel):
            raise ChannelUnavailable("the channel is not a text channel")
        return channel

    def _check(self, channel: discord.TextChannel) -> None:
        """Refuse early, without a request, when our cached permissions already say no.

        (Threads are optional for the post itself: their permissions only make a note.)"""
        missing = missing_permissions(channel.permissions_for(channel.guild.me), thread=False)
        if missing:
            raise ChannelUnavailable(f"missing permission: {perm_names(missing)}")

    def _transient(self, exc: discord.HTTPException, *, maybe_sent: bool) -> TransientPostError:
        if exc.status == 429:
            retry = _retry_after(exc)
            return TransientPostError(
                "rate limited by Discord (429)", retry_after=retry, maybe_sent=False
            )
        if exc.status >= 500:
            return TransientPostError(f"Discord error {exc.status}", maybe_sent=maybe_sent)
        return TransientPostError(
            f"Discord refused the post ({exc.status}, code {exc.code})", maybe_sent=False
        )

    def _refusal(self, channel: discord.TextChannel, exc: discord.HTTPException) -> PostErrorT:
        if isinstance(exc, discord.NotFound):
            if exc.code == UNKNOWN_CHANNEL:
                return ChannelUnavailable("the channel was deleted")
            return TransientPostError(f"Discord said not found (code {exc.code})", maybe_sent=True)
        if isinstance(exc, discord.Forbidden):
            missing = missing_permissions(channel.permissions_for(channel.guild.me), False)
            if missing:
                return ChannelUnavailable(f"missing permission: {perm_names(missing)}")
            return ChannelUnavailable(f"Discord refused access (code {exc.code})")
        return self._transient(exc, maybe_sent=True)

    async def send(self, request: PostRequest, /) -> PostReceipt:
        channel = await self._channel(request.channel_id)
        self._check(channel)
        paper = request.paper
        kwargs: dict[str, Any] = {"nonce": request.nonce}
        if paper is None:
            content: str | None = request.text
            kwargs["allowed_mentions"] = discord.AllowedMentions.none()
        else:
            if request.papers:  # the week's top papers: one compact list
                kwargs["embed"] = cards.list_embed(
                    request.context,
                    request.papers,
                    footer="Open one with /paper · save, vote or cite it from its card",
                )
            else:
                kwargs["embed"] = cards.paper_embed(paper, context=request.context)
                kwargs["view"] = card_view(paper)
            content = None
            if request.role_id is not None:
                # The one mention the bot ever makes: the role an admin chose, this message only.
                content = f"<@&{request.role_id}>"
                kwargs["allowed_mentions"] = discord.AllowedMentions(
                    everyone=False,
                    users=False,
                    roles=[discord.Object(id=request.role_id)],
                    replied_user=False,
                )
            else:
                kwargs["allowed_mentions"] = discord.AllowedMentions.none()
        await self.limiter.acquire()
        try:
            message = await channel.send(content, **kwargs)
        except discord.RateLimited as exc:
            raise TransientPostError(
                "rate limited by Discord (429)", retry_after=exc.retry_after, maybe_sent=False
            ) from None
        except discord.HTTPException as exc:
            if exc.status == 429 and _is_global(exc):
                self.limiter.penalize(_retry_after(exc) or 1.0)
            raise self._refusal(channel, exc) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TransientPostError(f"network error: {type(exc).__name__}") from None
        thread_id, note = None, None
        if request.thread and paper is not None:
            thread_id, note = await self._open_thread(channel, message, _thread_title(request))
        log.info(
            "daily post in channel %s (%s): message %s",
            request.channel_id,
            request.run_key,
            message.id,
        )
        return PostReceipt(message.id, thread_id, note)

    async def _open_thread(
        self, channel: discord.TextChannel, message: discord.Message, title: str
    ) -> tuple[int | None, str | None]:
        me = channel.guild.me
        if me is not None:
            missing = [n for n in NEEDED_FOR_THREADS if not getattr(channel.permissions_for(me), n)]
            if missing:
                return None, f"no thread: missing {perm_names(missing)}"
        await self.limiter.acquire()
        try:
            thread = await message.create_thread(
                name=cards.title_label(title), auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.Forbidden:
            return None, "no thread: missing Create Public Threads"
        except discord.HTTPException as exc:
            if exc.code == 160004:  # a thread exists already for this message
                return None, None
            log.warning("could not open a thread in channel %s: %s", channel.id, exc)
            return None, f"no thread: Discord error {exc.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return None, f"no thread: network error ({type(exc).__name__})"
        return thread.id, None

    async def find_sent(self, request: PostRequest, since: datetime, /) -> PostReceipt | None:
        """Look for our message of this run in the channel (after a crash or a timeout)."""
        channel = await self._channel(request.channel_id)
        # Without Read Message History Discord answers with an empty list: we could not tell
        # "not posted" from "cannot see", so we would risk a double post. Pause instead.
        self._check(channel)
        me = self.bot.user
        if me is None:  # pragma: no cover
            raise TransientPostError("not logged in yet", maybe_sent=True)
        after = discord.Object(id=discord.utils.time_snowflake(since, high=False))
        await self.limiter.acquire()
        try:
            async for message in channel.history(limit=100, after=after, oldest_first=True):
                if message.author.id != me.id or not _is_ours(message, request):
                    continue
                thread_id, note = None, None
                if request.thread and request.paper is not None:
                    existing = channel.get_thread(message.id) or message.thread
                    if existing is not None:
                        thread_id = existing.id
                    else:
                        thread_id, note = await self._open_thread(
                            channel, message, _thread_title(request)
                        )
                return PostReceipt(message.id, thread_id, note)
        except discord.HTTPException as exc:
            raise self._refusal(channel, exc) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TransientPostError(f"network error: {type(exc).__name__}") from None
        return None

    def check_channel(self, channel: discord.TextChannel, *, thread: bool) -> list[str]:
        return missing_permissions(channel.permissions_for(channel.guild.me), thread)


def _thread_title(request: PostRequest) -> str:
    assert request.paper is not None
    return request.context if request.papers else request.paper.title


def _is_ours(message: discord.Message, request: PostRequest) -> bool:
    if request.paper is None:
        return message.content == request.text
    if request.papers:
        # A list: ours if it lists the first paper (never in two posts of a channel).
        return any(
            e.description and cards.lists_paper(e.description, request.paper)
            for e in message.embeds
        )
    wanted = action_id("vote", request.paper.id)
    for row in message.components:
        for item in getattr(row, "children", ()):
            if wanted is not None and getattr(item, "custom_id", None) == wanted:
                return True
    url = cards.safe_url(request.paper.url_abs) or cards.safe_url(request.paper.url_hf)
    return any(e.url and url and e.url == url for e in message.embeds)


def _retry_after(exc: discord.HTTPException) -> float | None:
    response = getattr(exc, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(header) if header else None
    except ValueError:
        return None


def _is_global(exc: discord.HTTPException) -> bool:
    response = getattr(exc, "response", None)
    return bool(response is not None and response.headers.get("X-RateLimit-Global"))


# -- the cog ---------------------------------------------------------------------------------


class DailyError(CommandRefusal):
    """A problem with the admin's input; the message says what to do (shown privately)."""


_CHANNEL_REF = re.compile(r"^(?:<#)?(\d{5,25})>?$")


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
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle: the scheduler runs from cog_load, supervised ----------------------------

    async def cog_load(self) -> None:
        self._stopping = False
        self._start()

    def _start(self) -> None:
        # Restarted with backoff if the loop itself dies (see bot.schedule.supervisor).
        self._task = asyncio.create_task(
            supervise(
                "the daily scheduler",
                lambda: self.runner.run_forever(self.bot.wait_until_ready),
                self.runner.clock,
                stopping=lambda: self._stopping,
            ),
            name="daily-scheduler",
        )

    async def cog_unload(self) -> None:
        self._stopping = True
        self.runner.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

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

    async def _schedule_for(self, interaction: discord.Interaction[PaperBot], ref: str) -> Schedule:
        guild_id = interaction.guild_id or 0
        schedules = await self.bot.store.schedules.for_guild(guild_id)
        text = ref.strip()
        m = _CHANNEL_REF.match(text)
        if m:
            wanted = int(m.group(1))
            found = next((s for s in schedules if s.channel_id == wanted), None)
        else:
            name = text.lstrip("#").casefold()
            found = None
            for s in schedules:
                channel = self.bot.get_channel(s.channel_id)
                if (
                    isinstance(channel, discord.abc.GuildChannel)
                    and channel.name.casefold() == name
                ):
                    found = s
                    break
        if found is None:
            raise DailyError(
                "That channel has no daily post. See `/daily status`, or set one with `/daily set`."
            )
        return found

    async def _channel_choices(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        # discord.py runs no interaction_check for autocomplete: check here, or anyone could
        # list the server's daily channels (hidden ones included) by typing.
        if interaction.guild_id is None or not manages_server(interaction):
            return []
        schedules = await self.bot.store.schedules.for_guild(interaction.guild_id)
        choices = []
        needle = current.strip().lstrip("#").casefold()
        for s in schedules:
            channel = self.bot.get_channel(s.channel_id)
            name = (
                f"#{channel.name}"
                if isinstance(channel, discord.abc.GuildChannel)
                else f"deleted channel {s.channel_id}"
            )
            label = f"{name} · {s.local_time} {s.tz}"
            if s.weekly:
                label += f" · weekly, {_weekday(s)}s"
            if s.paused_reason:
                label += " · paused"
            if needle in label.casefold():
                choices.append(
                    app_commands.Choice(name=cards.choice_label(label), value=str(s.channel_id))
                )
        return choices[:25]

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
        time: app_commands.Range[str, 1, 10],
        timezone: app_commands.Range[str, 1, 64],
        topic: app_commands.Range[str, 2, 100] | None = None,
        thread: bool = False,
        role: discord.Role | None = None,
        cadence: Literal["daily", "weekly"] = "daily",
        weekday: Weekday | None = None,
        public_feed: bool | None = None,
    ) -> None:
        try:
            at = timecalc.parse_hhmm(time)
            zone = timecalc.resolve_zone(timezone)
        except ValueError as exc:
            raise DailyError(str(exc)) from None
        if weekday is not None and cadence != WEEKLY:
            raise DailyError(
                "A weekday is for weekly posts: add `cadence: weekly`, or leave out `weekday`."
            )
        day = timecalc.WEEKDAYS.index(weekday or "monday") if cadence == WEEKLY else None
        self._validate_channel(interaction, channel, thread=thread, role=role)
        # The checks above are instant; what follows reads and writes the store (and may wait
        # behind an import), so acknowledge now to stay inside Discord's 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        repo = self.bot.store.schedules
        guild_id = interaction.guild_id or 0
        existing = await repo.get(channel.id)
        if existing is None and await repo.count_for_guild(guild_id) >= MAX_SCHEDULES_PER_SERVER:
            raise DailyError(
                f"This server has {MAX_SCHEDULES_PER_SERVER} daily posts already; turn one off "
                "with `/daily off` first."
            )
        topic = " ".join(topic.split()) if topic else None
        if topic:
            try:
                await self.bot.topic_matches(topic, 1)
            except Exception:
                log.warning("topic %r cannot be searched", topic, exc_info=True)
                raise DailyError(
                    f"I can't search for “{cards.escape(topic)}”. Use plain words, "
                    "e.g. diffusion models."
                ) from None
        now = self.runner.clock.now()
        schedule = await repo.upsert(
            channel_id=channel.id,
            guild_id=guild_id,
            local_time=timecalc.format_hhmm(at),
            tz=zone.key,
            topic=topic,
            thread=thread,
            role_id=role.id if role else None,
            next_run=timecalc.next_run(at, zone, now, day),
            created_by=interaction.user.id,
            today_key=timecalc.today_key(zone.key, now, weekly=cadence == WEEKLY),
            now=now,
            cadence=cadence,
            weekday=day,
        )
        self.runner.wake()
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

    @set_.autocomplete("timezone")
    async def timezone_autocomplete(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in timecalc.suggest_zones(current)]

    @daily.command(name="off", description="Stop the daily post in a channel")
    @app_commands.describe(channel="A channel with a daily post")
    async def off(self, interaction: discord.Interaction[PaperBot], channel: str) -> None:
        schedule = await self._schedule_for(interaction, channel)
        await self.bot.store.schedules.delete(schedule.channel_id, now=self.runner.clock.now())
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
        await reply_private(interaction, _fit("\n\n".join(blocks)))

    def _status_block(
        self, s: Schedule, trying: Run | None = None, feed_token: str | None = None
    ) -> str:
        when = f"{s.local_time} {s.tz}"
        if s.weekly:
            when = f"weekly top papers, {_weekday(s)}s {when}"
        head = f"**{self._channel_label(s.channel_id)}** — {when}"
        bits = []
        if s.topic:
            bits.append(f"topic “{cards.escape(s.topic)}”")
        if s.thread:
            bits.append("thread")
        if s.role_id:
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
    @app_commands.describe(channel="A channel with a daily post")
    async def preview(self, interaction: discord.Interaction[PaperBot], channel: str) -> None:
        schedule = await self._schedule_for(interaction, channel)
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
    @app_commands.describe(channel="A channel with a daily post")
    async def post_now(self, interaction: discord.Interaction[PaperBot], channel: str) -> None:
        schedule = await self._schedule_for(interaction, channel)
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
            text = f"Posted “{cards.escape(outcome.title or '')}” in {where}."
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
    @app_commands.describe(channel="A channel with a daily post")
    async def resume(self, interaction: discord.Interaction[PaperBot], channel: str) -> None:
        schedule = await self._schedule_for(interaction, channel)
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
        now = self.runner.clock.now()
        zone = timecalc.resolve_zone(schedule.tz)
        at = timecalc.parse_hhmm(schedule.local_time)
        day = (schedule.weekday or 0) if schedule.weekly else None
        resumed = await self.bot.store.schedules.resume(
            schedule.channel_id,
            next_run=timecalc.today_or_next(at, zone, now, day),
            today_key=timecalc.today_key(schedule.tz, now, weekly=schedule.weekly),
            now=now,
        )
        self.runner.wake()
        if resumed is None:  # pragma: no cover - deleted in between
            raise DailyError("That daily post was just turned off.")
        was = "Resumed" if schedule.paused_reason else "It wasn't paused; checked"
        if resumed.weekly:
            what = f"the weekly post in {target.mention} {_when(resumed)}"
            pending = "this week's post is due and hasn't gone out yet"
        else:
            what = f"the daily post in {target.mention} at {resumed.local_time} {resumed.tz}"
            pending = "today's post hasn't gone out yet"
        await reply_private(interaction, f"{was}: {what}. If {pending}, it goes out now.")

    @off.autocomplete("channel")
    @preview.autocomplete("channel")
    @post_now.autocomplete("channel")
    @resume.autocomplete("channel")
    async def channel_autocomplete(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._channel_choices(interaction, current)

    # -- events -----------------------------------------------------------------------------

    @commands.Cog.listener()
    async def on_guild_channel_delete(self, channel: discord.abc.GuildChannel) -> None:
        schedule = await self.bot.store.schedules.get(channel.id)
        if schedule is not None and not schedule.paused_reason:
            await self.bot.store.schedules.pause(
                channel.id, reason="the channel was deleted", now=self.runner.clock.now()
            )
            log.info("channel %s with a daily post was deleted; paused", channel.id)


def _weekday(schedule: Schedule) -> str:
    return timecalc.WEEKDAYS[schedule.weekday or 0].capitalize()


def _what(schedule: Schedule) -> str:
    return "Weekly top papers" if schedule.weekly else "Daily trending paper"


def _when(schedule: Schedule) -> str:
    at = f"at {schedule.local_time} {schedule.tz}"
    return f"on {_weekday(schedule)}s {at}" if schedule.weekly else at


def _name(bot: PaperBot, schedule: Schedule) -> str:
    channel = bot.get_channel(schedule.channel_id)
    return (
        channel.name if isinstance(channel, discord.abc.GuildChannel) else str(schedule.channel_id)
    )


def _fit(text: str, limit: int = 2000) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 40].rsplit("\n", 1)[0] + "\n… (more not shown)"


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(DailyCog(bot, clock=bot.clock))
