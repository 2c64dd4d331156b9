"""The "Find papers" message action: the papers a message names, as cards.

Right-click (long-press) a message → Apps → Find papers. The message's text and its embeds'
links and titles are read for references (:mod:`bot.references`: arXiv ids and URLs, Hugging
Face paper URLs, DOIs, failing those a title); Discord sends the target message's content
with the interaction, so no message-content intent is needed. Papers not in the store are
asked of arXiv in one request when live refresh is on (:mod:`bot.fetch.lookup`), and stored.
One paper is answered with its card, several with the /search results view. When nothing is
found, only the member who asked is told why, in one line.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot import cards, reach
from bot.cogs.search import ResultsView, search_cooldown
from bot.fetch.http import Pacer, new_session
from bot.fetch.lookup import Lookup, lookup_arxiv
from bot.interactions import reply_private, send_answer, when_ready
from bot.models import Paper
from bot.references import References, find_references
from bot.views import card_view

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

NAME = "Find papers"
NOTHING = (
    "I found no paper in that message: no arXiv id or link, Hugging Face paper link, DOI "
    "or title of a paper PaperBot knows."
)


def message_text(message: discord.Message) -> str:
    """What to look for references in: the content, then each embed's link, title and text
    (a link preview, or a PaperBot card, names its paper there)."""
    parts = [message.content or ""]
    for embed in message.embeds:
        parts += [embed.url or "", embed.title or "", embed.description or ""]
    return "\n".join(p for p in parts if p)


def _listed(values: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(f"`{cards.clean(v)[:60].replace('`', '')}`" for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def not_found_note(refs: References, lookup: Lookup | None, *, lookups_on: bool) -> str:
    """Why the ids and DOIs of *refs* found no paper, in a line or two (no mentions)."""
    lines = []
    if lookup is not None and lookup.unanswered:
        lines.append(f"{_listed(lookup.unanswered)}: {lookup.error or 'not looked up'}.")
    if lookup is not None and lookup.missing:
        lines.append(f"arXiv has no paper {_listed(lookup.missing)}.")
    if lookup is None and refs.arxiv_ids:
        why = "" if lookups_on else " (looking papers up on arXiv is switched off here)"
        lines.append(f"{_listed(refs.arxiv_ids)}: not in PaperBot's store{why}.")
    if refs.dois:
        lines.append(
            f"DOI {_listed(refs.dois)}: not an arXiv DOI, and PaperBot finds papers by arXiv "
            "id, link or title."
        )
    return "\n".join(lines)


class FoundView(ResultsView):
    """The /search results view over the papers of one message."""

    def __init__(self, *, note: str | None = None, **kwargs: Any) -> None:
        super().__init__(query="", corrected=None, total=0, **kwargs)
        self.note = note

    def embed(self) -> discord.Embed:
        context = f"Paper {self.index + 1} of {len(self.entries)} in the message"
        if self.note:
            context += f" · {self.note}"
        return cards.paper_embed(self.current, context=context)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await reply_private(
            interaction,
            f"Only the person who asked can page these. Use {NAME} on the message yourself!",
        )
        return False


class FinderCog(commands.Cog):
    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot
        menu = app_commands.ContextMenu(name=NAME, callback=self.find_papers)
        self.menu = reach.everywhere(app_commands.checks.dynamic_cooldown(search_cooldown)(menu))
        self.session: aiohttp.ClientSession | None = None
        self.pacer: Pacer | None = None  # None: the process-wide arXiv pacer (3 s apart)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.menu.name, type=self.menu.type)
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def lookup(self, ids: Sequence[str]) -> Lookup:
        if self.session is None:
            self.session = new_session(limit_per_host=1)
        return await lookup_arxiv(
            self.bot.store, self.bot.settings, ids, session=self.session, pacer=self.pacer
        )

    async def find_papers(
        self, interaction: discord.Interaction[PaperBot], message: discord.Message
    ) -> None:
        refs = find_references(message_text(message))
        if refs.empty:
            await reply_private(interaction, NOTHING)
            return
        private = reach.private_by_default(interaction)
        lookups_on = self.bot.settings.refresh_enabled
        # The store answers at once; arXiv may take seconds (it waits its turn behind the
        # refresher): "thinking…" first if the papers are not all found within a second.
        papers, lookup, missing = await when_ready(
            interaction, self._collect(refs, lookups_on=lookups_on), ephemeral=private
        )
        if not papers:
            why = not_found_note(refs, lookup, lookups_on=lookups_on) or NOTHING
            await reply_private(interaction, why)  # (removes a public "thinking…")
            return
        unresolved = (lookup.missing + lookup.unanswered) if lookup else missing
        note = f"not found: {', '.join(unresolved)}" if unresolved else None
        if len(papers) == 1:
            context = "Found in the message" + (f" · {note}" if note else "")
            embed = cards.paper_embed(papers[0], context=context)
            await send_answer(
                interaction, embed=embed, view=card_view(papers[0]), ephemeral=private
            )
            return
        view = FoundView(
            owner_id=interaction.user.id,
            papers=papers,
            load=self.bot.store.papers.get,
            note=note,
        )
        view.message = await send_answer(
            interaction, embed=view.embed(), view=view, ephemeral=private
        )

    async def _collect(
        self, refs: References, *, lookups_on: bool
    ) -> tuple[list[Paper], Lookup | None, list[str]]:
        """The papers *refs* name, in the message's order: from the store, then those
        missing from arXiv (when lookups are on), failing both by title. Also the lookup, if
        one was made, and the ids the store did not have."""
        papers = await self.bot.store.papers.get_many(refs.arxiv_ids)
        known = {p.id for p in papers}
        missing = [i for i in refs.arxiv_ids if i not in known]
        lookup: Lookup | None = None
        if missing and lookups_on:
            lookup = await self.lookup(missing)
            papers += lookup.papers
        if not papers and refs.titles:
            papers = await self.bot.store.papers.find_by_titles(refs.titles)
        return _in_order(papers, refs.arxiv_ids), lookup, missing


def _in_order(papers: list[Paper], ids: Sequence[str]) -> list[Paper]:
    """*papers* without repeats, those named by *ids* in the message's order first (the
    others, found by title, keep theirs)."""
    rank = {paper_id: n for n, paper_id in enumerate(ids)}
    unique = list({p.id: p for p in papers}.values())
    return sorted(unique, key=lambda p: rank.get(p.id, len(rank)))


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(FinderCog(bot))
