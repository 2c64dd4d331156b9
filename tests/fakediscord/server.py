"""The fake Discord server (REST under ``/api/v10`` + gateway websocket) on 127.0.0.1.

See the package docstring (:mod:`tests.fakediscord`) for the user guide. :class:`FakeDiscord`
is put together from one part per area:

* :mod:`.recording` — recorded requests, waiting for them, failure injection;
* :mod:`.rest` — the route table and the way of one request (rate limits, auth, errors);
* :mod:`.messages` — creating, editing and deleting messages, and their gateway echoes;
* :mod:`.channels` — ``/channels/...`` routes (history, messages, threads);
* :mod:`.webhooks` — interaction callbacks, follow-ups and ``@original``;
* :mod:`.application` — application commands, application info, ``/gateway/bot``;
* :mod:`.users` — users, DMs and server members;
* :mod:`.interactions` — sending slash commands, clicks, selects and modals as a user;
* :mod:`.gateway` — the websocket (``server.gateway``).
"""

# The wait helpers deliberately take `timeout=` (their documented API).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Self

from aiohttp import web

from . import payloads
from .application import ApplicationRoutes
from .channels import ChannelRoutes
from .gateway import DropMode, Gateway
from .interactions import InteractionDriver, InteractionRecord
from .ratelimit import Injection, RateLimitConfig, RateLimiter
from .recording import RecordedRequest
from .rest import Route
from .users import UserRoutes
from .webhooks import InteractionRoutes
from .world import FakeChannel, FakeGuild, FakeRole, FakeUser, Intent, World

JSON = dict[str, Any]


class FakeDiscord(
    ChannelRoutes, InteractionRoutes, ApplicationRoutes, UserRoutes, InteractionDriver
):
    """A local Discord: REST API + gateway, driven by a mutable :class:`World`."""

    def __init__(
        self,
        world: World | None = None,
        *,
        token: str = "fake-bot-token.paperbot.test",
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval_ms: int = 41250,
        rate_limits: RateLimitConfig | None = None,
        interaction_ack_deadline: float | None = 3.0,
        echo_events: bool = True,
        guilds_per_shard: int = 1000,
        max_concurrency: int = 1,
        max_guilds_per_shard: int | None = 2500,
        identify_interval: float | None = None,
    ) -> None:
        self.world = world or World.default()
        #: GET /gateway/bot recommends one shard per this many servers (Discord: ~1,000).
        self.guilds_per_shard = guilds_per_shard
        #: ``session_start_limit.max_concurrency``: IDENTIFYs allowed per
        #: ``identify_interval`` in each bucket ``shard_id % max_concurrency``.
        self.max_concurrency = max_concurrency
        #: A session that would get more servers than this is closed with 4011 "Sharding
        #: required", as Discord does above 2,500 (None: no limit, for baselines).
        self.max_guilds_per_shard = max_guilds_per_shard
        #: Seconds between two IDENTIFYs of one bucket (Discord: 5); a faster one gets op 9
        #: (not resumable). None: not enforced (tests that re-identify at once).
        self.identify_interval = identify_interval
        self.token = token
        self.host = host
        self.port = port
        self.heartbeat_interval_ms = heartbeat_interval_ms
        #: Seconds an interaction may wait for its initial callback (None = forever).
        self.interaction_ack_deadline = interaction_ack_deadline
        #: Dispatch MESSAGE_CREATE/UPDATE/DELETE, THREAD_CREATE... for REST side effects.
        self.echo_events = echo_events
        self.rate_limits = rate_limits or RateLimitConfig()
        self.limiter = RateLimiter(self.rate_limits, self._now)
        self.gateway = Gateway(self)
        self.requests: list[RecordedRequest] = []
        self.injections: list[Injection] = []
        self.interactions: dict[int, InteractionRecord] = {}
        self.attachments: dict[int, bytes] = {}
        #: Exceptions raised by the fake's own handlers (bugs in the fake); the
        #: ``fake_discord`` fixture fails the test if any occurred.
        self.internal_errors: list[BaseException] = []
        self._nonces: dict[tuple[int, int, str], int] = {}
        self._waiters: list[
            tuple[Callable[[RecordedRequest], bool], asyncio.Future[RecordedRequest]]
        ] = []
        self._runner: web.AppRunner | None = None
        self._routes: list[Route] = []
        self._user_routes()
        self._application_routes()
        self._interaction_routes()
        self._channel_routes()

    # ----------------------------------------------------------- lifecycle
    async def start(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{tail:.*}", self._handle_api)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_get("/gateway-resume", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_file)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        addresses = runner.addresses
        self.port = int(addresses[0][1])
        return self

    async def stop(self) -> None:
        await self.gateway.close_all()
        for _, fut in self._waiters:
            fut.cancel()
        self._waiters.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------- gateway
    async def dispatch(
        self, event: str, data: JSON, *, guild_id: int | None = None, intent: int | None = None
    ) -> int:
        """Send any gateway event to connected clients (see :meth:`Gateway.dispatch`)."""
        if event == "INTERACTION_CREATE":
            self._register_interaction(data)
        return await self.gateway.dispatch(event, data, guild_id=guild_id, intent=intent)

    async def drop_gateway(
        self, mode: DropMode = "close", *, code: int = 4000, resumable: bool = True
    ) -> int:
        return await self.gateway.drop(mode, code=code, resumable=resumable)

    async def wait_for_gateway_connections(self, count: int, timeout: float = 5.0) -> None:
        """Wait until at least ``count`` websocket connections were opened in total."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.gateway.connections) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"only {len(self.gateway.connections)} gateway connections")
            await asyncio.sleep(0.005)

    # --------------------------------------------------------- world helpers
    def messages(self, channel: int | str | FakeChannel) -> list[JSON]:
        """Stored messages of a channel, oldest first (ephemeral ones excluded)."""
        ch = channel if isinstance(channel, FakeChannel) else self.world.channel(channel)
        return self.world.channel_messages(ch.id)

    async def post_user_message(
        self,
        channel: int | str | FakeChannel,
        content: str,
        *,
        user: int | str | FakeUser = "alice",
        **extra: Any,
    ) -> JSON:
        """A user writes a message: stored and dispatched as MESSAGE_CREATE."""
        ch = channel if isinstance(channel, FakeChannel) else self.world.channel(channel)
        u = user if isinstance(user, FakeUser) else self.world.user(user)
        body = {"content": content, **extra}
        return await self._create_message(ch, u, body, [], check_permissions=False)

    async def delete_channel(
        self, channel: int | str | FakeChannel, *, notify: bool = True
    ) -> None:
        """Mark a channel deleted (REST → 404 10003) and optionally send CHANNEL_DELETE."""
        ch = channel if isinstance(channel, FakeChannel) else self.world.channel(channel)
        ch.deleted = True
        if notify and ch.guild_id is not None:
            await self.gateway.dispatch(
                "THREAD_DELETE" if ch.is_thread else "CHANNEL_DELETE",
                payloads.channel(ch),
                guild_id=ch.guild_id,
                intent=Intent.GUILDS,
            )

    async def notify_channel_update(self, channel: int | str | FakeChannel) -> None:
        """Send CHANNEL_UPDATE with the channel's current state (after editing overwrites)."""
        ch = channel if isinstance(channel, FakeChannel) else self.world.channel(channel)
        await self.gateway.dispatch(
            "CHANNEL_UPDATE", payloads.channel(ch), guild_id=ch.guild_id, intent=Intent.GUILDS
        )

    async def remove_bot(self, guild: FakeGuild) -> None:
        """The bot is kicked from (or leaves) *guild*: it is no longer a member (REST on the
        guild's channels answers 403 Missing Access) and gets GUILD_DELETE without
        ``unavailable``, as Discord sends it."""
        guild.members.pop(self.world.bot.id, None)
        await self.gateway.dispatch(
            "GUILD_DELETE", {"id": str(guild.id)}, guild_id=guild.id, intent=Intent.GUILDS
        )

    async def guild_outage(self, guild: FakeGuild) -> None:
        """*guild* becomes unavailable (an outage): GUILD_DELETE with ``unavailable: true``;
        it stays listed as unavailable in READY until :meth:`end_outage`."""
        guild.unavailable = True
        await self.gateway.dispatch(
            "GUILD_DELETE",
            {"id": str(guild.id), "unavailable": True},
            guild_id=guild.id,
            intent=Intent.GUILDS,
        )

    async def end_outage(self, guild: FakeGuild) -> None:
        """*guild* is available again: GUILD_CREATE with its full state."""
        guild.unavailable = False
        await self.gateway.dispatch(
            "GUILD_CREATE",
            payloads.guild_create(self.world, guild),
            guild_id=guild.id,
            intent=Intent.GUILDS,
        )

    async def delete_role(self, role: FakeRole, guild: FakeGuild | None = None) -> None:
        """Delete *role* (members lose it) and send GUILD_ROLE_DELETE."""
        g = guild or self.world.guild
        g.roles.pop(role.id, None)
        for member in g.members.values():
            if role.id in member.roles:
                member.roles.remove(role.id)
        for channel in g.channels.values():  # its overwrites go with it
            channel.overwrites = [
                o for o in channel.overwrites if not (o.type == 0 and o.id == role.id)
            ]
        await self.gateway.dispatch(
            "GUILD_ROLE_DELETE",
            {"guild_id": str(g.id), "role_id": str(role.id)},
            guild_id=g.id,
            intent=Intent.GUILDS,
        )
