"""/alerts add|list|remove|resume, and the Discord side of alert delivery.

The matching and bookkeeping live in :mod:`bot.fetch.alerts`; this module only talks to
Discord: the slash commands, and :class:`DiscordAlertSender`, which turns a digest into DMs
(or channel messages; more than one when one cannot hold it) and a refusal for good (a closed
DM, error 50007; a deleted or hidden channel: :func:`bot.interactions.read_failure`) into
``DeliveryBlocked``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import cards, reach
from bot.fetch.alerts import (
    PAUSE_DMS_CLOSED,
    PAUSE_QUERY_REFUSED,
    DeliveryBlocked,
    Digest,
    QueryError,
    compile_alert,
    compile_author,
    compile_query,
)
from bot.interactions import read_failure, reply_private, when_ready
from bot.permissions import manages_server, member_refusal, missing_permissions, perm_names
from bot.store.alerts import AUTHOR, KEYWORDS, Alert

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

MAX_ALERTS_PER_MEMBER = 10
PAPERS_PER_EMBED = 10
CANNOT_DM = 50007  # Discord: "Cannot send messages to this user"


def quoted(text: str, limit: int = 80) -> str:
    return f"“{cards.escape(cards.truncate(text, limit))}”"


def what(alert: Alert, limit: int = 80) -> str:
    """How an alert reads in a sentence: “diffusion models”, or by J. Smith."""
    if alert.kind == AUTHOR:
        return f"by {cards.escape(cards.truncate(alert.query, limit))}"
    return quoted(alert.query, limit)


def digest_messages(digest: Digest, daily_cap: int) -> list[cards.ListMessage]:
    """The digest as list cards (10 papers each), in as many messages as it takes: nothing
    is cut, and each message says which papers it shows."""
    alerts = list({(a.kind, a.query): a for a in digest.alerts}.values())
    title = "🔔 New papers for your alert" + ("s" if len(alerts) > 1 else "")
    if digest.kind == "channel":
        title = "🔔 New papers " + " or ".join(
            what(a, 60) if a.kind == AUTHOR else "matching " + what(a, 60) for a in alerts[:3]
        )
    reasons = [what(a) if a.kind == AUTHOR else "matching " + what(a) for a in alerts[:5]]
    because = " or ".join(reasons)
    because = because[:1].upper() + because[1:]
    lines = [because if because.endswith(".") else because + "."]
    if digest.held_back:
        lines.append(
            f"{digest.held_back} more match(es) were not sent: the limit is {daily_cap} papers "
            "a day. A narrower alert gets fewer, better matches."
        )
    footer = (
        "Manage with /alerts list · /alerts remove"
        if digest.kind == "user"
        else "Channel alert · managed with /alerts by members with Manage Server"
    )
    return cards.list_messages(
        title,
        digest.papers,
        description="\n".join(lines),
        footer=footer,
        more_title="More new papers",
        per_embed=PAPERS_PER_EMBED,
    )


class DiscordAlertSender:
    """:class:`bot.fetch.alerts.AlertSender` over Discord."""

    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot

    async def _messageable(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.HTTPException as exc:
                if not read_failure(exc).refused:
                    raise
                raise DeliveryBlocked(f"channel {channel_id} is gone or hidden") from exc
        if not isinstance(channel, discord.abc.Messageable):
            raise DeliveryBlocked(f"channel {channel_id} cannot hold messages")
        return channel

    async def _member(self, guild: discord.Guild, user_id: int) -> discord.Member | None:
        """The member (from the cache, else Discord: no members intent); None if they left."""
        member = guild.get_member(user_id)
        if member is None:
            try:
                member = await guild.fetch_member(user_id)
            except discord.NotFound:
                return None
        return member

    async def send_digest(self, digest: Digest) -> list[str]:
        """Send the digest (one message or several); returns the ids of the papers shown.

        When a later message fails, the papers of the earlier ones were delivered: they are
        returned and the rest stay pending for the next run (the failure is logged)."""
        messages = digest_messages(digest, self.bot.settings.alerts_daily_cap)
        shown: list[str] = []
        for message in messages:
            try:
                await self._send(digest, message.embeds)
            except Exception:
                if not shown:
                    raise
                log.warning(
                    "alert digest to %s %s stopped after %d of %d paper(s); the rest next run",
                    digest.kind,
                    digest.target_id,
                    len(shown),
                    len(digest.papers),
                    exc_info=True,
                )
                break
            shown += [p.id for p in message.papers]
        return shown

    async def _send(self, digest: Digest, embeds: list[discord.Embed]) -> None:
        if digest.kind == "user":
            try:
                dm = await self.bot.create_dm(discord.Object(id=digest.target_id))
                await dm.send(embeds=embeds)
            except discord.HTTPException as exc:
                failure = read_failure(exc)
                if not failure.refused:
                    raise  # tried again next run
                if failure.status == 404:
                    raise DeliveryBlocked("unknown user") from exc
                raise DeliveryBlocked(f"DMs closed (Discord error {exc.code})") from exc
            return
        channel = await self._messageable(digest.target_id)
        try:
            await channel.send(embeds=embeds)
        except discord.HTTPException as exc:
            if not read_failure(exc).refused:
                raise  # tried again next run
            raise DeliveryBlocked(f"cannot post (Discord error {exc.code})") from exc

    async def notify_blocked(self, alert: Alert) -> None:
        channel = await self._messageable(alert.origin_channel_id)
        if isinstance(channel, discord.abc.GuildChannel | discord.Thread):
            # Only where the member could write themselves: not in a channel they lost (or
            # never had) access to, which would show others what they subscribe to.
            member = await self._member(channel.guild, alert.user_id)
            refusal = (
                "they are no longer in the server"
                if member is None
                else member_refusal(member, channel)
            )
            if refusal is not None:
                log.info(
                    "not telling user %s in channel %s that their DMs are closed: %s",
                    alert.user_id,
                    channel.id,
                    refusal,
                )
                return
        await channel.send(
            f"<@{alert.user_id}> I couldn't send you your paper alerts: your DMs are closed "
            "to me. I paused your alerts. Allow direct messages from this server's members "
            "(Privacy settings), then run `/alerts resume`.",
            # Shown as a mention, but no notification: the daily role ping is the only
            # mention the bot ever makes.
            allowed_mentions=discord.AllowedMentions.none(),
        )


def refusal(alert: Alert) -> str:
    """Why *alert*'s query is refused now ("" if it is accepted)."""
    try:
        compile_alert(alert)
    except QueryError as exc:
        return str(exc)
    return ""


def alert_label(alert: Alert, bot: PaperBot | None = None) -> str:
    where = "DM"
    if alert.channel_id is not None:
        channel = bot.get_channel(alert.channel_id) if bot else None
        where = f"#{channel.name}" if isinstance(channel, discord.abc.GuildChannel) else "channel"
    state = " (paused)" if alert.paused else ""
    what = f"author: {alert.query}" if alert.kind == AUTHOR else alert.query
    return f"{what} → {where}{state}"


class AlertsCog(commands.Cog):
    alerts = app_commands.Group(
        name="alerts",
        description="Get new papers matching your keywords, by DM",
        guild_only=True,
    )

    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction[PaperBot]) -> bool:  # type: ignore[override]
        # A server feature: the alerts live with a server and may post in its channels.
        reach.require_bot_in_server(interaction, "`/alerts`")
        return True

    async def _visible(self, interaction: discord.Interaction[PaperBot]) -> list[Alert]:
        """The member's alerts, plus the server's channel alerts for those who manage it."""
        guild_id = interaction.guild_id or 0
        repo = self.bot.store.alerts
        mine = await repo.for_member(guild_id, interaction.user.id)
        if manages_server(interaction):
            seen = {a.id for a in mine}
            mine += [
                a for a in await repo.for_guild(guild_id, channels_only=True) if a.id not in seen
            ]
        return mine

    @alerts.command(
        name="add", description="Be told about new papers matching a query, or by an author"
    )
    @app_commands.describe(
        query='Words that must all appear; "a phrase", word* for a prefix, -word to exclude',
        author="Follow an author instead: a name such as J. Smith or Smith, Jane",
        channel="Post matches in this channel instead of a DM (needs Manage Server)",
    )
    async def add(
        self,
        interaction: discord.Interaction[PaperBot],
        query: app_commands.Range[str, 2, 100] | None = None,
        author: app_commands.Range[str, 2, 100] | None = None,
        channel: discord.TextChannel | None = None,
    ) -> None:
        if (query is None) == (author is None):
            await interaction.response.send_message(
                "Give either a `query` (words to look for) or an `author` to follow, "
                "not both. Add one alert for each.",
                ephemeral=True,
            )
            return
        kind = KEYWORDS if query is not None else AUTHOR
        query = " ".join((query or author or "").split())
        if not self.bot.settings.refresh_enabled:
            await interaction.response.send_message(
                "Alerts come with the live refresh of papers, which is turned off on this bot "
                "(PAPERBOT_REFRESH). Ask whoever runs it.",
                ephemeral=True,
            )
            return
        try:
            compile_query(query) if kind == KEYWORDS else compile_author(query)
        except QueryError as exc:
            await interaction.response.send_message(
                f"That alert won't work: {exc}.", ephemeral=True
            )
            return
        if channel is not None and not manages_server(interaction):
            await interaction.response.send_message(
                "Only members with Manage Server can set a channel alert. "
                "Leave out `channel` to get the papers by DM.",
                ephemeral=True,
            )
            return
        if channel is not None:
            refusal = member_refusal(interaction.user, channel)
            if refusal is not None:
                log.info(
                    "refused a channel alert for user %s in channel %s: %s",
                    interaction.user.id,
                    channel.id,
                    refusal,
                )
                await interaction.response.send_message(refusal, ephemeral=True)
                return
            me = channel.guild.me
            missing = (
                missing_permissions(
                    channel.permissions_for(me), ("view_channel", "send_messages", "embed_links")
                )
                if me
                else ["view_channel"]
            )
            if missing:
                await interaction.response.send_message(
                    f"I can't post in {channel.mention}: I'm missing {perm_names(missing)} there.",
                    ephemeral=True,
                )
                return
        repo = self.bot.store.alerts
        guild_id = interaction.guild_id or 0

        async def add() -> tuple[Alert, bool] | None:
            if await repo.count_for_member(guild_id, interaction.user.id) >= MAX_ALERTS_PER_MEMBER:
                return None
            return await repo.add(
                guild_id=guild_id,
                user_id=interaction.user.id,
                query=query,
                origin_channel_id=interaction.channel_id or 0,
                channel_id=channel.id if channel else None,
                kind=kind,
            )

        # A write: it may wait behind another writer (an import), so "thinking…" if slow.
        added = await when_ready(interaction, add(), ephemeral=True)
        if added is None:
            await reply_private(
                interaction,
                f"You have {MAX_ALERTS_PER_MEMBER} alerts here already; remove one with "
                "`/alerts remove` first.",
            )
            return
        alert, created = added
        cap = self.bot.settings.alerts_daily_cap
        where = f"in {channel.mention}" if channel else "by DM"
        verb = "Alert added" if created else "You already had this alert; it is active"
        papers = "new papers matching" if kind == KEYWORDS else "new papers"
        await reply_private(
            interaction,
            f"🔔 {verb}: {papers} {what(alert)} will be sent {where} "
            f"(at most {cap} a day, never the same paper twice)."
            + ("" if channel else " Keep DMs from this server's members open."),
        )
        log.info(
            "alert %d %s by user %s in guild %s",
            alert.id,
            "added" if created else "resumed",
            interaction.user.id,
            guild_id,
        )

    @alerts.command(name="list", description="Your alerts in this server")
    async def list_(self, interaction: discord.Interaction[PaperBot]) -> None:
        alerts = await self._visible(interaction)
        if not alerts:
            text = "You have no alerts here. Add one with `/alerts add`."
        else:
            lines = []
            for a in alerts:
                line = f"• {cards.escape(alert_label(a, self.bot))}"
                if a.paused_reason == PAUSE_DMS_CLOSED:
                    line += " — your DMs were closed; `/alerts resume` after opening them"
                elif a.paused_reason == PAUSE_QUERY_REFUSED and (why := refusal(a)):
                    line += f" — no longer accepted: {why}; remove it and add a narrower one"
                lines.append(line)
            text = "\n".join(lines)
        embed = cards.notice_embed("🔔 Alerts", text)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @alerts.command(name="remove", description="Stop an alert")
    @app_commands.describe(alert="The alert to stop")
    async def remove(self, interaction: discord.Interaction[PaperBot], alert: str) -> None:
        async def find_and_remove() -> Alert | None:
            visible = await self._visible(interaction)
            lowered = alert.casefold()
            found = next((a for a in visible if alert.isdigit() and a.id == int(alert)), None)
            found = found or next((a for a in visible if a.query.casefold() == lowered), None)
            if found is not None:
                await self.bot.store.alerts.remove(found.id)
            return found

        # A write: it may wait behind another writer (an import), so "thinking…" if slow.
        found = await when_ready(interaction, find_and_remove(), ephemeral=True)
        if found is None:
            await reply_private(
                interaction, "I can't find that alert. Pick one from the list as you type."
            )
            return
        await reply_private(interaction, f"Alert {what(found)} removed.")

    @remove.autocomplete("alert")
    async def remove_autocomplete(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.casefold()
        return [
            app_commands.Choice(name=cards.choice_label(alert_label(a, self.bot)), value=str(a.id))
            for a in await self._visible(interaction)
            if needle in a.query.casefold()
        ][:25]

    @alerts.command(
        name="resume", description="Resume your paused alerts here (and DM alerts everywhere)"
    )
    async def resume(self, interaction: discord.Interaction[PaperBot]) -> None:
        # A write: it may wait behind another writer (an import), so "thinking…" if slow.
        text = await when_ready(interaction, self._resume(interaction), ephemeral=True)
        await reply_private(interaction, text)

    async def _resume(self, interaction: discord.Interaction[PaperBot]) -> str:
        here, elsewhere = await self.bot.store.alerts.resume_member(
            interaction.guild_id or 0,
            interaction.user.id,
            keep_reasons=(PAUSE_QUERY_REFUSED,),  # it would only be paused again
        )
        if here or elsewhere:
            text = f"Resumed {here + elsewhere} alert(s)"
            if elsewhere:
                # Closed DMs paused them everywhere: opening DMs fixes them everywhere.
                text += f", {elsewhere} of them by DM from other servers"
            return text + ". New matches will reach you from now on."
        if any(a.paused_reason == PAUSE_QUERY_REFUSED for a in await self._visible(interaction)):
            return (
                "Nothing to resume: an alert whose query is no longer accepted stays paused "
                "(see `/alerts list`)."
            )
        return "None of your alerts is paused."


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(AlertsCog(bot))
