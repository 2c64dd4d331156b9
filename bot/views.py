"""Buttons and selects on paper cards.

The 👍 / ⭐ / Related buttons outlive restarts: they are ``DynamicItem``s registered once on
the bot (``PaperBot.setup_hook``), matched by a custom_id template that carries the paper
id. On messages they are rendered by :class:`_PassiveButton`, a button that is not
dispatched through the view it sits in: discord.py drops a view's dynamic item patterns when
that view times out, which would silently break every older card's buttons.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot import cards
from bot.models import Paper

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

CUSTOM_ID_MAX = 100
# Paper ids are arXiv ids (incl. old style with '/') or t-<hex>; anything else is refused.
_ID = r"(?P<id>[A-Za-z0-9._/-]{1,80})"
VOTE_TEMPLATE = rf"pb:vote:{_ID}"
SAVE_TEMPLATE = rf"pb:save:{_ID}"
RELATED_TEMPLATE = rf"pb:rel:{_ID}"
_ID_OK = re.compile(r"[A-Za-z0-9._/-]{1,80}")


def action_id(kind: str, paper_id: str) -> str | None:
    """The custom_id for a card action, or None when the id cannot be carried safely."""
    if not _ID_OK.fullmatch(paper_id):
        return None
    custom_id = f"pb:{kind}:{paper_id}"
    return custom_id if len(custom_id) <= CUSTOM_ID_MAX else None


class _PassiveButton(discord.ui.Button[Any]):
    """A button rendered in a message but handled by a registered DynamicItem."""

    def is_dispatchable(self) -> bool:
        return False


def action_buttons(paper: Paper, *, row: int | None = None) -> list[discord.ui.Item[Any]]:
    """Vote, save, related, and a link to the PDF (or abstract) for *paper*."""
    items: list[discord.ui.Item[Any]] = []
    for kind, label, emoji, style in (
        ("vote", "Vote", "👍", discord.ButtonStyle.secondary),
        ("save", "Save", "⭐", discord.ButtonStyle.secondary),
        ("rel", "Related", "🔗", discord.ButtonStyle.secondary),
    ):
        custom_id = action_id(kind, paper.id)
        if custom_id:
            items.append(
                _PassiveButton(style=style, label=label, emoji=emoji, custom_id=custom_id, row=row)
            )
    link = cards.safe_url(paper.url_pdf) or cards.safe_url(paper.url_abs)
    if link:
        label = "PDF" if link == cards.safe_url(paper.url_pdf) else "Abstract"
        items.append(
            discord.ui.Button(style=discord.ButtonStyle.link, label=label, url=link, row=row)
        )
    return items


def card_view(paper: Paper) -> discord.ui.View:
    """A standalone view for a card: the persistent action buttons, never timing out."""
    view = discord.ui.View(timeout=None)
    for item in action_buttons(paper):
        view.add_item(item)
    return view


def _bot(interaction: discord.Interaction[Any]) -> PaperBot:
    return interaction.client  # type: ignore[no-any-return]


GENERIC_ERROR = "Something went wrong on our side. It has been logged; please try again."


async def report_component_error(
    interaction: discord.Interaction[Any], error: Exception, custom_id: str | None
) -> None:
    """Log a failed button/select with its traceback; tell the member briefly, privately."""
    log.error(
        "component %s failed (guild %s, user %s)",
        custom_id,
        interaction.guild_id,
        interaction.user.id,
        exc_info=error,
    )
    try:
        await reply_private(interaction, GENERIC_ERROR)
    except discord.HTTPException:
        log.warning("could not tell the member about a failed component", exc_info=True)


class _SafeCallback:
    """Mixin for card buttons: any unexpected error is logged and answered privately."""

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.handle(interaction)
        except Exception as error:
            await report_component_error(interaction, error, getattr(self, "custom_id", None))

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError


class VoteButton(
    _SafeCallback, discord.ui.DynamicItem[discord.ui.Button[Any]], template=VOTE_TEMPLATE
):
    """👍: one vote per member per paper (per server), pressing again takes it back."""

    def __init__(self, paper_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Vote", emoji="👍", custom_id=f"pb:vote:{paper_id}")
        )
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> VoteButton:
        return cls(match["id"])

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        bot = _bot(interaction)
        try:
            voted, count = await bot.store.social.toggle_vote(
                interaction.guild_id or 0, interaction.user.id, self.paper_id
            )
        except KeyError:
            await reply_private(interaction, "That paper is no longer in the store.")
            return
        text = "👍 Vote counted" if voted else "Vote taken back"
        await reply_private(interaction, f"{text}. This paper has {count} vote(s) here.")


class SaveButton(
    _SafeCallback, discord.ui.DynamicItem[discord.ui.Button[Any]], template=SAVE_TEMPLATE
):
    """⭐: add to (or remove from) the member's reading list (``/saved``)."""

    def __init__(self, paper_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Save", emoji="⭐", custom_id=f"pb:save:{paper_id}")
        )
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> SaveButton:
        return cls(match["id"])

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        bot = _bot(interaction)
        try:
            saved = await bot.store.social.toggle_save(interaction.user.id, self.paper_id)
        except KeyError:
            await reply_private(interaction, "That paper is no longer in the store.")
            return
        text = (
            "⭐ Saved to your reading list. See it with `/saved`."
            if saved
            else "Removed from your reading list."
        )
        await reply_private(interaction, text)


class RelatedButton(
    _SafeCallback, discord.ui.DynamicItem[discord.ui.Button[Any]], template=RELATED_TEMPLATE
):
    """🔗: papers most similar to this one, privately."""

    def __init__(self, paper_id: str) -> None:
        super().__init__(
            discord.ui.Button(label="Related", emoji="🔗", custom_id=f"pb:rel:{paper_id}")
        )
        self.paper_id = paper_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> RelatedButton:
        return cls(match["id"])

    async def handle(self, interaction: discord.Interaction[Any]) -> None:
        bot = _bot(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        paper = await bot.store.papers.get(self.paper_id)
        if paper is None:
            await interaction.followup.send("That paper is no longer in the store.", ephemeral=True)
            return
        related = await bot.search.related(self.paper_id, limit=5)
        embed = cards.list_embed(
            f"Related to: {cards.truncate(paper.title, 200)}",
            related,
            description=None if related else "No related papers found in the store yet.",
        )
        await interaction.followup.send(embed=embed, ephemeral=True)


DYNAMIC_ITEMS: tuple[type[discord.ui.DynamicItem[Any]], ...] = (
    VoteButton,
    SaveButton,
    RelatedButton,
)


async def reply_private(interaction: discord.Interaction[Any], text: str) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    text = cards.truncate(text, 2000)
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)
