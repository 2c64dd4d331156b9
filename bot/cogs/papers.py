"""/paper, /cite, /trending, /random, /about and /saved: one paper, its citation, the top list,
the reading list (and its export as a BibTeX, RIS or CSV file)."""

from __future__ import annotations

import asyncio
import io
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import cards, cite, reach
from bot.config import PROJECT_URL
from bot.interactions import reply_private, send_answer, when_ready
from bot.models import Paper
from bot.store.health import overview
from bot.trending import NO_SERVER
from bot.views import card_view, send_citation

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

SAVED_PAGE = 10
# Reading lists are a few hundred papers at most; the export holds the most recent this many
# (a few MB as BibTeX with abstracts, under Discord's smallest attachment limit).
EXPORT_MAX = 1000


class PapersCog(commands.Cog):
    saved = reach.everywhere(
        app_commands.Group(name="saved", description="Your reading list (papers you saved with ⭐)")
    )

    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot

    # -- /paper ---------------------------------------------------------------------------

    @app_commands.command(name="paper", description="Show one paper's card")
    @reach.everywhere
    @app_commands.describe(paper="Start typing a title, or paste an arXiv id or link")
    async def paper(
        self, interaction: discord.Interaction[PaperBot], paper: app_commands.Range[str, 1, 300]
    ) -> None:
        private = reach.private_by_default(interaction)
        found = await self._find(interaction, paper, private=private)
        if found is None:
            return
        scope = reach.vote_scope(interaction)
        votes = None if scope is None else await self.bot.store.social.vote_count(scope, found.id)
        embed = cards.paper_embed(found, votes=votes)
        await send_answer(interaction, embed=embed, view=card_view(found), ephemeral=private)

    async def _find(
        self, interaction: discord.Interaction[PaperBot], text: str, *, private: bool = False
    ) -> Paper | None:
        """The paper *text* names (an id, a link, or words of its title); None after telling
        the member nothing matched."""
        # An autocomplete pick is an id (instant; papers.get understands ids in any spelling,
        # versions, arXiv and HF URLs); free text needs a search, acknowledged first when it
        # is slow (Discord's 3 s deadline on a large store).
        found = await self.bot.store.papers.get(text)
        if found is None:
            result = await when_ready(
                interaction, self.bot.search.search(text, limit=1), ephemeral=private
            )
            found = result.hits[0].paper if result.hits else None
        if found is None:  # (private, even after a public "thinking…")
            await reply_private(
                interaction,
                f"No paper matches “{cards.escape(cards.truncate(text, 100))}”. "
                "Try `/search` with a few words from its title.",
            )
        return found

    # -- /cite ------------------------------------------------------------------------------

    @app_commands.command(name="cite", description="A paper's citation: BibTeX and APA")
    @reach.everywhere
    @app_commands.describe(
        paper="Start typing a title, or paste an arXiv id or link",
        style="BibTeX, APA, or both (the default)",
    )
    async def cite_(
        self,
        interaction: discord.Interaction[PaperBot],
        paper: app_commands.Range[str, 1, 300],
        style: Literal["bibtex", "apa", "both"] = "both",
    ) -> None:
        found = await self._find(interaction, paper, private=True)
        if found is None:
            return
        styles = cite.STYLES if style == "both" else (style,)
        await send_citation(interaction, found, styles)

    @cite_.autocomplete("paper")
    async def cite_autocomplete(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._paper_choices(interaction, current)

    @paper.autocomplete("paper")
    async def paper_autocomplete(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return await self._paper_choices(interaction, current)

    async def _paper_choices(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        if not current.strip():
            # Nothing typed yet: suggest what is trending in this server.
            papers = await self.bot.trending(reach.trending_scope(interaction), 25)
            pairs = [(p.id, cards.shown_title(p)) for p in papers]
        else:
            # (labels are readable already: LaTeX shown as Unicode)
            suggestions = await self.bot.search.autocomplete(current, limit=25)
            pairs = [(s.id, s.label) for s in suggestions]
        return [
            app_commands.Choice(name=cards.choice_label(label), value=pid)
            for pid, label in pairs[:25]
            if len(pid) <= cards.CHOICE_MAX
        ]

    # -- /trending, /random -----------------------------------------------------------------

    @app_commands.command(name="trending", description="The papers trending right now")
    @reach.everywhere
    @app_commands.describe(count="How many papers to list (1–10, default 5)")
    async def trending(
        self, interaction: discord.Interaction[PaperBot], count: app_commands.Range[int, 1, 10] = 5
    ) -> None:
        private = reach.private_by_default(interaction)
        scope = reach.vote_scope(interaction)
        # Answered at once from the warm trending pool; a cold one says "thinking…" first.
        papers = await when_ready(
            interaction, self.bot.trending(scope or NO_SERVER, count), ephemeral=private
        )
        embed = cards.list_embed(
            "🔥 Trending papers",
            papers,
            description=None
            if papers
            else "The store is empty: an admin can load papers with `python -m bot load`.",
            footer="Open one with /paper · vote with 👍 to move it up here"
            if scope is not None
            else "Open one with /paper",
        )
        await send_answer(interaction, embed=embed, ephemeral=private)

    @app_commands.command(name="random", description="A random paper from the store")
    @reach.everywhere
    async def random(self, interaction: discord.Interaction[PaperBot]) -> None:
        paper = await self.bot.store.papers.random()
        if paper is None:
            await interaction.response.send_message("The store has no papers yet.", ephemeral=True)
            return
        await interaction.response.send_message(
            embed=cards.paper_embed(paper, context="🎲 Random paper"),
            view=card_view(paper),
            ephemeral=reach.private_by_default(interaction),
        )

    # -- /about -----------------------------------------------------------------------------

    @app_commands.command(name="about", description="What PaperBot knows and how fresh it is")
    @reach.everywhere
    async def about(self, interaction: discord.Interaction[PaperBot]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # counts scan tables
        await interaction.followup.send(embed=await self.about_embed(), ephemeral=True)

    async def about_embed(self) -> discord.Embed:
        seen = await overview(self.bot.store)
        lines = [f"**{seen.total:,}** papers in the store."]
        if seen.by_source:
            lines.append(" · ".join(f"{name}: {n:,}" for name, n in sorted(seen.by_source.items())))
        if seen.last_import:
            lines.append(f"Last import: {discord.utils.format_dt(seen.last_import, 'R')}")
        for source, when in seen.refreshed.items():
            lines.append(f"Last refresh from {source}: {discord.utils.format_dt(when, 'R')}")
        lines.append(f"Search by meaning: {self.bot.vectors.status}")
        lines.append(
            f"\nSearch with `/search`, open a paper with `/paper`. Source & docs: {PROJECT_URL}"
        )
        embed = cards.notice_embed("📚 PaperBot", "\n".join(lines))
        embed.timestamp = datetime.now(UTC)
        return cards.fit_embed(embed)

    # -- /saved -----------------------------------------------------------------------------

    @saved.command(name="list", description="The papers you saved")
    @app_commands.describe(page="Page number (10 papers a page)")
    async def saved_list(
        self, interaction: discord.Interaction[PaperBot], page: app_commands.Range[int, 1, 1000] = 1
    ) -> None:
        social = self.bot.store.social
        total = await social.saved_count(interaction.user.id)
        ids = await social.saved_ids(
            interaction.user.id, limit=SAVED_PAGE, offset=(page - 1) * SAVED_PAGE
        )
        papers = await self.bot.store.papers.get_many(ids)
        pages = max(1, -(-total // SAVED_PAGE))
        embed = cards.list_embed(
            "⭐ Your reading list",
            papers,
            start=(page - 1) * SAVED_PAGE + 1,
            description=None
            if papers
            else "Nothing saved here. Press ⭐ on any paper card to save it.",
            footer=f"Page {min(page, pages)} of {pages} · {total} saved · remove with /saved remove",
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @saved.command(name="export", description="Your reading list as a file (BibTeX, RIS or CSV)")
    @app_commands.describe(format="BibTeX for LaTeX, RIS for reference managers, CSV for sheets")
    async def saved_export(
        self,
        interaction: discord.Interaction[PaperBot],
        format: Literal["bibtex", "ris", "csv"] = "bibtex",
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        social = self.bot.store.social
        total = await social.saved_count(interaction.user.id)
        ids = await social.saved_ids(interaction.user.id, limit=EXPORT_MAX)
        papers = await self.bot.store.papers.get_many(ids)
        if not papers:
            await interaction.followup.send(
                "Nothing to export: your reading list is empty. Press ⭐ on any paper card "
                "to save it.",
                ephemeral=True,
            )
            return
        # Up to ~2 ms a paper (LaTeX to text for RIS and CSV; bench/bench_cite.py): in a thread.
        made = await asyncio.to_thread(cite.export, papers, format)
        if len(made.data) > interaction.filesize_limit:
            await interaction.followup.send(
                f"Your reading list is too large for one file here ({len(made.data):,} bytes); "
                "remove some papers with `/saved remove` and try again.",
                ephemeral=True,
            )
            return
        text = f"📚 Your reading list: {len(papers)} paper(s) as {made.description}."
        if total > len(papers):
            text += f" (The {len(papers)} saved most recently, of {total}.)"
        log.info("reading list of %d paper(s) exported as %s", len(papers), format)
        await interaction.followup.send(
            text, file=discord.File(io.BytesIO(made.data), filename=made.filename), ephemeral=True
        )

    @saved.command(name="remove", description="Remove a paper from your reading list")
    @app_commands.describe(paper="The saved paper to remove")
    async def saved_remove(self, interaction: discord.Interaction[PaperBot], paper: str) -> None:
        # A write: it may wait behind another writer (an import), so "thinking…" if slow.
        removed = await when_ready(
            interaction,
            self.bot.store.social.remove_save(interaction.user.id, paper),
            ephemeral=True,
        )
        text = (
            "Removed from your reading list."
            if removed
            else "That paper is not in your reading list."
        )
        await reply_private(interaction, text)

    @saved_remove.autocomplete("paper")
    async def saved_autocomplete(
        self, interaction: discord.Interaction[PaperBot], current: str
    ) -> list[app_commands.Choice[str]]:
        ids = await self.bot.store.social.saved_ids(interaction.user.id, limit=100)
        papers = await self.bot.store.papers.get_many(ids)
        needle = current.casefold()
        return [
            app_commands.Choice(name=cards.title_label(p.title), value=p.id)
            for p in papers
            if (needle in p.title.casefold() or needle in cards.shown_title(p).casefold())
            and len(p.id) <= cards.CHOICE_MAX
        ][:25]


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(PapersCog(bot))
