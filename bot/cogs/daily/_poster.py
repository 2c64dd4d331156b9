"""The Discord side of posting daily cards: :class:`DiscordPoster`, the
:class:`~bot.schedule.runner.Poster` that sends the card with discord.py, paced by a shared
:class:`~bot.schedule.ratelimit.RateLimiter`, with the run's nonce, and with Discord's errors
turned into "pause this channel" or "try again later".
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import aiohttp
import discord

from bot import cards, permissions
from bot.interactions import DiscordFailure, read_failure
from bot.permissions import perm_names
from bot.schedule.ratelimit import RateLimiter
from bot.schedule.runner import ChannelUnavailable, PostReceipt, PostRequest, TransientPostError
from bot.views import action_id, card_view

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

UNKNOWN_CHANNEL = 10003
THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440

# What the bot needs in a channel to post there (and, for a thread, in the thread).
NEEDED = ("view_channel", "send_messages", "embed_links", "read_message_history")
NEEDED_FOR_THREADS = ("create_public_threads", "send_messages_in_threads")


def missing_permissions(perms: discord.Permissions, thread: bool) -> list[str]:
    """What the bot lacks to post a daily card here (and, with *thread*, to open a thread)."""
    return permissions.missing_permissions(perms, NEEDED + (NEEDED_FOR_THREADS if thread else ()))


SERVER_UNAVAILABLE = "the server is unavailable (a Discord outage)"
ROLE_GONE = "the role to ping was deleted"
ROLE_GONE_NOTE = f"no ping: {ROLE_GONE}"

POST_RATE = 40.0  # requests/s for daily posts, under Discord's 50/s global limit per bot
POST_BURST = 5


def shared_limiter(share: float) -> RateLimiter:
    """The daily posts' rate limiter for a process running *share* of the shards: Discord's
    global limit is per bot, so processes sharing a token split it by their shards."""
    share = min(max(share, 0.0), 1.0)
    return RateLimiter(rate=max(POST_RATE * share, 1.0), burst=max(round(POST_BURST * share), 1))


PostErrorT = ChannelUnavailable | TransientPostError


class DiscordPoster:
    """Posts daily cards with discord.py. Every request first takes a token from *limiter*."""

    def __init__(self, bot: PaperBot, limiter: RateLimiter) -> None:
        self.bot = bot
        self.limiter = limiter

    async def _channel(self, channel_id: int) -> discord.TextChannel:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            await self.limiter.acquire()
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.NotFound:
                raise ChannelUnavailable("the channel was deleted") from None
            except discord.Forbidden:
                raise ChannelUnavailable(
                    "I can't see the channel (missing View Channel, or I left the server)"
                ) from None
            except discord.HTTPException as exc:
                raise _transient(read_failure(exc), creates=False) from None
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise TransientPostError(f"network error: {type(exc).__name__}") from None
        if not isinstance(channel, discord.TextChannel):
            raise ChannelUnavailable("the channel is not a text channel")
        if channel.guild.unavailable or channel.guild.me is None:
            # An outage (GUILD_DELETE with unavailable, or not back since READY): its roles
            # and permissions are unknown until GUILD_CREATE; nothing is sent meanwhile.
            raise TransientPostError(SERVER_UNAVAILABLE, maybe_sent=False)
        return channel

    def _check(self, channel: discord.TextChannel) -> None:
        """Refuse early, without a request, when our cached permissions already say no.

        (Threads are optional for the post itself: their permissions only make a note.)"""
        missing = missing_permissions(channel.permissions_for(channel.guild.me), thread=False)
        if missing:
            raise ChannelUnavailable(f"missing permission: {perm_names(missing)}")

    def _refusal(
        self, channel: discord.TextChannel, exc: discord.HTTPException | discord.RateLimited
    ) -> PostErrorT:
        failure = read_failure(exc)
        if failure.status == 404:
            if failure.code == UNKNOWN_CHANNEL:
                return ChannelUnavailable("the channel was deleted")
            return TransientPostError(
                f"Discord said not found (code {failure.code})", maybe_sent=True
            )
        if failure.status == 403:
            missing = missing_permissions(channel.permissions_for(channel.guild.me), False)
            if missing:
                return ChannelUnavailable(f"missing permission: {perm_names(missing)}")
            return ChannelUnavailable(f"Discord refused access (code {failure.code})")
        return _transient(failure, creates=True)

    async def send(self, request: PostRequest, /) -> PostReceipt:
        channel = await self._channel(request.channel_id)
        self._check(channel)
        paper = request.paper
        kwargs: dict[str, Any] = {"nonce": request.nonce}
        notes: list[str] = []
        role_id = request.role_id
        if role_id is not None and channel.guild.get_role(role_id) is None:
            # Deleted since /daily set: its mention would read "@deleted-role" and ping no one.
            role_id = None
            notes.append(ROLE_GONE_NOTE)
        if paper is None:
            content: str | None = request.text
            kwargs["allowed_mentions"] = discord.AllowedMentions.none()
        else:
            if request.papers:  # the week's top papers: one compact list
                kwargs["embed"] = cards.list_embed(
                    request.context,
                    request.papers,
                    footer="Open one with /paper · save, vote or cite it from its card",
                )
            else:
                kwargs["embed"] = cards.paper_embed(paper, context=request.context)
                kwargs["view"] = card_view(paper)
            content = None
            if role_id is not None:
                # The one mention the bot ever makes: the role an admin chose, this message only.
                content = f"<@&{role_id}>"
                kwargs["allowed_mentions"] = discord.AllowedMentions(
                    everyone=False,
                    users=False,
                    roles=[discord.Object(id=role_id)],
                    replied_user=False,
                )
            else:
                kwargs["allowed_mentions"] = discord.AllowedMentions.none()
        await self.limiter.acquire()
        try:
            message = await channel.send(content, **kwargs)
        except (discord.HTTPException, discord.RateLimited) as exc:
            failure = read_failure(exc)
            if failure.rate_limited and failure.is_global:
                self.limiter.penalize(failure.retry_after or 1.0)
            raise self._refusal(channel, exc) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TransientPostError(f"network error: {type(exc).__name__}") from None
        thread_id = None
        if request.thread and paper is not None:
            thread_id, note = await self._open_thread(channel, message, _thread_title(request))
            if note:
                notes.append(note)
        log.info(
            "daily post in channel %s (%s): message %s",
            request.channel_id,
            request.run_key,
            message.id,
        )
        return PostReceipt(message.id, thread_id, "; ".join(notes) or None)

    async def _open_thread(
        self, channel: discord.TextChannel, message: discord.Message, title: str
    ) -> tuple[int | None, str | None]:
        me = channel.guild.me
        if me is not None:
            missing = [n for n in NEEDED_FOR_THREADS if not getattr(channel.permissions_for(me), n)]
            if missing:
                return None, f"no thread: missing {perm_names(missing)}"
        await self.limiter.acquire()
        try:
            thread = await message.create_thread(
                name=cards.title_label(title), auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.Forbidden:
            return None, "no thread: missing Create Public Threads"
        except discord.HTTPException as exc:
            if exc.code == 160004:  # a thread exists already for this message
                return None, None
            log.warning("could not open a thread in channel %s: %s", channel.id, exc)
            return None, f"no thread: Discord error {exc.status}"
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return None, f"no thread: network error ({type(exc).__name__})"
        return thread.id, None

    async def find_sent(self, request: PostRequest, since: datetime, /) -> PostReceipt | None:
        """Look for our message of this run in the channel (after a crash or a timeout)."""
        channel = await self._channel(request.channel_id)
        # Without Read Message History Discord answers with an empty list: we could not tell
        # "not posted" from "cannot see", so we would risk a double post. Pause instead.
        self._check(channel)
        me = self.bot.user
        if me is None:  # pragma: no cover
            raise TransientPostError("not logged in yet", maybe_sent=True)
        after = discord.Object(id=discord.utils.time_snowflake(since, high=False))
        await self.limiter.acquire()
        try:
            async for message in channel.history(limit=100, after=after, oldest_first=True):
                if message.author.id != me.id or not _is_ours(message, request):
                    continue
                thread_id, note = None, None
                if request.thread and request.paper is not None:
                    existing = channel.get_thread(message.id) or message.thread
                    if existing is not None:
                        thread_id = existing.id
                    else:
                        thread_id, note = await self._open_thread(
                            channel, message, _thread_title(request)
                        )
                return PostReceipt(message.id, thread_id, note)
        except discord.HTTPException as exc:
            raise self._refusal(channel, exc) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise TransientPostError(f"network error: {type(exc).__name__}") from None
        return None

    def check_channel(self, channel: discord.TextChannel, *, thread: bool) -> list[str]:
        return missing_permissions(channel.permissions_for(channel.guild.me), thread)


def _thread_title(request: PostRequest) -> str:
    assert request.paper is not None
    return request.context if request.papers else request.paper.title


def _is_ours(message: discord.Message, request: PostRequest) -> bool:
    if request.paper is None:
        return message.content == request.text
    if request.papers:
        # A list: ours if it lists the first paper (never in two posts of a channel).
        return any(
            e.description and cards.lists_paper(e.description, request.paper)
            for e in message.embeds
        )
    wanted = action_id("vote", request.paper.id)
    for row in message.components:
        for item in getattr(row, "children", ()):
            if wanted is not None and getattr(item, "custom_id", None) == wanted:
                return True
    url = cards.safe_url(request.paper.url_abs) or cards.safe_url(request.paper.url_hf)
    return any(e.url and url and e.url == url for e in message.embeds)


def _transient(failure: DiscordFailure, *, creates: bool) -> TransientPostError:
    return TransientPostError(
        failure.reason, retry_after=failure.retry_after, maybe_sent=failure.maybe_sent(creates)
    )
