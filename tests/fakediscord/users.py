"""Users and members: GET /users/@me and /users/{id}, opening a DM, and reading a server's
member.
"""

from __future__ import annotations

from . import payloads
from .rest import Ctx, DiscordError, Reply, RestApi
from .world import ChannelType, FakeChannel


class UserRoutes(RestApi):
    """``/users/...`` and ``/guilds/{id}/members/{id}`` (a part of ``FakeDiscord``)."""

    def _user_routes(self) -> None:
        r = self._route
        r("GET", "/users/@me", self.h_get_me)
        r("GET", "/users/{user_id}", self.h_get_user)
        r("POST", "/users/@me/channels", self.h_create_dm)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self.h_guild_member)

    async def h_get_me(self, ctx: Ctx) -> Reply:
        me = payloads.user(self.world.bot)
        me.update(verified=True, mfa_enabled=False, email=None, locale="en-US", bio="")
        return Reply(body=me)

    async def h_get_user(self, ctx: Ctx) -> Reply:
        u = self.world.users.get(ctx.id("user_id"))
        if u is None:
            raise DiscordError(404, 10013, "Unknown User")
        return Reply(body=payloads.user(u))

    async def h_create_dm(self, ctx: Ctx) -> Reply:
        world = self.world
        raw = ctx.body.get("recipient_id")
        rid = int(raw) if raw is not None and str(raw).isdigit() else None
        if rid is None or rid not in world.users or rid == world.bot.id:
            raise DiscordError(400, 50033, "Invalid Recipient(s)")
        dm = next((c for c in world.dm_channels.values() if c.recipients == [rid]), None)
        if dm is None:
            dm = FakeChannel(
                id=world.snowflakes.next(), name="", type=ChannelType.DM, recipients=[rid]
            )
            world.dm_channels[dm.id] = dm
        return Reply(body=payloads.channel(dm, recipients=[world.users[rid]]))

    async def h_guild_member(self, ctx: Ctx) -> Reply:
        g = self._guild(ctx.id("guild_id"))
        uid = ctx.id("user_id")
        m = g.members.get(uid)
        if m is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return Reply(body=payloads.member(m, self.world.users.get(uid)))
