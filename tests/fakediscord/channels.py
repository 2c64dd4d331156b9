"""Channel routes: get a channel, list/create/get/edit/delete messages, threads, typing
and the bot's own reactions, with Discord's permission checks and error codes.
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
        # channels & messages
        r("GET", "/channels/{channel_id}", self.h_get_channel)
        r("GET", "/channels/{channel_id}/messages", self.h_list_messages)
        r("POST", "/channels/{channel_id}/messages", self.h_create_message)
        r("GET", "/channels/{channel_id}/messages/{message_id}", self.h_get_message)
        r("PATCH", "/channels/{channel_id}/messages/{message_id}", self.h_edit_message)
        r("DELETE", "/channels/{channel_id}/messages/{message_id}", self.h_delete_message)
        r(
            "POST",
            "/channels/{channel_id}/messages/{message_id}/threads",
            self.h_thread_from_message,
        )
        r("POST", "/channels/{channel_id}/threads", self.h_thread_without_message)
        r("POST", "/channels/{channel_id}/typing", self.h_typing)
        react = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}/@me"
        r("PUT", react, self.h_add_reaction)
        r("DELETE", react, self.h_remove_reaction)

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
        if "around" in q:
            around = int(q["around"])
            older = [m for m in msgs if int(m["id"]) <= around][-((limit + 1) // 2) :]
            newer = [m for m in msgs if int(m["id"]) > around][: limit // 2]
            window = older + newer
        elif "after" in q:
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

    async def h_get_message(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        if ch.type != ChannelType.DM:
            self._require(ch, Perm.READ_MESSAGE_HISTORY)
        return Reply(body=self._message(ch, ctx.id("message_id")))

    async def h_edit_message(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        if ch.type != ChannelType.DM:
            self._require(ch)
        msg = self._message(ch, ctx.id("message_id"))
        body = ctx.body
        if int(msg["author"]["id"]) != self.world.bot.id:
            if set(body) - {"flags"}:
                raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
            self._require(ch, Perm.MANAGE_MESSAGES)
        return Reply(body=await self._edit_message(ch, msg, body, ctx.req.files))

    async def h_delete_message(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        msg = self._message(ch, ctx.id("message_id"))
        if ch.type != ChannelType.DM:
            self._require(ch)
            if int(msg["author"]["id"]) != self.world.bot.id:
                self._require(ch, Perm.MANAGE_MESSAGES)
        await self._delete_message(ch, int(msg["id"]))
        return Reply(204)

    def _new_thread(
        self, parent: FakeChannel, thread_id: int, body: JSON, ttype: int
    ) -> FakeChannel:
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
            type=ttype,
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

    def _thread_payload(self, thread: FakeChannel) -> JSON:
        data = payloads.channel(thread)
        data["member"] = {
            "id": str(thread.id),
            "user_id": str(self.world.bot.id),
            "join_timestamp": thread.create_timestamp,
            "flags": 1,
        }
        return data

    async def h_thread_from_message(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        if ch.type not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        self._require(ch, Perm.CREATE_PUBLIC_THREADS, Perm.READ_MESSAGE_HISTORY)
        msg = self._message(ch, ctx.id("message_id"))
        if msg.get("thread") or int(msg["id"]) in {c.id for c in self.world.iter_channels()}:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        thread = self._new_thread(ch, int(msg["id"]), ctx.body, ChannelType.PUBLIC_THREAD)
        payload = self._thread_payload(thread)
        msg["thread"] = payloads.channel(thread)
        msg["flags"] = msg["flags"] | MessageFlag.HAS_THREAD
        await self._thread_created(thread, payload)
        return Reply(201, payload)

    async def h_thread_without_message(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        if ch.type not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        ttype = int(ctx.body.get("type") or ChannelType.PRIVATE_THREAD)
        needed = (
            Perm.CREATE_PUBLIC_THREADS
            if ttype == ChannelType.PUBLIC_THREAD
            else Perm.CREATE_PRIVATE_THREADS
        )
        self._require(ch, needed)
        thread = self._new_thread(ch, self.world.snowflakes.next(), ctx.body, ttype)
        payload = self._thread_payload(thread)
        await self._thread_created(thread, payload)
        return Reply(201, payload)

    async def _thread_created(self, thread: FakeChannel, payload: JSON) -> None:
        if self.echo_events:
            await self.gateway.dispatch(
                "THREAD_CREATE",
                {**payload, "newly_created": True},
                guild_id=thread.guild_id,
                intent=Intent.GUILDS,
            )

    async def h_typing(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        if ch.type != ChannelType.DM:
            self._require(ch, Perm.SEND_MESSAGES_IN_THREADS if ch.is_thread else Perm.SEND_MESSAGES)
        return Reply(204)

    async def h_add_reaction(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        if ch.type != ChannelType.DM:
            self._require(ch, Perm.READ_MESSAGE_HISTORY, Perm.ADD_REACTIONS)
        msg = self._message(ch, ctx.id("message_id"))
        emoji = ctx.params["emoji"]
        name, _, eid = emoji.partition(":")
        reactions: list[JSON] = msg.setdefault("reactions", [])
        for r in reactions:
            if r["emoji"]["name"] == name:
                if not r["me"]:
                    r["me"] = True
                    r["count"] += 1
                break
        else:
            reactions.append(
                {
                    "count": 1,
                    "count_details": {"burst": 0, "normal": 1},
                    "me": True,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": {"id": eid or None, "name": name},
                }
            )
        return Reply(204)

    async def h_remove_reaction(self, ctx: Ctx) -> Reply:
        ch = self._channel(ctx.id("channel_id"))
        msg = self._message(ch, ctx.id("message_id"))
        name = ctx.params["emoji"].partition(":")[0]
        reactions = msg.get("reactions") or []
        for r in list(reactions):
            if r["emoji"]["name"] == name and r["me"]:
                r["me"] = False
                r["count"] -= 1
                if r["count"] <= 0:
                    reactions.remove(r)
        return Reply(204)
