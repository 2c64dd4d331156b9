"""Channel routes: get a channel, read its history, post messages and open a thread on a
message, with Discord's permission checks and error codes.
"""

from __future__ import annotations

from typing import Any

from . import payloads
from .messages import MessageStore
from .payloads import MessageFlag
from .rest import Ctx, DiscordError, Reply, invalid_form
from .validation import FieldError
from .world import ChannelType, FakeChannel, Intent, Perm

JSON = dict[str, Any]


class ChannelRoutes(MessageStore):
    """``/channels/...`` routes (a part of ``FakeDiscord``)."""

    def _channel_routes(self) -> None:
        r = self._route
        r("GET", "/channels/{channel_id}", self.h_get_channel)
        r("GET", "/channels/{channel_id}/messages", self.h_list_messages)
        r("POST", "/channels/{channel_id}/messages", self.h_create_message)
        r(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/threads",
            self.h_thread_from_message,
        )

    async def h_get_channel(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        if ch.type == ChannelType.DM:
            users = [self.world.users[u] for u in ch.recipients if u in self.world.users]
            return Reply(body=payloads.channel(ch, recipients=users))
        self._require(ch)
        return Reply(body=payloads.channel(ch))

    async def h_list_messages(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        if ch.type != ChannelType.DM:
            have = self._require(ch)
            if not have & Perm.READ_MESSAGE_HISTORY:
                return Reply(body=[])
        q = ctx.req.query
        try:
            limit = int(q.get("limit", "50"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= 100:
            raise invalid_form(
                [
                    FieldError(
                        ("limit",), "NUMBER_TYPE_MAX", "int value should be between 1 and 100."
                    )
                ]
            )
        msgs = sorted(self.world.channel_messages(ch.id), key=lambda m: int(m["id"]))
        if "after" in q:
            after = int(q["after"])
            window = [m for m in msgs if int(m["id"]) > after][:limit]
        else:
            before = int(q["before"]) if "before" in q else None
            window = [m for m in msgs if before is None or int(m["id"]) < before][-limit:]
        return Reply(body=list(reversed(window)))

    async def h_create_message(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        msg = await self._create_message(ch, self.world.bot, ctx.body, ctx.req.files)
        return Reply(body=msg)

    async def h_thread_from_message(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        if ch.type not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        self._require(ch, Perm.CREATE_PUBLIC_THREADS, Perm.READ_MESSAGE_HISTORY)
        msg = self._message(ch, ctx.id("message_id"))
        if msg.get("thread") or int(msg["id"]) in {c.id for c in self.world.iter_channels()}:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        thread = self._new_thread(ch, int(msg["id"]), ctx.body)
        payload = payloads.channel(thread)
        payload["member"] = {
            "id": str(thread.id),
            "user_id": str(self.world.bot.id),
            "join_timestamp": thread.create_timestamp,
            "flags": 1,
        }
        msg["thread"] = payloads.channel(thread)
        msg["flags"] = msg["flags"] | MessageFlag.HAS_THREAD
        if self.echo_events:
            await self.gateway.dispatch(
                "THREAD_CREATE",
                {**payload, "newly_created": True},
                guild_id=thread.guild_id,
                intent=Intent.GUILDS,
            )
        return Reply(201, payload)

    def _new_thread(self, parent: FakeChannel, thread_id: int, body: JSON) -> FakeChannel:
        """A public thread on a message of *parent* (the thread's id is the message's)."""
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise invalid_form(
                [
                    FieldError(
                        ("name",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."
                    )
                ]
            )
        thread = FakeChannel(
            id=thread_id,
            name=name,
            type=ChannelType.PUBLIC_THREAD,
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.world.bot.id,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
            rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
            create_timestamp=payloads.iso(),
        )
        guild = self.world.guild_of(parent)
        assert guild is not None
        guild.channels[thread.id] = thread
        return thread
