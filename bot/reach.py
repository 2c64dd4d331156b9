"""Where PaperBot's commands reach, and how they behave where the bot user is absent.

Members may install PaperBot to their own account (Discord's "user install"). Then the
reading commands follow them into DMs, group DMs and servers that never added the bot;
there PaperBot sees only the interaction: no guild in its cache, no channel it may post in.

* :func:`everywhere` marks a command as usable from both installs in every context. Every
  other command keeps the tree's default (``PaperBot``): installed with the server, used in
  servers only. Server features (``/daily``, ``/alerts``) stay there.
* :func:`bot_in_server`: is the bot user a member of the server this interaction came from?
* :func:`private_by_default`: answers in a server without the bot are ephemeral unless the
  member asked otherwise; that server never invited PaperBot to speak there.
* :func:`vote_scope`: the server a 👍 counts for, or None where votes count for nobody's
  server (DMs, group DMs, servers without the bot): a vote there is refused with
  :data:`VOTES_ELSEWHERE` rather than stored where no one would ever see it count.
* :func:`require_bot_in_server` stops a server feature reached where the bot user is not
  (the app installed to a server without its bot, say) with a line saying what to do.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.trending import NO_SERVER

log = logging.getLogger(__name__)

T = TypeVar("T")

VOTES_ELSEWHERE = (
    "👍 votes count toward a server's trending list, so they only work in servers that have "
    "PaperBot. Save the paper with ⭐ instead: your reading list goes everywhere with you."
)


def server_only_installs() -> app_commands.AppInstallationType:
    """The tree's default: a command comes with the server install only."""
    return app_commands.AppInstallationType(guild=True, user=False)


def server_only_contexts() -> app_commands.AppCommandContext:
    """The tree's default: a command is offered in servers only."""
    return app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)


def everywhere(command: T) -> T:
    """Offer *command* (a command, group or context menu, or its callback) from both installs
    (the server's and a member's own) in servers, the bot's DM, other DMs and group DMs."""
    installs = app_commands.allowed_installs(guilds=True, users=True)
    contexts = app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    return installs(contexts(command))


def bot_in_server(interaction: discord.Interaction[Any]) -> bool:
    """Whether the interaction comes from a server the bot user is a member of.

    The gateway sends PaperBot every server it is in (the guilds intent), unavailable ones
    included; a server known only from an interaction is not in the cache.
    """
    guild_id = interaction.guild_id
    return guild_id is not None and interaction.client.get_guild(guild_id) is not None


def in_foreign_server(interaction: discord.Interaction[Any]) -> bool:
    """A server that has not added the bot (reached through a member's own install)."""
    return interaction.guild_id is not None and not bot_in_server(interaction)


def private_by_default(interaction: discord.Interaction[Any], asked: bool | None = None) -> bool:
    """Whether to answer privately: as the member *asked*, else only in a foreign server."""
    if asked is not None:
        return asked
    return in_foreign_server(interaction)


def vote_scope(interaction: discord.Interaction[Any]) -> int | None:
    """The server whose trending a vote here counts for; None: votes count for nobody."""
    return interaction.guild_id if bot_in_server(interaction) else None


def trending_scope(interaction: discord.Interaction[Any]) -> int:
    """The server whose votes shape a trending list shown here (NO_SERVER: nobody's)."""
    return vote_scope(interaction) or NO_SERVER


class ServerFeatureElsewhere(app_commands.CheckFailure):
    """A server feature reached where it cannot work; the message says why and what to do."""


def require_bot_in_server(interaction: discord.Interaction[Any], feature: str) -> None:
    """Raise :class:`ServerFeatureElsewhere` unless the bot user is in this server."""
    if interaction.guild_id is None:
        raise ServerFeatureElsewhere(f"{feature} only works in a server.")
    if not bot_in_server(interaction):
        raise ServerFeatureElsewhere(
            f"{feature} needs PaperBot in this server, and it isn't here (you may be using "
            "it from your own account). A server admin can add it with its invite link; "
            "until then `/search`, `/paper` and `/trending` work anywhere."
        )
