"""/search: the best match as a card, ◀ ▶ and a select to move among the results."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import cards, reach
from bot.interactions import Sent, reply_private, report_component_error, send_answer, when_ready
from bot.models import Paper
from bot.search.engine import SearchTooSlow
from bot.views import action_buttons

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

RESULTS_MAX = 25  # one select menu's worth
VIEW_TIMEOUT = 600.0
SortName = Literal["relevance", "newest", "trending"]


def search_cooldown(interaction: discord.Interaction[PaperBot]) -> app_commands.Cooldown | None:
    settings = interaction.client.settings
    return app_commands.Cooldown(settings.search_cooldown_uses, settings.search_cooldown_seconds)


def result_card(
    paper: Paper,
    index: int,
    count: int,
    *,
    query: str,
    corrected: str | None,
    total: int,
    why: str | None = None,
) -> discord.Embed:
    shown = f"Result {index + 1} of {count}"
    if total > count:
        shown += f" (best of {total}+)" if total >= 1000 else f" (best of {total})"
    wording = f"for “{cards.truncate(corrected or query, 80)}”"
    if corrected:
        wording = f"showing results {wording} (no match for “{cards.truncate(query, 60)}”)"
    # Why this paper, when it does not hold every word: "similar in meaning", "matches 3 of 4
    # words", "author", "exact title".
    reason = f" · {why}" if why else ""
    return cards.paper_embed(paper, context=f"{shown} {wording}{reason}")


@dataclass(frozen=True, slots=True)
class ResultEntry:
    """What a results view keeps per hit: enough for the select, not the whole paper."""

    id: str
    label: str
    description: str | None
    why: str | None = None

    @classmethod
    def of(cls, index: int, paper: Paper, why: str | None = None) -> ResultEntry:
        authors = ", ".join(paper.authors[:3])
        return cls(
            paper.id,
            cards.title_label(paper.title, prefix=f"{index + 1}. "),
            cards.choice_label(authors) if authors else None,
            why,
        )


class ResultsView(discord.ui.View):
    """Paging over one search's results. Only the member who searched can page.

    Views live for VIEW_TIMEOUT; to keep memory flat under load a view holds the ids and
    labels of its results and the one paper on show, and loads a paper when paged to.
    """

    def __init__(
        self,
        *,
        owner_id: int,
        papers: list[Paper],
        query: str,
        corrected: str | None,
        total: int,
        load: Callable[[str], Awaitable[Paper | None]],
        timeout: float | None = None,
        whys: list[str | None] | None = None,
    ) -> None:
        super().__init__(timeout=VIEW_TIMEOUT if timeout is None else timeout)
        self.owner_id = owner_id
        reasons = whys if whys and len(whys) == len(papers) else [None] * len(papers)
        # One select menu holds 25 options: never page over more (a message naming 60 titles).
        papers, reasons = papers[:RESULTS_MAX], reasons[:RESULTS_MAX]
        self.entries = [
            ResultEntry.of(i, p, w) for i, (p, w) in enumerate(zip(papers, reasons, strict=True))
        ]
        self.current = papers[0]
        self.load = load
        self.query = query
        self.corrected = corrected
        self.total = total
        self.index = 0
        self.message: Sent | None = None
        self.select = discord.ui.Select[ResultsView](
            placeholder="Jump to a result…",
            custom_id="pb:search:jump",
            options=[
                discord.SelectOption(label=e.label, value=str(i), description=e.description)
                for i, e in enumerate(self.entries)
            ],
            row=1,
        )
        self.select.callback = self._jump  # type: ignore[method-assign]
        self._render_items()

    def embed(self) -> discord.Embed:
        return result_card(
            self.current,
            self.index,
            len(self.entries),
            query=self.query,
            corrected=self.corrected,
            total=self.total,
            why=self.entries[self.index].why,
        )

    def _render_items(self) -> None:
        self.clear_items()
        self.add_item(self.previous)
        self.add_item(self.position)
        self.add_item(self.next)
        self.previous.disabled = self.index == 0
        self.next.disabled = self.index >= len(self.entries) - 1
        self.position.label = f"{self.index + 1} / {len(self.entries)}"
        if len(self.entries) > 1:
            self.add_item(self.select)
        for item in self.card_buttons():
            self.add_item(item)

    def card_buttons(self) -> list[discord.ui.Item[Any]]:
        """The buttons of the paper on show (the last row)."""
        return action_buttons(self.current, row=2)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await reply_private(
            interaction,
            "Only the person who searched can page these results. Try `/search` yourself!",
        )
        return False

    async def _show(self, interaction: discord.Interaction[Any], index: int) -> None:
        index = max(0, min(index, len(self.entries) - 1))
        paper = await self.load(self.entries[index].id)
        if paper is None:
            await reply_private(interaction, "That paper is no longer in the store.")
            return
        self.index, self.current = index, paper
        self._render_items()
        await interaction.response.edit_message(embed=self.embed(), view=self)

    @discord.ui.button(
        emoji="◀", style=discord.ButtonStyle.primary, custom_id="pb:search:prev", row=0
    )
    async def previous(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        await self._show(interaction, self.index - 1)

    @discord.ui.button(
        label="1 / 1",
        style=discord.ButtonStyle.secondary,
        disabled=True,
        custom_id="pb:search:pos",
        row=0,
    )
    async def position(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        await interaction.response.defer()  # never enabled; present for the label

    @discord.ui.button(
        emoji="▶", style=discord.ButtonStyle.primary, custom_id="pb:search:next", row=0
    )
    async def next(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        await self._show(interaction, self.index + 1)

    async def _jump(self, interaction: discord.Interaction[Any]) -> None:
        await self._show(interaction, int(self.select.values[0]))

    async def on_error(
        self, interaction: discord.Interaction[Any], error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await report_component_error(interaction, error, getattr(item, "custom_id", None))

    async def on_timeout(self) -> None:
        for item in (self.previous, self.next, self.select):
            item.disabled = True
        if self.message is not None:
            try:
                await self.message.edit(view=self)
            except discord.HTTPException:
                log.debug("could not disable an expired results view", exc_info=True)


class SearchCog(commands.Cog):
    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="search", description="Search papers by title, author, topic or arXiv id"
    )
    @reach.everywhere
    @app_commands.describe(
        query="Words, an author, an arXiv id or link (typos are fine)",
        sort="How to order the results (default: relevance)",
        private="Only you see the results (default: no; yes in servers without PaperBot)",
    )
    @app_commands.checks.dynamic_cooldown(search_cooldown)
    async def search(
        self,
        interaction: discord.Interaction[PaperBot],
        query: app_commands.Range[str, 1, 300],
        sort: SortName = "relevance",
        private: bool | None = None,
    ) -> None:
        private = reach.private_by_default(interaction, private)
        # A quick search answers at once with its card; a slow one says "thinking…" first.
        try:
            result = await when_ready(
                interaction,
                self.bot.search.search(query, sort=sort, limit=RESULTS_MAX),
                ephemeral=private,
            )
        except SearchTooSlow as exc:
            await send_answer(
                interaction,
                embed=cards.notice_embed("Search took too long", str(exc)),
                ephemeral=True,
            )
            return
        papers = [hit.paper for hit in result.hits]
        if not papers:
            text = f"No papers match “{cards.truncate(query, 100)}”."
            tips = "Try fewer or different words, an author's name, an arXiv id, or `/trending`."
            await send_answer(
                interaction,
                embed=cards.notice_embed("No results", f"{cards.escape(text)}\n{tips}"),
                ephemeral=private,
            )
            return
        view = ResultsView(
            owner_id=interaction.user.id,
            papers=papers,
            query=query,
            corrected=result.corrected,
            total=result.total,
            load=self.bot.store.papers.get,
            whys=[hit.why for hit in result.hits],
        )
        view.message = await send_answer(
            interaction, embed=view.embed(), view=view, ephemeral=private
        )


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(SearchCog(bot))
