"""The /daily options read into values before a command runs: a time of day, a time zone, and
a channel of this server that has a daily post (each with its autocomplete where it has one).

discord.py runs these after the cog's ``interaction_check`` and hands a :class:`DailyError`
(an :class:`~discord.app_commands.AppCommandError`) to the tree's error handler as it is: the
member reads its message privately.
"""

from __future__ import annotations

import re
from datetime import time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import discord
from discord import app_commands

from bot import cards
from bot.interactions import CommandRefusal
from bot.permissions import manages_server
from bot.schedule import timecalc
from bot.store.schedules import Schedule

if TYPE_CHECKING:
    from bot.app import PaperBot

Choices = list[app_commands.Choice[int | float | str]]

_CHANNEL_REF = re.compile(r"^(?:<#)?(\d{5,25})>?$")


class DailyError(CommandRefusal):
    """A problem with the admin's input; the message says what to do (shown privately)."""


def weekday_label(schedule: Schedule) -> str:
    """``Monday`` for a weekly schedule's day."""
    return timecalc.WEEKDAYS[schedule.weekday or 0].capitalize()


class _Text(app_commands.Transformer["PaperBot"]):
    """A string option of :attr:`shortest` to :attr:`longest` characters (Discord checks)."""

    shortest = 1
    longest = 100

    @property
    def min_value(self) -> int:
        return self.shortest

    @property
    def max_value(self) -> int:
        return self.longest


class TimeOfDay(_Text):
    """``09:00`` (24-hour; ``9:05`` and ``09.05`` too) as a :class:`datetime.time`."""

    longest = 10

    async def transform(self, interaction: discord.Interaction[PaperBot], value: str, /) -> time:
        try:
            return timecalc.parse_hhmm(value)
        except timecalc.TimeFormatError as exc:
            raise DailyError(str(exc)) from None


class TimeZone(_Text):
    """An IANA zone name (any case) as a :class:`~zoneinfo.ZoneInfo`; a typo gets the
    closest real name suggested."""

    longest = 64

    async def transform(
        self, interaction: discord.Interaction[PaperBot], value: str, /
    ) -> ZoneInfo:
        try:
            return timecalc.resolve_zone(value)
        except timecalc.UnknownZoneError as exc:
            raise DailyError(str(exc)) from None

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[PaperBot], value: str, /
    ) -> Choices:
        return [app_commands.Choice(name=z, value=z) for z in timecalc.suggest_zones(value)]


class ScheduledChannel(app_commands.Transformer["PaperBot"]):
    """A channel of this server with a daily post (a mention, an id or a name; the
    autocomplete offers them) as its :class:`~bot.store.schedules.Schedule`."""

    async def transform(
        self, interaction: discord.Interaction[PaperBot], value: str, /
    ) -> Schedule:
        bot = interaction.client
        schedules = await bot.store.schedules.for_guild(interaction.guild_id or 0)
        text = value.strip()
        m = _CHANNEL_REF.match(text)
        if m:
            wanted = int(m.group(1))
            found = next((s for s in schedules if s.channel_id == wanted), None)
        else:
            name = text.lstrip("#").casefold()
            found = next((s for s in schedules if _channel_name(bot, s) == name), None)
        if found is None:
            raise DailyError(
                "That channel has no daily post. See `/daily status`, or set one with `/daily set`."
            )
        return found

    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[PaperBot], value: str, /
    ) -> Choices:
        # discord.py runs no interaction_check for autocomplete: check here, or anyone could
        # list the server's daily channels (hidden ones included) by typing.
        if interaction.guild_id is None or not manages_server(interaction):
            return []
        bot = interaction.client
        schedules = await bot.store.schedules.for_guild(interaction.guild_id)
        choices: Choices = []
        needle = value.strip().lstrip("#").casefold()
        for s in schedules:
            channel = bot.get_channel(s.channel_id)
            name = (
                f"#{channel.name}"
                if isinstance(channel, discord.abc.GuildChannel)
                else f"deleted channel {s.channel_id}"
            )
            label = f"{name} · {s.local_time} {s.tz}"
            if s.weekly:
                label += f" · weekly, {weekday_label(s)}s"
            if s.paused_reason:
                label += " · paused"
            if needle in label.casefold():
                choices.append(
                    app_commands.Choice(name=cards.choice_label(label), value=str(s.channel_id))
                )
        return choices[:25]


def _channel_name(bot: PaperBot, schedule: Schedule) -> str | None:
    channel = bot.get_channel(schedule.channel_id)
    return channel.name.casefold() if isinstance(channel, discord.abc.GuildChannel) else None
