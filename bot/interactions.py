"""Answering members: private replies, errors said briefly, failures logged in full.

One place for what every cog and view does when something goes wrong: :func:`describe_error`
turns an application-command error into a line for the member (or None: unexpected, logged
with its traceback, answered with :data:`GENERIC_ERROR`), :func:`report_component_error` does
the same for buttons and selects, and :func:`reply_private` answers privately whether or not
the interaction was acknowledged already (even after a public "thinking…").
:func:`read_failure` is the one reading of a failed Discord request
(:class:`discord.HTTPException`) for the code that sends on its own (the daily poster, the
alert and digest senders): refused for good, worth retrying, how long to wait, the bot's
global limit or not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot import reach
from bot.errors import UserFacingError
from bot.text import cut

log = logging.getLogger(__name__)

GENERIC_ERROR = "Something went wrong on our side. It has been logged; please try again."


class CommandRefusal(UserFacingError, app_commands.AppCommandError):
    """A user-facing error raised by a command or by its checks (``interaction_check``):
    discord.py hands an :class:`~discord.app_commands.AppCommandError` from a check to the
    tree's handler, where any other exception would only be logged."""


MESSAGE_MAX = 2000
ANSWER_WITHIN = 1.0
"""Seconds from an interaction's creation within which a command's work must be done for it
to answer with the result at once (one request). Slower work is acknowledged first
("thinking…") and followed up, so Discord's 3 s deadline is never at risk."""

T = TypeVar("T")
Sent = discord.InteractionMessage | discord.WebhookMessage

PUBLIC_THINKING = "paperbot.public_thinking"
"""Key in ``interaction.extras``: :func:`when_ready` acknowledged with a public "thinking…"
that no follow-up has replaced yet. Discord makes the first follow-up after a deferral edit
the "thinking…" message, keeping the deferral's visibility whatever the follow-up's
``ephemeral`` flag says: a private answer must remove that message first."""


async def when_ready(
    interaction: discord.Interaction[Any],
    work: Awaitable[T],
    *,
    ephemeral: bool,
    within: float | None = None,
    update: bool = False,
) -> T:
    """*work*'s result, acknowledging the interaction meanwhile if the work is not done
    *within* seconds (default :data:`ANSWER_WITHIN`) of the interaction's creation, by
    Discord's clock (its snowflake). Answer then with :func:`send_answer` (or
    :func:`reply_private`), which sends the response or the follow-up as due.

    With *update* (a button that edits its own message) the acknowledgement shows nothing
    (a deferred update) and the answer is :func:`send_update`."""
    within = ANSWER_WITHIN if within is None else within
    task = asyncio.ensure_future(work)
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    try:
        await asyncio.wait({task}, timeout=max(0.0, within - max(0.0, age)))
        if not task.done():
            if update:
                await interaction.response.defer()
            else:
                await interaction.response.defer(ephemeral=ephemeral, thinking=True)
                if not ephemeral:
                    interaction.extras[PUBLIC_THINKING] = True
    except BaseException:  # cancelled, or the acknowledgement failed: the work is moot
        task.cancel()
        raise
    return await task


async def send_answer(
    interaction: discord.Interaction[Any], *, ephemeral: bool, **message: Any
) -> Sent | None:
    """Send a command's answer: as the interaction's response when it has none yet, else as
    the follow-up that replaces "thinking…". Returns the message (for a view to edit later).

    A private answer after a public "thinking…" (see :data:`PUBLIC_THINKING`) removes that
    message first, so that the answer is a new, private message rather than an edit of the
    public one."""
    if interaction.response.is_done():
        if ephemeral and interaction.extras.get(PUBLIC_THINKING):
            await _remove_public_thinking(interaction)
        sent: Sent = await interaction.followup.send(ephemeral=ephemeral, wait=True, **message)
        interaction.extras.pop(PUBLIC_THINKING, None)  # replaced (or already removed)
        return sent
    response = await interaction.response.send_message(ephemeral=ephemeral, **message)
    resource = response.resource
    return resource if isinstance(resource, discord.InteractionMessage) else None


async def _remove_public_thinking(interaction: discord.Interaction[Any]) -> None:
    try:
        await interaction.delete_original_response()
    except discord.NotFound:
        pass  # gone already
    except discord.HTTPException:
        # Still there: the follow-up will replace it, publicly (nothing better is possible).
        log.warning("could not remove a public thinking message", exc_info=True)
        return
    interaction.extras.pop(PUBLIC_THINKING, None)


async def send_update(interaction: discord.Interaction[Any], **message: Any) -> None:
    """Edit the message of the component that was used: as the interaction's response, or
    after :func:`when_ready` deferred the update."""
    if interaction.response.is_done():
        await interaction.edit_original_response(**message)
    else:
        await interaction.response.edit_message(**message)


async def reply_private(interaction: discord.Interaction[Any], text: str) -> None:
    """Answer privately, whether or not the interaction was already acknowledged: after a
    public "thinking…", that message is removed first (:func:`send_answer`)."""
    await send_answer(interaction, content=cut(text, MESSAGE_MAX), ephemeral=True)


def describe_error(error: Exception) -> str | None:
    """A short message for the member, or None for an unexpected error (logged, generic)."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original  # what the command raised
    if isinstance(error, UserFacingError | reach.ServerFeatureElsewhere):
        return str(error)
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.MissingPermissions):
        missing = ", ".join(p.replace("_", " ").title() for p in error.missing_permissions)
        return f"You need the {missing} permission to do that."
    if isinstance(error, app_commands.BotMissingPermissions):
        missing = ", ".join(p.replace("_", " ").title() for p in error.missing_permissions)
        return f"I need the {missing} permission here. Ask an admin to grant it."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't understand {error.value!r}."
    return None


async def report_command_error(
    interaction: discord.Interaction[Any], error: app_commands.AppCommandError
) -> None:
    """The command tree's handler: the member's line, or the log's traceback and a generic
    line for the unexpected."""
    command = interaction.command.qualified_name if interaction.command else "?"
    await _report(interaction, error, f"command /{command}")


async def report_component_error(
    interaction: discord.Interaction[Any], error: Exception, custom_id: str | None
) -> None:
    """A failed button or select: the member's line for a known error; otherwise log it with
    its traceback and tell the member briefly, privately."""
    await _report(interaction, error, f"component {custom_id}")


async def _report(interaction: discord.Interaction[Any], error: Exception, what: str) -> None:
    message = describe_error(error)
    if message is None:
        log.error(
            "%s failed (guild %s, user %s)",
            what,
            interaction.guild_id,
            interaction.user.id,
            exc_info=error,
        )
        message = GENERIC_ERROR
    try:
        await reply_private(interaction, message)
    except discord.HTTPException:
        log.warning("could not tell the member about the failure of %s", what, exc_info=True)


# -- failed requests -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DiscordFailure:
    """What a failed Discord request means for a sender."""

    status: int  # the HTTP status (429 for a rate limit discord.py would not wait out)
    code: int  # Discord's JSON error code (0: none)
    retry_after: float | None = None  # seconds Discord asked us to wait (429)
    is_global: bool = False  # the bot's global rate limit, not one route's

    @property
    def refused(self) -> bool:
        """Discord said no for good (403 Forbidden, 404 Not Found): trying again won't help."""
        return self.status in (403, 404)

    @property
    def rate_limited(self) -> bool:
        return self.status == 429

    def maybe_sent(self, creates: bool) -> bool:
        """Whether a request that *creates* a message may have done so: only when Discord
        itself failed (5xx) after receiving it. A refusal or a rate limit never sends."""
        return creates and self.status >= 500

    @property
    def reason(self) -> str:
        """The failure in a few words, for a status line and the log."""
        if self.rate_limited:
            return "rate limited by Discord (429)"
        if self.status >= 500:
            return f"Discord error {self.status}"
        return f"Discord refused the post ({self.status}, code {self.code})"


def read_failure(exc: discord.HTTPException | discord.RateLimited) -> DiscordFailure:
    """:class:`DiscordFailure` of *exc*: a failed request, or a rate limit too long for
    discord.py to wait out (:class:`discord.RateLimited`, which carries its own delay)."""
    if isinstance(exc, discord.RateLimited):
        return DiscordFailure(429, 0, retry_after=exc.retry_after)
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    return DiscordFailure(
        exc.status,
        exc.code,
        retry_after=_seconds(headers.get("Retry-After")) if exc.status == 429 else None,
        is_global=bool(headers.get("X-RateLimit-Global")),
    )


def _seconds(header: str | None) -> float | None:
    try:
        return float(header) if header else None
    except ValueError:
        return None
