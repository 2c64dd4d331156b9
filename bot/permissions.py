"""What the bot needs in a channel, and how to name what it lacks to a person."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord

_PERM_NAMES = {
    "view_channel": "View Channel",
    "send_messages": "Send Messages",
    "embed_links": "Embed Links",
    "read_message_history": "Read Message History",
    "create_public_threads": "Create Public Threads",
    "send_messages_in_threads": "Send Messages in Threads",
    "mention_everyone": "Mention @everyone, @here and All Roles",
}


def manages_server(interaction: discord.Interaction[Any]) -> bool:
    """Whether the member behind *interaction* has Manage Server (or Administrator) here."""
    perms = interaction.permissions
    return bool(perms.manage_guild or perms.administrator)


def perm_names(names: Sequence[str]) -> str:
    """Permission attribute names as Discord's settings screen shows them."""
    return ", ".join(_PERM_NAMES.get(n, n.replace("_", " ").title()) for n in names)


def missing_permissions(perms: discord.Permissions, wanted: Sequence[str]) -> list[str]:
    """Which of *wanted* the bot lacks, naming the root cause only (Discord's implicit
    denials: no View Channel means nothing else, no Send Messages means no Embed Links)."""
    if "view_channel" in wanted and not perms.view_channel:
        return ["view_channel"]
    missing = [name for name in wanted if not getattr(perms, name)]
    if "send_messages" in missing and "embed_links" in missing:
        missing.remove("embed_links")
    return missing


def member_refusal(
    member: discord.Member | discord.User,
    channel: discord.abc.GuildChannel | discord.Thread,
    *,
    role: discord.Role | None = None,
) -> str | None:
    """Why the bot won't post in *channel* for *member* (None: it will).

    The bot must not become a deputy: a member who set something up may only make the bot
    post where they could post themselves (View Channel and Send Messages there), and ping
    *role* only if they could ping it themselves (it is mentionable, or they have Mention
    @everyone there). Computed from the cached guild roles and the channel's overwrites.
    """
    if not isinstance(member, discord.Member):
        return f"I can't check your permissions in {channel.mention}, so I won't post there."
    perms = channel.permissions_for(member)
    if not perms.view_channel:
        return f"You can't see {channel.mention}, so I won't post there for you."
    can_send = (
        perms.send_messages_in_threads
        if isinstance(channel, discord.Thread)
        else perms.send_messages
    )
    if not can_send:
        return f"You can't send messages in {channel.mention}, so I won't post there for you."
    if role is not None and not role.mentionable and not perms.mention_everyone:
        return (
            f"You can't mention {role.mention} in {channel.mention} (the role isn't "
            f"mentionable and you don't have {perm_names(['mention_everyone'])}), "
            "so I won't ping it for you."
        )
    return None
