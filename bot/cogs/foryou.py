"""/foryou: papers picked for a member from the ones they keep, each saying why; its digest.

The picking lives in :mod:`bot.recs` (no Discord there). This module holds the commands (a
member's own: offered everywhere, always private) and :class:`DiscordDigestSender`, which
sends a digest as a DM with the run's nonce, looks for it after a crash, and turns a closed DM
into :class:`~bot.recs.digest.DigestBlocked`.

Discord does not let a command that has subcommands run on its own, so the feed is
``/foryou picks``; ``/foryou why``, ``/foryou reset``, ``/foryou forget`` and
``/foryou digest on|off`` sit beside it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot import cards, reach
from bot.cogs.search import ResultsView
from bot.interactions import (
    CommandRefusal,
    read_failure,
    reply_private,
    send_update,
    when_ready,
)
from bot.models import Paper
from bot.permissions import member_refusal
from bot.recs import model as rm
from bot.recs.digest import (
    Digest,
    DigestBlocked,
    DigestRunner,
    TransientDigestError,
)
from bot.recs.explain import TokenModel
from bot.recs.recommender import COLD, PERSONAL, UNAVAILABLE, Explanation, Pick, Picks, Recommender
from bot.schedule import timecalc
from bot.schedule.leased import Clock, SystemClock
from bot.schedule.ratelimit import RateLimiter
from bot.schedule.supervisor import SupervisedTask
from bot.store.recs import PAUSE_DMS_CLOSED, WEEKLY, ForgetCounts, Member
from bot.views import action_buttons, rating_view

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

PICKS_MAX = 25  # one select menu's worth, like /search
DEFAULT_TIME = "08:00"
CONFIRM_SECONDS = 120.0
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def basis(picks: Picks | Explanation) -> str:
    """What the member's picks are made from, in words."""
    parts = [_plural(picks.saves, "save"), _plural(picks.votes, "vote")]
    if picks.dismissals:
        parts.append(_plural(picks.dismissals, "👎", "👎"))
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def model_words(kind: str | None) -> str:
    if kind == rm.CLASSIFIER:
        return (
            "a classifier trained on your ⭐ saves and 👍 votes against your 👎 and a sample "
            "of other papers"
        )
    return "the average of the papers you saved and voted for (minus your 👎)"


class PicksView(ResultsView):
    """A member's picks, paged like /search; every card shown is recorded as seen."""

    def __init__(
        self, *, owner_id: int, bot: PaperBot, papers: list[Paper], picks: list[Pick]
    ) -> None:
        self.bot = bot
        self.picks = {p.paper_id: p for p in picks}
        super().__init__(
            owner_id=owner_id,
            papers=papers,
            query="",
            corrected=None,
            total=len(papers),
            load=bot.store.papers.get,
        )

    def embed(self) -> discord.Embed:
        pick = self.picks.get(self.current.id)
        context = f"For you · pick {self.index + 1} of {len(self.entries)}"
        why = cards.pick_reason(pick.because_title, pick.words) if pick else None
        return cards.paper_embed(self.current, context=context, why=why)

    def card_buttons(self) -> list[discord.ui.Item[Any]]:
        return action_buttons(self.current, row=2, pick=True)

    async def _show(self, interaction: discord.Interaction[Any], index: int) -> None:
        await super()._show(interaction, index)
        pick = self.picks.get(self.current.id)
        if pick is not None:
            await self.bot.store.recs.mark_shown(self.owner_id, [pick.pid], datetime.now(UTC))


class ForgetView(discord.ui.View):
    """Asks before ``/foryou forget`` deletes anything (only its member can answer)."""

    def __init__(self, cog: ForYouCog, owner_id: int) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.cog = cog
        self.owner_id = owner_id
        self.done = False

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await reply_private(interaction, "Only the member who asked can answer this.")
        return False

    @discord.ui.button(
        label="Delete everything", style=discord.ButtonStyle.danger, custom_id="pb:forget:yes"
    )
    async def confirm(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        self.done = True
        self.stop()
        # A write: it may wait behind another writer (an import), so acknowledged if slow.
        counts = await when_ready(
            interaction, self.cog.bot.store.recs.forget(self.owner_id), ephemeral=True, update=True
        )
        self.cog.recommender.forget(self.owner_id)
        log.info("user %s made PaperBot forget their For you data", self.owner_id)
        await send_update(interaction, content=forgotten_text(counts), view=None)

    @discord.ui.button(
        label="Cancel", style=discord.ButtonStyle.secondary, custom_id="pb:forget:no"
    )
    async def cancel(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        self.done = True
        self.stop()
        await interaction.response.edit_message(content="Nothing was deleted.", view=None)


def forgotten_text(counts: ForgetCounts) -> str:
    if not counts.total:
        return "There was nothing to delete: PaperBot kept no signals or profile of yours."
    parts = [
        (counts.saves, "saved paper", None),
        (counts.votes, "👍 vote", None),
        (counts.dismissals, "👎", "👎"),
        (counts.shown, "paper shown to you", "papers shown to you"),
        (counts.digests, "digest record", None),
    ]
    listed = [_plural(n, word, words) for n, word, words in parts if n]
    if counts.profile:
        listed.append("your profile and digest settings")
    return (
        "🗑️ Deleted: " + ", ".join(listed) + ". PaperBot keeps nothing of yours for "
        "For you now (your `/alerts` are separate: remove them there)."
    )


def digest_message(digest: Digest) -> tuple[discord.Embed, discord.ui.View]:
    """The DM: the picks as a numbered list with their reasons, ⭐ / 👎 for each."""
    when = "this week" if digest.weekly else "today"
    if digest.kind == PERSONAL:
        title = f"📬 Your new papers for {when}"
        description = "Picked from the papers you saved and voted for."
    else:
        title = f"📬 Trending papers to rate, {when}"
        description = (
            "Save ⭐ the ones you like and 👎 the rest: your next digests will be picked "
            "from what you keep."
        )
    notes = [cards.pick_reason(p.because_title, p.words) or None for p in digest.picks]
    embed = cards.list_embed(
        title,
        list(digest.papers),
        description=description,
        footer="/foryou why explains a pick · /foryou digest off stops these",
        notes=notes,
    )
    return embed, rating_view(digest.papers)


class DiscordDigestSender:
    """:class:`bot.recs.digest.DigestSender` over Discord: one DM per digest."""

    def __init__(self, bot: PaperBot, limiter: RateLimiter) -> None:
        self.bot = bot
        self.limiter = limiter

    async def _dm(self, user_id: int) -> discord.DMChannel:
        await self.limiter.acquire()
        try:
            return await self.bot.create_dm(discord.Object(id=user_id))
        except discord.NotFound as exc:
            raise DigestBlocked("unknown user") from exc
        except discord.HTTPException as exc:
            raise _transient(exc, creates=False) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientDigestError(
                f"network error: {type(exc).__name__}", maybe_sent=False
            ) from None

    async def send(self, digest: Digest, /) -> int:
        dm = await self._dm(digest.user_id)
        embed, view = digest_message(digest)
        await self.limiter.acquire()
        try:
            message = await dm.send(
                embed=embed,
                view=view,
                nonce=digest.nonce,
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            raise DigestBlocked(f"DMs closed (Discord error {exc.code})") from exc
        except (discord.HTTPException, discord.RateLimited) as exc:
            raise _transient(exc, creates=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientDigestError(f"network error: {type(exc).__name__}") from None
        return message.id

    async def find_sent(self, digest: Digest, since: datetime, /) -> int | None:
        if not digest.papers:
            return None
        dm = await self._dm(digest.user_id)
        me = self.bot.user
        if me is None:  # pragma: no cover - not logged in yet
            raise TransientDigestError("not logged in yet")
        after = discord.Object(id=discord.utils.time_snowflake(since, high=False))
        first = digest.papers[0]
        await self.limiter.acquire()
        try:
            async for message in dm.history(limit=50, after=after, oldest_first=True):
                if message.author.id == me.id and any(
                    e.description and cards.lists_paper(e.description, first)
                    for e in message.embeds
                ):
                    return message.id
        except (discord.Forbidden, discord.NotFound) as exc:
            raise DigestBlocked(f"DMs closed (Discord error {exc.code})") from exc
        except discord.HTTPException as exc:
            raise _transient(exc, creates=True) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise TransientDigestError(f"network error: {type(exc).__name__}") from None
        return None

    async def notify_blocked(self, member: Member, /) -> None:
        """Told once, where the member turned the digest on, if the bot is there and the
        member can read and write there (else they see it in ``/foryou picks``)."""
        channel = self.bot.get_channel(member.origin_channel_id or 0)
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            return
        found = channel.guild.get_member(member.user_id)
        if found is None:
            with contextlib.suppress(discord.HTTPException):
                found = await channel.guild.fetch_member(member.user_id)
        if found is None or member_refusal(found, channel) is not None:
            return
        await self.limiter.acquire()
        await channel.send(
            f"<@{member.user_id}> I couldn't send you your For you digest: your DMs are closed "
            "to me, so I paused it. Allow direct messages from this server's members "
            "(Privacy settings), then run `/foryou digest on`.",
            allowed_mentions=discord.AllowedMentions.none(),
        )


def _transient(
    exc: discord.HTTPException | discord.RateLimited, *, creates: bool
) -> TransientDigestError:
    failure = read_failure(exc)
    return TransientDigestError(
        failure.reason, retry_after=failure.retry_after, maybe_sent=failure.maybe_sent(creates)
    )


class ForYouError(CommandRefusal):
    """Bad input to a /foryou command; the message says what to do."""


class ForYouCog(commands.Cog):
    foryou = reach.everywhere(
        app_commands.Group(
            name="foryou", description="New papers picked for you from the ones you save"
        )
    )
    digest = app_commands.Group(
        name="digest", description="Your top new picks by DM, daily or weekly", parent=foryou
    )

    def __init__(self, bot: PaperBot, *, clock: Clock | None = None) -> None:
        self.bot = bot
        self.clock: Clock = clock or bot.clock or SystemClock()
        self.recommender = Recommender(
            bot.store.db,
            token_model=self._token_model,
            trending=self._trending,
            unavailable=self._unavailable,
        )
        self.limiter = RateLimiter(rate=10.0, burst=5)
        self.sender = DiscordDigestSender(bot, self.limiter)
        self.runner = DigestRunner(
            bot.store.recs, self.recommender, bot.store.papers, self.sender, self.clock
        )
        self.digests = SupervisedTask(
            "the For you digest",
            lambda: self.runner.run_forever(self.bot.wait_until_ready),
            SystemClock(),  # restarts wait in real time (see DigestRunner._sleep)
            halt=self.runner.stop,
            task_name="foryou-digest",
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def cog_load(self) -> None:
        self.digests.start()

    async def cog_unload(self) -> None:
        await self.digests.stop()

    # -- what the recommender needs from the bot -----------------------------------------------

    def _token_model(self) -> TokenModel | None:
        meaning = self.bot.vectors.meaning
        return meaning.embedder if meaning is not None else None

    def _unavailable(self) -> str | None:
        if not self.bot.settings.semantic:
            return "search by meaning is off on this bot (PAPERBOT_SEMANTIC)"
        return self.bot.vectors.problem

    async def _trending(self, scope: int, limit: int) -> list[int]:
        ranked = await self.bot.trends.ranked_for_guild(scope, datetime.now(UTC), limit)
        return [s.pid for s in ranked]

    # -- /foryou picks -------------------------------------------------------------------------

    @foryou.command(name="picks", description="New papers picked for you, each saying why")
    async def picks(self, interaction: discord.Interaction[PaperBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        user_id = interaction.user.id
        found = await self.recommender.feed(
            user_id, PICKS_MAX, scope=reach.trending_scope(interaction)
        )
        member = await self.bot.store.recs.member(user_id)
        notice = _paused_note(member)
        papers = await self.bot.store.papers.get_by_pids([p.pid for p in found.picks])
        if not papers:
            text = (
                "You've seen every new paper I could pick for you. New ones arrive every day: "
                "come back later, or save ⭐ papers on other topics."
                if found.kind == PERSONAL
                else "There are no papers to show yet."
            )
            await interaction.followup.send(text + notice, ephemeral=True)
            return
        if found.kind != PERSONAL:
            restarted = member is not None and member.reset_at is not None
            await self._send_rating(interaction, found, papers, notice, restarted=restarted)
            return
        shown = {x.id for x in papers}
        picks = [p for p in found.picks if p.paper_id in shown]
        view = PicksView(owner_id=user_id, bot=self.bot, papers=papers, picks=picks)
        content = (
            f"Picked from {found.candidates:,} new papers by {model_words(found.model)} "
            f"({basis(found)}). 👎 on a card: fewer like it; `/foryou why` explains a pick."
        )
        # Seen before it is sent: a second /foryou picks right after this one never shows the
        # same paper (were the send to fail, the paper merely counts as seen).
        await self.bot.store.recs.mark_shown(user_id, [picks[0].pid], datetime.now(UTC))
        view.message = await interaction.followup.send(
            content + notice, embed=view.embed(), view=view, ephemeral=True, wait=True
        )

    async def _send_rating(
        self,
        interaction: discord.Interaction[PaperBot],
        found: Picks,
        papers: Sequence[Paper],
        notice: str,
        *,
        restarted: bool,
    ) -> None:
        if found.kind == COLD:
            intro = (
                "You haven't saved or voted for any paper "
                + ("since you started over" if restarted else "yet")
                + ", so here are a few varied trending papers. Rate them: ⭐ the ones you'd "
                "read, 👎 the rest. Then `/foryou picks` again for papers picked for you."
            )
        else:
            intro = (
                f"I can't pick for you yet: {found.reason or 'no vectors'}. Meanwhile, trending "
                "papers you haven't seen:"
            )
        title = "✨ For you: first, rate a few" if found.kind == COLD else "✨ Trending, meanwhile"
        embed = cards.list_embed(title, papers, description=intro + notice)
        ids = {p.id for p in papers}
        await self.bot.store.recs.mark_shown(  # before sending, as for picks
            interaction.user.id,
            [p.pid for p in found.picks if p.paper_id in ids],
            datetime.now(UTC),
        )
        await interaction.followup.send(embed=embed, view=rating_view(papers), ephemeral=True)

    # -- /foryou why ---------------------------------------------------------------------------

    @foryou.command(name="why", description="Why a paper is (or isn't) one of your picks")
    @app_commands.describe(paper="A paper you were shown (start typing), or any arXiv id or link")
    async def why(
        self, interaction: discord.Interaction[PaperBot], paper: app_commands.Range[str, 1, 300]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await self.bot.store.papers.get(paper)
        if found is None:
            result = await self.bot.search.search(paper, limit=1)
            found = result.hits[0].paper if result.hits else None
        if found is None:
            await interaction.followup.send(
                f"No paper matches “{cards.escape(cards.truncate(paper, 100))}”. "
                "Pick one from the list as you type.",
                ephemeral=True,
            )
            return
        explained = await self.recommender.explain(interaction.user.id, found.id)
        if explained is None:
            await interaction.followup.send("That paper is no longer in the store.", ephemeral=True)
            return
        embed = cards.notice_embed(
            f"Why: {cards.escape(cards.shown_title(found))}", why_text(explained)
        )
        await interaction.followup.send(embed=embed, ephemeral=True)

    @why.autocomplete("paper")
    async def why_autocomplete(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if not current.strip():
            pairs = await self.bot.store.recs.recent_shown(interaction.user.id, 25)
            pairs = [(pid, cards.title_label(title)) for pid, title in pairs]
        else:
            pairs = [(s.id, s.label) for s in await self.bot.search.autocomplete(current, limit=25)]
        return [
            app_commands.Choice(name=cards.choice_label(label), value=pid)
            for pid, label in pairs[:25]
            if len(pid) <= cards.CHOICE_MAX
        ]

    # -- /foryou reset, forget -----------------------------------------------------------------

    @foryou.command(
        name="reset", description="Start your picks over: what you saved so far stops counting"
    )
    async def reset(self, interaction: discord.Interaction[PaperBot]) -> None:
        # A write: it may wait behind another writer (an import), so "thinking…" if slow.
        counts = await when_ready(
            interaction,
            self.bot.store.recs.reset(interaction.user.id, datetime.now(UTC)),
            ephemeral=True,
        )
        self.recommender.forget(interaction.user.id)
        set_aside = [
            _plural(counts.saves, "save"),
            _plural(counts.votes, "vote"),
            _plural(counts.dismissals, "👎", "👎"),
        ]
        await reply_private(
            interaction,
            "🔄 Your picks start over: "
            + ", ".join(set_aside)
            + " no longer shape them. Your reading list and votes stay where they are, and "
            "papers you were shown or dismissed stay out of your picks. Save ⭐ papers to "
            "build your picks again (`/foryou forget` deletes everything instead).",
        )

    @foryou.command(
        name="forget", description="Delete your saves, votes, 👎 and For you profile, for good"
    )
    async def forget(self, interaction: discord.Interaction[PaperBot]) -> None:
        user_id = interaction.user.id
        saved = await self.bot.store.social.saved_count(user_id)
        view = ForgetView(self, user_id)
        await interaction.response.send_message(
            "This deletes, for good, everything PaperBot keeps for your picks: your reading "
            f"list ({_plural(saved, 'paper')}, export it first with `/saved export`), your 👍 "
            "votes in every server, your 👎, the papers you were shown, and your digest. "
            "Delete it all?",
            view=view,
            ephemeral=True,
        )

    # -- /foryou digest on|off -----------------------------------------------------------------

    @digest.command(name="on", description="Your top 5 new picks by DM, every day (or week)")
    @app_commands.describe(
        time="Local time, 24-hour HH:MM (default 08:00)",
        timezone="Your time zone, e.g. Europe/Berlin (default: the last you gave, else UTC)",
        cadence="Daily (default) or weekly",
        weekday="For a weekly digest: the day it comes (default Monday)",
    )
    async def digest_on(
        self,
        interaction: discord.Interaction[PaperBot],
        time: app_commands.Range[str, 1, 10] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
        cadence: Literal["daily", "weekly"] = "daily",
        weekday: Weekday | None = None,
    ) -> None:
        # Writes: they may wait behind another writer (an import), so "thinking…" if slow.
        member = await when_ready(
            interaction,
            self._digest_on(interaction, time, timezone, cadence, weekday),
            ephemeral=True,
        )
        self.runner.wake()
        assert member.next_run is not None and member.tz is not None
        day = member.weekday
        when = f"every {timecalc.WEEKDAYS[day].title()}" if day is not None else "every day"
        stamp = int(member.next_run.timestamp())
        log.info("user %s turned their For you digest on (%s %s)", member.user_id, when, member.tz)
        await reply_private(
            interaction,
            f"📬 Your For you digest is on: your top 5 new picks by DM {when} at "
            f"{member.local_time} ({member.tz}); never a paper you've seen. First one "
            f"<t:{stamp}:R>. Keep DMs from PaperBot open; `/foryou digest off` stops it.",
        )

    async def _digest_on(
        self,
        interaction: discord.Interaction[PaperBot],
        time: str | None,
        timezone: str | None,
        cadence: Literal["daily", "weekly"],
        weekday: Weekday | None,
    ) -> Member:
        user_id = interaction.user.id
        before = await self.bot.store.recs.member(user_id)
        try:
            at = timecalc.parse_hhmm(time or (before and before.local_time) or DEFAULT_TIME)
            zone = timecalc.resolve_zone(timezone or (before and before.tz) or "UTC")
        except ValueError as exc:
            raise ForYouError(str(exc)) from None
        if weekday is not None and cadence != WEEKLY:
            raise ForYouError(
                "A weekday is for a weekly digest: add `cadence: weekly`, or leave out `weekday`."
            )
        day = timecalc.WEEKDAYS.index(weekday or "monday") if cadence == WEEKLY else None
        now = self.clock.now()
        return await self.bot.store.recs.set_digest(
            user_id,
            local_time=timecalc.format_hhmm(at),
            tz=zone.key,
            cadence=cadence,
            weekday=day,
            next_run=timecalc.next_run(at, zone, now, day),
            origin_channel_id=interaction.channel_id,
            now=now,
        )

    @digest_on.autocomplete("timezone")
    async def timezone_autocomplete(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=z, value=z) for z in timecalc.suggest_zones(current)]

    @digest.command(name="off", description="Stop your For you digest")
    async def digest_off(self, interaction: discord.Interaction[PaperBot]) -> None:
        # A write: it may wait behind another writer (an import), so "thinking…" if slow.
        was_on = await when_ready(
            interaction,
            self.bot.store.recs.digest_off(interaction.user.id, self.clock.now()),
            ephemeral=True,
        )
        await reply_private(
            interaction, "Your digest is off." if was_on else "Your digest was not on."
        )


def _paused_note(member: Member | None) -> str:
    if member is not None and member.digest and member.paused_reason == PAUSE_DMS_CLOSED:
        return (
            "\n⚠️ Your digest is paused: your DMs were closed to PaperBot. Open them, then "
            "`/foryou digest on`."
        )
    return ""


def why_text(e: Explanation) -> str:
    """``/foryou why``: what counts for the member, and where this paper stands."""
    lines: list[str] = []
    if e.saved:
        lines.append("⭐ You saved it: it counts toward your picks and is never picked itself.")
    if e.voted:
        lines.append("👍 You voted for it: it counts toward your picks.")
    if e.dismissed:
        lines.append(
            "👎 You marked it Not for me: it is never picked, and papers like it weigh less."
        )
    if e.shown and not (e.saved or e.voted or e.dismissed):
        lines.append("You were shown it as a pick before: it won't be picked again.")
    if e.kind == COLD:
        lines.append(
            "You have no saves or votes counting yet, so your picks are varied trending papers. "
            "Save ⭐ papers (or 👍 them in a server) and your picks follow what you keep."
        )
        return "\n".join(lines)
    if e.kind == UNAVAILABLE:
        reason = e.reason or "this paper has no vector yet"
        lines.append(f"I can't score it for you: {reason}.")
        return "\n".join(lines)
    assert e.score is not None
    lines.append(f"Your picks come from {model_words(e.model)} ({basis(e)}).")
    if e.rank is not None:
        lines.append(
            f"Score {e.score:+.2f}: #{e.rank:,} of the {e.candidates:,} new papers for you."
        )
    else:
        lines.append(
            f"Score {e.score:+.2f}, but it is not among the {e.candidates:,} newest papers, so "
            "it is not picked (picks are new papers only)."
        )
    if e.closest:
        near = "\n".join(
            f"• *{cards.truncate(cards.escape(cards.shown_title(Paper(id=pid, title=title))), 150)}* "
            f"({sim:+.2f})"
            for pid, title, sim in e.closest
        )
        lines.append(f"Closest of the papers you saved or voted for:\n{near}")
    if e.words:
        lines.append(
            "Words of it that weighed most: " + ", ".join(cards.escape(w) for w in e.words)
        )
    return "\n".join(lines)


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(ForYouCog(bot))
