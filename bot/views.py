"""Buttons and selects on paper cards.

The 👍 / ⭐ / Related / 📑 Cite buttons outlive restarts: they are ``DynamicItem``s registered
once on the bot (``PaperBot.setup_hook``), matched by a custom_id template that carries the
paper id. On messages they are rendered by :class:`_PassiveButton`, a button that is not
dispatched through the view it sits in: discord.py drops a view's dynamic item patterns when
that view times out, which would silently break every older card's buttons.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import discord
from discord.ext import commands

from bot import cards, cite, reach
from bot.errors import PaperNotFound
from bot.interactions import reply_private, report_component_error, send_answer, when_ready
from bot.models import Paper

if TYPE_CHECKING:
    from bot.search import SearchEngine
    from bot.store import Store

log = logging.getLogger(__name__)

CUSTOM_ID_MAX = 100
# Paper ids are arXiv ids (incl. old style with '/') or t-<hex>; anything else is refused.
_ID = r"[A-Za-z0-9._/-]{1,80}"
_ID_OK = re.compile(_ID)


@dataclass(frozen=True, slots=True)
class CardAction:
    kind: str  # the custom_id part: pb:<kind>:<paper id>
    label: str
    emoji: str


VOTE = CardAction("vote", "Vote", "👍")
SAVE = CardAction("save", "Save", "⭐")
RELATED = CardAction("rel", "Related", "🔗")
CITE = CardAction("cite", "Cite", "📑")
DISMISS = CardAction("dismiss", "Not for me", "👎")
# With the PDF link each set makes 5 buttons: one full action row. A recommended card (For
# you) trades Vote, which counts for a server's trending, for "Not for me".
CARD_BUTTONS = (VOTE, SAVE, RELATED, CITE)
PICK_BUTTONS = (SAVE, DISMISS, RELATED, CITE)
CARD_ACTIONS: dict[str, CardAction] = {a.kind: a for a in (VOTE, SAVE, RELATED, CITE, DISMISS)}
CARD_TEMPLATE = rf"pb:(?P<kind>{'|'.join(CARD_ACTIONS)}):(?P<id>{_ID})"


def action_id(kind: str, paper_id: str) -> str | None:
    """The custom_id for a card action, or None when the id cannot be carried safely."""
    if not _ID_OK.fullmatch(paper_id):
        return None
    custom_id = f"pb:{kind}:{paper_id}"
    return custom_id if len(custom_id) <= CUSTOM_ID_MAX else None


BUTTON_URL_MAX = 512  # Discord refuses a link button with a longer URL (the whole message)


def _button_url(url: str | None) -> str | None:
    """*url* when a link button may carry it: a safe http(s) link of at most 512 chars."""
    safe = cards.safe_url(url)
    return safe if safe is not None and len(safe) <= BUTTON_URL_MAX else None


class _PassiveButton(discord.ui.Button[Any]):
    """A button rendered in a message but handled by a registered DynamicItem."""

    def is_dispatchable(self) -> bool:
        return False


def action_buttons(
    paper: Paper, *, row: int | None = None, pick: bool = False
) -> list[discord.ui.Item[Any]]:
    """Vote, save, related, cite (a pick: save, not for me, related, cite), and a link to the
    PDF (or abstract) for *paper*."""
    items: list[discord.ui.Item[Any]] = []
    for action in PICK_BUTTONS if pick else CARD_BUTTONS:
        custom_id = action_id(action.kind, paper.id)
        if custom_id:
            items.append(
                _PassiveButton(
                    style=discord.ButtonStyle.secondary,
                    label=action.label,
                    emoji=action.emoji,
                    custom_id=custom_id,
                    row=row,
                )
            )
    pdf = _button_url(paper.url_pdf)
    link = pdf or _button_url(paper.url_abs)
    if link:
        label = "PDF" if link == pdf else "Abstract"
        items.append(
            discord.ui.Button(style=discord.ButtonStyle.link, label=label, url=link, row=row)
        )
    return items


def rating_view(papers: Sequence[Paper]) -> discord.ui.View:
    """⭐ Save and 👎 Not for me for each paper of a numbered list (at most 5: one row each),
    persistent like a card's buttons."""
    view = discord.ui.View(timeout=None)
    for number, paper in enumerate(papers[:5], start=1):
        for action in (SAVE, DISMISS):
            custom_id = action_id(action.kind, paper.id)
            if custom_id:
                view.add_item(
                    _PassiveButton(
                        style=discord.ButtonStyle.secondary,
                        label=f"{number}. {action.label}",
                        emoji=action.emoji,
                        custom_id=custom_id,
                        row=number - 1,
                    )
                )
    return view


def card_view(paper: Paper) -> discord.ui.View:
    """A standalone view for a card: the persistent action buttons, never timing out."""
    view = discord.ui.View(timeout=None)
    for item in action_buttons(paper):
        view.add_item(item)
    return view


class CardServices(Protocol):
    """What the card buttons use of the bot (``PaperBot`` has it): no import of the bot."""

    store: Store
    search: SearchEngine


def _bot(interaction: discord.Interaction[Any]) -> CardServices:
    return interaction.client  # type: ignore[no-any-return]


class CardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=CARD_TEMPLATE):
    """👍 / ⭐ / 🔗 / 📑 (and 👎 on picks) on any card, at any time: the paper id travels in
    the custom_id.

    Vote: one vote per member per paper (per server), pressing again takes it back.
    Save: add to (or remove from) the member's reading list (``/saved``).
    Related: the papers most similar to this one, privately.
    Cite: the paper's BibTeX entry and APA reference, privately.
    Not for me (For you picks): the member's 👎, never picked for them again; again: undone.
    Unexpected errors are logged with the traceback and answered with a short private line.
    """

    def __init__(self, action: CardAction, paper_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=action.label, emoji=action.emoji, custom_id=f"pb:{action.kind}:{paper_id}"
            )
        )
        self.action = action
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CardButton:
        return cls(CARD_ACTIONS[match["kind"]], match["id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        handlers = {
            VOTE: self._vote,
            SAVE: self._save,
            RELATED: self._related,
            CITE: self._cite,
            DISMISS: self._dismiss,
        }
        try:
            await handlers[self.action](interaction, _bot(interaction))
        except Exception as error:  # a missing paper is said as such; the rest is logged
            await report_component_error(interaction, error, self.custom_id)

    async def _vote(self, interaction: discord.Interaction[Any], bot: CardServices) -> None:
        scope = reach.vote_scope(interaction)
        if scope is None:  # a DM, a group DM, a server without the bot: nobody's trending
            await reply_private(interaction, reach.VOTES_ELSEWHERE)
            return
        # A write: it may wait behind another writer (an import), so acknowledge if slow.
        voted, count = await when_ready(
            interaction,
            bot.store.social.toggle_vote(scope, interaction.user.id, self.paper_id),
            ephemeral=True,
        )
        text = "👍 Vote counted" if voted else "Vote taken back"
        await reply_private(interaction, f"{text}. This paper has {count} vote(s) here.")

    async def _save(self, interaction: discord.Interaction[Any], bot: CardServices) -> None:
        saved = await when_ready(
            interaction,
            bot.store.social.toggle_save(interaction.user.id, self.paper_id),
            ephemeral=True,
        )
        text = (
            "⭐ Saved to your reading list. See it with `/saved`."
            if saved
            else "Removed from your reading list."
        )
        await reply_private(interaction, text)

    async def _dismiss(self, interaction: discord.Interaction[Any], bot: CardServices) -> None:
        now = datetime.now(UTC)
        dismissed = await when_ready(
            interaction,
            bot.store.recs.toggle_dismiss(interaction.user.id, self.paper_id, now),
            ephemeral=True,
        )
        text = (
            "👎 Noted: this paper won't be picked for you again, and papers like it will "
            "weigh less in your picks (`/foryou why` shows what counts). Press again to undo."
            if dismissed
            else "Taken back: this paper no longer counts against your picks."
        )
        await reply_private(interaction, text)

    async def _related(self, interaction: discord.Interaction[Any], bot: CardServices) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        paper = await bot.store.papers.get(self.paper_id)
        if paper is None:
            raise PaperNotFound(self.paper_id)
        related = await bot.search.related(self.paper_id, limit=5)
        embed = cards.list_embed(
            f"Related to: {cards.truncate(cards.shown_title(paper), 200)}",
            related,
            description=None if related else "No related papers found in the store yet.",
        )
        await interaction.followup.send(embed=embed, ephemeral=True)

    async def _cite(self, interaction: discord.Interaction[Any], bot: CardServices) -> None:
        paper = await bot.store.papers.get(self.paper_id)
        if paper is None:
            raise PaperNotFound(self.paper_id)
        await send_citation(interaction, paper)


async def send_citation(
    interaction: discord.Interaction[Any], paper: Paper, styles: Sequence[str] = cite.STYLES
) -> None:
    """The paper's citation in *styles*, privately: a message when it fits (links not
    unfurled), else a ``.bib`` file with the APA line."""
    # (a collaboration's thousands of authors take a moment to encode: off the event loop)
    message = await asyncio.to_thread(cards.citation_message, paper, styles)
    attached: dict[str, Any] = {}
    if message.file is not None:
        name, data = message.file
        attached["file"] = discord.File(io.BytesIO(data), filename=name)
    await send_answer(
        interaction, content=message.content, ephemeral=True, suppress_embeds=True, **attached
    )


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (CardButton,)


async def setup(bot: commands.Bot) -> None:
    """An extension of its own: the card buttons answer on every card, whichever cog sent it."""
    bot.add_dynamic_items(*DYNAMIC_ITEMS)
