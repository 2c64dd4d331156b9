"""The fake Discord server (REST under ``/api/v10`` + gateway websocket) on 127.0.0.1.

See the package docstring (:mod:`tests.fakediscord`) for the user guide.
"""

# The wait helpers deliberately take `timeout=` (their documented API).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import copy
import json
import logging
import mimetypes
import re
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import BodyPartReader, web

from . import payloads
from .gateway import DropMode, Gateway, GatewaySession, intents_for_message
from .payloads import CallbackType, InteractionContext, InteractionType, MessageFlag, OptionType
from .ratelimit import (
    FakeResponse,
    Injection,
    RateLimitConfig,
    RateLimiter,
    RoutePattern,
    rate_limited,
    server_error,
)
from .validation import (
    FieldError,
    autocomplete_errors,
    command_errors,
    errors_to_json,
    is_empty_message,
    message_errors,
)
from .world import (
    ChannelType,
    FakeChannel,
    FakeGuild,
    FakeUser,
    IntegrationType,
    Intent,
    InteractionContextType,
    Perm,
    World,
)

log = logging.getLogger(__name__)

JSON = dict[str, Any]

MAX_UPLOAD = 10 * 1024 * 1024
INTERACTION_TOKEN_TTL = 15 * 60.0
_MENTION_USER = re.compile(r"<@!?(\d+)>")
_MENTION_ROLE = re.compile(r"<@&(\d+)>")
_FILE_FIELD = re.compile(r"^files\[(\d+)\]$")
_EDITABLE_FLAGS = MessageFlag.SUPPRESS_EMBEDS | MessageFlag.IS_COMPONENTS_V2
_CREATE_FLAGS = _EDITABLE_FLAGS | MessageFlag.SUPPRESS_NOTIFICATIONS
_ALLOWED_CALLBACKS: dict[int, set[int]] = {
    InteractionType.PING: {CallbackType.PONG},
    InteractionType.APPLICATION_COMMAND: {4, 5, 9, 10, 12},
    InteractionType.MESSAGE_COMPONENT: {4, 5, 6, 7, 9, 10, 12},
    InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE: {8},
    InteractionType.MODAL_SUBMIT: {4, 5, 6, 7, 10, 12},
}


# =============================================================== recordings
@dataclass
class RecordedFile:
    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One REST request as the fake saw it, plus the answer it gave."""

    index: int
    method: str
    #: Path relative to the API base, e.g. ``/channels/1/messages`` (decoded).
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    #: Parsed JSON body, or the ``payload_json`` part of a multipart body.
    json: Any = None
    files: list[RecordedFile] = field(default_factory=list)
    #: Other multipart fields.
    form: dict[str, str] = field(default_factory=dict)
    #: ``"POST /channels/{channel_id}/messages"`` or None for an unknown route.
    route: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    api_version: int = 10
    time: float = 0.0
    #: Filled once the response is decided (0 while in flight).
    status: int = 0
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)
    injected: bool = False
    rate_limited: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/form-data")

    def __repr__(self) -> str:
        return f"<RecordedRequest #{self.index} {self.method} {self.path} -> {self.status}>"


class DiscordError(Exception):
    """Raised inside handlers; becomes a Discord-shaped JSON error response."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: Sequence[FieldError] | JSON | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        if errors is None or isinstance(errors, dict):
            self.errors: JSON | None = errors
        else:
            self.errors = errors_to_json(errors)

    def body(self) -> JSON:
        return payloads.error_body(self.code, self.message, self.errors)


class CommandUnavailable(ValueError):
    """A test tried to run a command where Discord's client would not offer it (its
    ``contexts`` or ``integration_types`` rule the place or the install out)."""


def _invalid_form(errors: Sequence[FieldError]) -> DiscordError:
    return DiscordError(400, 50035, "Invalid Form Body", errors)


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    req: RecordedRequest
    params: dict[str, str]

    def id(self, name: str) -> int:
        raw = self.params[name]
        if not raw.isdigit():
            raise _invalid_form(
                [FieldError((name,), "NUMBER_TYPE_COERCE", f'Value "{raw}" is not snowflake.')]
            )
        return int(raw)

    @property
    def body(self) -> JSON:
        return self.req.json if isinstance(self.req.json, dict) else {}

    def flag(self, name: str) -> bool:
        return self.req.query.get(name, "").lower() in ("1", "true")


Handler = Callable[[Ctx], Awaitable[Reply]]


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Handler
    auth: bool
    global_exempt: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


def _compile(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{([a-z_]+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{regex}$")


@dataclass
class InteractionRecord:
    id: int
    token: str
    type: int
    payload: JSON
    created: float
    channel_id: int | None
    guild_id: int | None
    user_id: int | None
    #: For component / modal interactions: the message the component sits on.
    message_id: int | None
    responded: bool = False
    response_type: int | None = None
    original_message_id: int | None = None
    message_ids: list[int] = field(default_factory=list)


class PendingInteraction:
    """Handle for an interaction the fake dispatched (returned by ``send_*`` helpers)."""

    def __init__(self, server: FakeDiscord, record: InteractionRecord, since: int) -> None:
        self.server = server
        self.record = record
        self._since = since

    @property
    def id(self) -> int:
        return self.record.id

    @property
    def token(self) -> str:
        return self.record.token

    @property
    def payload(self) -> JSON:
        return self.record.payload

    @property
    def callback_path(self) -> str:
        return f"/interactions/{self.id}/{self.token}/callback"

    @property
    def webhook_path(self) -> str:
        return f"/webhooks/{self.server.world.application.id}/{self.token}"

    @property
    def response_type(self) -> int | None:
        return self.record.response_type

    @property
    def original_message(self) -> JSON | None:
        mid = self.record.original_message_id
        return None if mid is None else self.server.world.find_message(mid)

    async def wait_callback(self, timeout: float = 5.0) -> RecordedRequest:
        """The POST .../callback request (whatever status the fake answered)."""
        return await self.server.wait_for_request(
            "POST", self.callback_path, timeout=timeout, since=self._since
        )

    async def wait_followup(
        self,
        timeout: float = 5.0,
        since: int | None = None,
    ) -> RecordedRequest:
        """The next POST /webhooks/{app}/{token} follow-up."""
        return await self.server.wait_for_request(
            "POST",
            self.webhook_path,
            timeout=timeout,
            since=self._since if since is None else since,
        )

    async def wait_edit(self, timeout: float = 5.0, since: int | None = None) -> RecordedRequest:
        """The next PATCH of the original response (e.g. after ``defer()``)."""
        return await self.server.wait_for_request(
            "PATCH",
            f"{self.webhook_path}/messages/@original",
            timeout=timeout,
            since=self._since if since is None else since,
        )

    def __repr__(self) -> str:
        return f"<PendingInteraction id={self.id} type={self.record.type}>"


# ==================================================================== server
class FakeDiscord:
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
        latency: float = 0.0,
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
        #: Extra seconds before every REST response.
        self.latency = latency
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
        self._routes: list[_Route] = []
        self._register_routes()

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

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    # ----------------------------------------------------------------- urls
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (and GET /gateway)."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway-resume"

    # ------------------------------------------------------------ recording
    def requests_for(self, method: str, path: str | re.Pattern[str]) -> list[RecordedRequest]:
        """Recorded requests matching ``method`` (``*`` = any) and a path pattern."""
        pattern = RoutePattern(method, path)
        return [r for r in self.requests if pattern.matches(r.method, r.path)]

    @property
    def unhandled_requests(self) -> list[RecordedRequest]:
        """Requests to routes the fake does not implement (answered 404/405)."""
        return [r for r in self.requests if r.route is None]

    def assert_no_unhandled_requests(self) -> None:
        bad = self.unhandled_requests
        assert not bad, f"client called routes the fake does not implement: {bad}"

    def mark(self) -> int:
        """Current request count; pass as ``since=`` to only wait for newer requests."""
        return len(self.requests)

    async def wait_for_request(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        timeout: float = 5.0,
        since: int = 0,
        predicate: Callable[[RecordedRequest], bool] | None = None,
    ) -> RecordedRequest:
        """First answered request matching the pattern with index >= ``since``."""
        pattern = RoutePattern(method, path)

        def match(r: RecordedRequest) -> bool:
            return (
                r.index >= since
                and r.status != 0
                and pattern.matches(r.method, r.path)
                and (predicate is None or predicate(r))
            )

        for r in self.requests[since:]:
            if match(r):
                return r
        fut: asyncio.Future[RecordedRequest] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            seen = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[since:]]
            raise TimeoutError(
                f"no {method} {path!s} request within {timeout}s; saw: {seen}"
            ) from None

    async def wait_for_requests(
        self,
        method: str,
        path: str | re.Pattern[str],
        count: int,
        *,
        timeout: float = 5.0,
        since: int = 0,
    ) -> list[RecordedRequest]:
        """Wait until ``count`` matching requests have been answered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found: list[RecordedRequest] = []
        cursor = since
        while len(found) < count:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"only {len(found)}/{count} {method} {path!s} requests")
            r = await self.wait_for_request(method, path, timeout=left, since=cursor)
            found.append(r)
            cursor = r.index + 1
        return found

    def _notify(self, req: RecordedRequest) -> None:
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(req):
                fut.set_result(req)
        self._waiters = [(p, f) for p, f in self._waiters if not f.done()]

    # ------------------------------------------------------------ injection
    def inject(
        self,
        method: str,
        path: str | re.Pattern[str],
        *responses: FakeResponse,
        times: int = 1,
        predicate: Callable[[RecordedRequest], bool] | None = None,
    ) -> Injection:
        """Answer the next matching request(s) with ``responses`` (each repeated ``times``)."""
        queue: deque[FakeResponse] = deque()
        for resp in responses:
            queue.extend([resp] * times)
        injection = Injection(RoutePattern(method, path), queue, predicate)
        self.injections.append(injection)
        return injection

    def rate_limit_next(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        retry_after: float = 0.05,
        times: int = 1,
        is_global: bool = False,
        scope: str = "user",
    ) -> Injection:
        return self.inject(
            method,
            path,
            rate_limited(retry_after, is_global=is_global, scope=scope),
            times=times,
        )

    def fail_next(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        status: int = 500,
        times: int = 1,
        code: int | None = None,
        message: str | None = None,
    ) -> Injection:
        """Queue an error: 5xx use Discord/edge bodies; others need ``code``/``message``."""
        if code is None and status >= 500:
            resp = server_error(status)
        else:
            resp = FakeResponse(
                status,
                payloads.error_body(code or 0, message or f"{status}: Injected error"),
            )
        return self.inject(method, path, resp, times=times)

    def _take_injection(self, req: RecordedRequest) -> FakeResponse | None:
        for inj in self.injections:
            if inj.responses and inj.pattern.matches(req.method, req.path):
                if inj.predicate is not None and not inj.predicate(req):
                    continue
                inj.hits.append(req)
                return inj.responses.popleft()
        return None

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

    # --------------------------------------------------------- interactions
    def interaction_context(
        self,
        channel: int | str | FakeChannel = "general",
        user: int | str | FakeUser = "alice",
        *,
        command: JSON | None = None,
        owners: dict[str, str] | None = None,
    ) -> InteractionContext:
        """Context for an interaction by ``user`` in ``channel``, as Discord would build it.

        ``context`` follows the channel (0 a server, 1 the DM with the bot, 2 DMs between
        users and group DMs). ``authorizing_integration_owners`` lists the installs that
        reach it: ``"0"`` the server's (or ``"0"`` in the bot's DM), ``"1"`` the user's own
        (``FakeUser.app_installed``). With *command* (a stored command) only the installs and
        contexts it declares count, and :class:`CommandUnavailable` is raised where Discord
        would not offer it. *owners* (a component on a message) are taken as given.
        ``app_permissions`` are :meth:`World.app_permissions`.
        """
        world = self.world
        u = user if isinstance(user, FakeUser) else world.user(user)
        ch = channel if isinstance(channel, FakeChannel) else world.channel(channel)
        guild = world.guild_of(ch)
        context = self._context_type(ch)
        if owners is None:
            owners = self._owners(ch, u)
            if command is not None:
                owners = self._available(command, context, owners)
        app_permissions = world.app_permissions(ch)
        if guild is None:
            if ch.is_private and not ch.is_bot_dm and u.id not in ch.recipients:
                raise ValueError(f"{u.username} is not in that private channel")
            if ch.is_bot_dm:
                channel_data = payloads.channel(ch, recipients=[u])
            else:
                others = [world.users[r] for r in ch.recipients if r in world.users and r != u.id]
                channel_data = payloads.channel(ch, recipients=others)
            return InteractionContext(
                application_id=world.application.id,
                channel=channel_data,
                user=payloads.user(u),
                app_permissions=app_permissions,
                guild_locale=None,
                context=context,
                owners=owners,
            )
        m = guild.members.get(u.id)
        if m is None:
            raise ValueError(f"{u.username} is not a member of {guild.name}")
        perms = world.permissions_for(u.id, ch)
        return InteractionContext(
            application_id=world.application.id,
            channel=payloads.channel(ch, permissions=perms),
            member=payloads.member(m, u, permissions=perms),
            guild_id=guild.id,
            app_permissions=app_permissions,
            guild_locale=guild.preferred_locale,
            guild_features=list(guild.features),
            context=context,
            owners=owners,
        )

    @staticmethod
    def _context_type(ch: FakeChannel) -> int:
        if ch.guild_id is not None:
            return InteractionContextType.GUILD
        if ch.is_bot_dm:
            return InteractionContextType.BOT_DM
        return InteractionContextType.PRIVATE_CHANNEL

    def _owners(self, ch: FakeChannel, u: FakeUser) -> dict[str, str]:
        """Every install of the app that reaches *ch* for *u* (before the command's say)."""
        owners: dict[str, str] = {}
        guild = self.world.guild_of(ch)
        if guild is not None:
            if guild.applications_commands_scope:
                owners[str(IntegrationType.GUILD_INSTALL)] = str(guild.id)
        elif ch.is_bot_dm:
            owners[str(IntegrationType.GUILD_INSTALL)] = "0"
        if u.app_installed:
            owners[str(IntegrationType.USER_INSTALL)] = str(u.id)
        return owners

    @staticmethod
    def _available(command: JSON, context: int, owners: dict[str, str]) -> dict[str, str]:
        """The installs through which *command* is offered here (Discord's client shows a
        command only where its ``contexts`` allow and one of its ``integration_types`` is
        installed); raises :class:`CommandUnavailable` when there is none. A command
        registered to a server is offered in that server whatever it declares."""
        name = command.get("name")
        if command.get("guild_id") is not None:
            return {k: v for k, v in owners.items() if k == str(IntegrationType.GUILD_INSTALL)}
        contexts = command.get("contexts")  # None: every context
        if contexts is not None and context not in contexts:
            raise CommandUnavailable(f"{name!r} is not offered in context {context}")
        types = command.get("integration_types") or [IntegrationType.GUILD_INSTALL]
        kept = {k: v for k, v in owners.items() if int(k) in types}
        if not kept:
            raise CommandUnavailable(
                f"{name!r} is not offered here: installs {sorted(owners)} vs {types}"
            )
        return kept

    def _registered(self, name: str, guild_id: int | None, ctype: int = 1) -> JSON | None:
        if guild_id is not None:
            cmd = self.world.commands.get(guild_id, {}).get((name, ctype))
            if cmd is not None:
                return cmd
        return self.world.commands.get(None, {}).get((name, ctype))

    def _command_ids(
        self, name: str, guild_id: int | None, ctype: int = 1
    ) -> tuple[int | None, int | None]:
        cmd = self._registered(name, guild_id, ctype)
        if cmd is None:
            return None, None
        return int(cmd["id"]), int(cmd["guild_id"]) if cmd.get("guild_id") else None

    def _resolve(self, options: Iterable[JSON], guild: FakeGuild | None, ch: FakeChannel) -> JSON:
        resolved: JSON = {}
        world = self.world
        for opt in options:
            otype = opt.get("type")
            if otype in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP):
                nested = self._resolve(opt.get("options") or [], guild, ch)
                for key, items in nested.items():
                    resolved.setdefault(key, {}).update(items)
                continue
            if otype not in (
                OptionType.USER,
                OptionType.CHANNEL,
                OptionType.ROLE,
                OptionType.MENTIONABLE,
            ):
                continue
            raw = str(opt.get("value"))
            if not raw.isdigit():
                continue
            oid = int(raw)
            if otype in (OptionType.USER, OptionType.MENTIONABLE) and oid in world.users:
                resolved.setdefault("users", {})[raw] = payloads.user(world.users[oid])
                if guild is not None and oid in guild.members:
                    mem = payloads.member(
                        guild.members[oid], None, permissions=world.permissions_for(oid, ch)
                    )
                    resolved.setdefault("members", {})[raw] = mem
            elif otype == OptionType.CHANNEL:
                target = world.find_channel(oid)
                if target is not None:
                    data = payloads.channel(target, permissions=world.bot_permissions(target))
                    resolved.setdefault("channels", {})[raw] = data
            elif guild is not None and oid in guild.roles:
                resolved.setdefault("roles", {})[raw] = payloads.role(guild.roles[oid])
        return resolved

    async def send_slash_command(
        self,
        name: str,
        options: Iterable[JSON] = (),
        *,
        channel: int | str | FakeChannel = "general",
        user: int | str | FakeUser = "alice",
        command_guild_id: int | None = None,
    ) -> PendingInteraction:
        """Dispatch a slash command as if ``user`` ran it in ``channel``.

        The command id / guild id come from the commands the client synced (guild first).
        USER/CHANNEL/ROLE option values (ids) get ``resolved`` data from the world.
        """
        ch = channel if isinstance(channel, FakeChannel) else self.world.channel(channel)
        cmd = self._registered(name, ch.guild_id)
        ctx = self.interaction_context(ch, user, command=cmd)
        opts = list(options)
        cid, cguild = self._command_ids(name, ctx.guild_id)
        guild = self.world.guild_of(ch)
        payload = payloads.slash_command(
            ctx,
            name,
            opts,
            command_id=cid,
            command_guild_id=command_guild_id if command_guild_id is not None else cguild,
            resolved=self._resolve(opts, guild, ch) or None,
        )
        return await self.dispatch_interaction(payload)

    async def send_autocomplete(
        self,
        name: str,
        options: Iterable[JSON],
        *,
        channel: int | str | FakeChannel = "general",
        user: int | str | FakeUser = "alice",
        command_guild_id: int | None = None,
    ) -> PendingInteraction:
        """Dispatch an autocomplete request; mark the typed option with ``payloads.focused``."""
        ch = channel if isinstance(channel, FakeChannel) else self.world.channel(channel)
        ctx = self.interaction_context(ch, user, command=self._registered(name, ch.guild_id))
        cid, cguild = self._command_ids(name, ctx.guild_id)
        payload = payloads.autocomplete(
            ctx,
            name,
            list(options),
            command_id=cid,
            command_guild_id=command_guild_id if command_guild_id is not None else cguild,
        )
        return await self.dispatch_interaction(payload)

    async def send_message_command(
        self,
        name: str,
        message: JSON | int,
        *,
        user: int | str | FakeUser = "alice",
    ) -> PendingInteraction:
        """Dispatch a message context-menu command that ``user`` ran on ``message`` (a stored
        message, or its id), in the message's channel. The target message is sent whole in
        ``resolved``, content included (see :func:`payloads.message_command`)."""
        msg, ch = self._component_message(message)
        cmd = self._registered(name, ch.guild_id, ctype=3)
        ctx = self.interaction_context(ch, user, command=cmd)
        cid, cguild = self._command_ids(name, ctx.guild_id, ctype=3)
        payload = payloads.message_command(ctx, name, msg, command_id=cid, command_guild_id=cguild)
        return await self.dispatch_interaction(payload)

    @staticmethod
    def _message_owners(msg: JSON) -> dict[str, str] | None:
        """A component on an interaction's message answers to the installs of that
        interaction (``interaction_metadata.authorizing_integration_owners``)."""
        meta = msg.get("interaction_metadata") or {}
        owners = meta.get("authorizing_integration_owners")
        return dict(owners) if owners else None

    def _component_message(self, message: JSON | int) -> tuple[JSON, FakeChannel]:
        msg = message if isinstance(message, dict) else self.world.find_message(int(message))
        if msg is None:
            raise KeyError(f"unknown message {message}")
        return msg, self.world.channel(int(msg["channel_id"]))

    async def click_button(
        self,
        message: JSON | int,
        custom_id: str,
        *,
        user: int | str | FakeUser = "alice",
    ) -> PendingInteraction:
        """Dispatch a button click on ``message`` (payload or id of a stored message)."""
        msg, ch = self._component_message(message)
        ctx = self.interaction_context(ch, user, owners=self._message_owners(msg))
        return await self.dispatch_interaction(payloads.button_click(ctx, custom_id, message=msg))

    async def choose_select(
        self,
        message: JSON | int,
        custom_id: str,
        values: Sequence[str],
        *,
        user: int | str | FakeUser = "alice",
        component_type: int = payloads.ComponentType.STRING_SELECT,
    ) -> PendingInteraction:
        """Dispatch a select-menu choice on ``message``."""
        msg, ch = self._component_message(message)
        ctx = self.interaction_context(ch, user, owners=self._message_owners(msg))
        payload = payloads.string_select(
            ctx, custom_id, values, message=msg, component_type=component_type
        )
        return await self.dispatch_interaction(payload)

    async def submit_modal(
        self,
        custom_id: str,
        values: dict[str, str],
        *,
        channel: int | str | FakeChannel = "general",
        user: int | str | FakeUser = "alice",
        message: JSON | int | None = None,
    ) -> PendingInteraction:
        msg = None if message is None else self._component_message(message)[0]
        ctx = self.interaction_context(channel, user)
        return await self.dispatch_interaction(
            payloads.modal_submit(ctx, custom_id, values, message=msg)
        )

    def _channel_of_ctx(self, ctx: InteractionContext) -> FakeChannel:
        return self.world.channel(int(ctx.channel["id"]))

    async def dispatch_interaction(self, payload: JSON) -> PendingInteraction:
        """Register and dispatch a raw INTERACTION_CREATE payload."""
        since = self.mark()
        record = self._register_interaction(payload)
        # On the shard of the interaction's server (DMs: shard 0), like Discord.
        await self.gateway.dispatch("INTERACTION_CREATE", payload, guild_id=record.guild_id)
        return PendingInteraction(self, record, since)

    def _register_interaction(self, payload: JSON) -> InteractionRecord:
        iid = int(payload["id"])
        existing = self.interactions.get(iid)
        if existing is not None:
            return existing
        user = (payload.get("member") or {}).get("user") or payload.get("user") or {}
        msg = payload.get("message")
        record = InteractionRecord(
            id=iid,
            token=str(payload["token"]),
            type=int(payload["type"]),
            payload=payload,
            created=self._now(),
            channel_id=int(payload["channel_id"]) if payload.get("channel_id") else None,
            guild_id=int(payload["guild_id"]) if payload.get("guild_id") else None,
            user_id=int(user["id"]) if user.get("id") else None,
            message_id=int(msg["id"]) if msg else None,
        )
        self.interactions[iid] = record
        return record

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

    # ============================================================ REST core
    def _route(
        self,
        method: str,
        template: str,
        handler: Handler,
        *,
        auth: bool = True,
        global_exempt: bool = False,
    ) -> None:
        self._routes.append(
            _Route(method, template, _compile(template), handler, auth, global_exempt)
        )

    def _register_routes(self) -> None:
        r = self._route
        r("GET", "/users/@me", self.h_get_me)
        r("GET", "/users/{user_id}", self.h_get_user)
        r("POST", "/users/@me/channels", self.h_create_dm)
        r("GET", "/oauth2/applications/@me", self.h_app_info)
        r("GET", "/gateway", self.h_gateway, auth=False)
        r("GET", "/gateway/bot", self.h_gateway_bot)
        # application commands
        for base in (
            "/applications/{application_id}/commands",
            "/applications/{application_id}/guilds/{guild_id}/commands",
        ):
            r("GET", base, self.h_list_commands)
            r("PUT", base, self.h_put_commands)
            r("POST", base, self.h_post_command)
            r("GET", base + "/{command_id}", self.h_get_command)
            r("PATCH", base + "/{command_id}", self.h_patch_command)
            r("DELETE", base + "/{command_id}", self.h_delete_command)
        # interactions & follow-ups (no bot auth, not in the global limit)
        r(
            "POST",
            "/interactions/{interaction_id}/{interaction_token}/callback",
            self.h_interaction_callback,
            auth=False,
            global_exempt=True,
        )
        wh = "/webhooks/{webhook_id}/{webhook_token}"
        r("POST", wh, self.h_followup, auth=False, global_exempt=True)
        for verb, h in (
            ("GET", self.h_webhook_get_message),
            ("PATCH", self.h_webhook_edit_message),
            ("DELETE", self.h_webhook_delete_message),
        ):
            r(verb, wh + "/messages/{message_id}", h, auth=False, global_exempt=True)
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
        # guilds
        r("GET", "/guilds/{guild_id}", self.h_get_guild)
        r("GET", "/guilds/{guild_id}/channels", self.h_guild_channels)
        r("GET", "/guilds/{guild_id}/roles", self.h_guild_roles)
        r("GET", "/guilds/{guild_id}/members/{user_id}", self.h_guild_member)

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        """(route, params, path_exists_with_other_method)."""
        other = False
        for route in self._routes:
            m = route.regex.match(path)
            if m is None:
                continue
            if route.method == method:
                return route, m.groupdict(), False
            other = True
        return None, {}, other

    async def _read_body(self, request: web.Request, rec: RecordedRequest) -> None:
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            reader = await request.multipart()
            chunks: list[bytes] = []
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                data = await part.read(decode=False)
                chunks.append(bytes(data))
                name = part.name or ""
                if name == "payload_json":
                    rec.json = json.loads(data.decode())
                elif part.filename is not None or _FILE_FIELD.match(name):
                    rec.files.append(
                        RecordedFile(
                            name, part.filename, part.headers.get("Content-Type"), bytes(data)
                        )
                    )
                else:
                    rec.form[name] = data.decode()
            rec.body = b"".join(chunks)
            return
        rec.body = await request.read()
        if rec.body and "json" in ctype:
            rec.json = json.loads(rec.body)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        m = re.match(r"^/api/v(\d+)(/.*)$", request.path)
        version, path = (int(m.group(1)), m.group(2)) if m else (0, request.path[4:])
        rec = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=path,
            query=dict(request.query),
            headers=dict(request.headers),
            body=b"",
            api_version=version,
            time=self._now(),
        )
        self.requests.append(rec)
        reply: Reply
        decision_headers: dict[str, str] = {}
        try:
            await self._read_body(request, rec)
        except (ValueError, UnicodeDecodeError):
            reply = self._error_reply(
                DiscordError(400, 50109, "The request body contains invalid JSON.")
            )
            return await self._finish(rec, reply, {})
        route, params, other_method = self._match(rec.method, path)
        if route is not None:
            rec.route = route.key
            rec.params = params
        injected = self._take_injection(rec)
        if injected is not None:
            rec.injected = True
            if injected.delay:
                await asyncio.sleep(injected.delay)
            if not injected.passthrough:
                return await self._finish(rec, self._fake_reply(injected), {})
        if version not in (9, 10):
            reply = Reply(404, payloads.error_body(0, "404: Not Found"))
        elif route is None:
            status = 405 if other_method else 404
            text = "405: Method Not Allowed" if other_method else "404: Not Found"
            reply = Reply(status, payloads.error_body(0, text))
        else:
            major = ":".join(
                params[k]
                for k in ("channel_id", "guild_id", "webhook_id", "webhook_token")
                if k in params
            )
            decision = self.limiter.check(route.key, major, global_exempt=route.global_exempt)
            decision_headers = decision.headers
            if decision.limited:
                rec.rate_limited = True
                reply = Reply(
                    429,
                    {
                        "message": "You are being rate limited.",
                        "retry_after": decision.retry_after,
                        "global": decision.is_global,
                        "code": 0,
                    },
                )
            elif route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
                reply = Reply(401, payloads.error_body(0, "401: Unauthorized"))
            else:
                try:
                    reply = await route.handler(Ctx(rec, params))
                except DiscordError as exc:
                    reply = self._error_reply(exc)
                except Exception as exc:  # a bug in the fake: make it loud, not a retry loop
                    log.exception("fake Discord handler crashed on %s %s", rec.method, path)
                    self.internal_errors.append(exc)
                    reply = Reply(400, payloads.error_body(0, f"fake Discord crashed: {exc!r}"))
        if injected is not None:  # passthrough: side effects done, answer with the fake
            fake = self._fake_reply(injected)
            if fake.body is None:
                fake.body = reply.body
            reply = fake
        return await self._finish(rec, reply, decision_headers)

    @staticmethod
    def _error_reply(exc: DiscordError) -> Reply:
        return Reply(exc.status, exc.body())

    @staticmethod
    def _fake_reply(fake: FakeResponse) -> Reply:
        headers = dict(fake.headers)
        if fake.content_type is not None:
            headers["Content-Type"] = fake.content_type
        return Reply(fake.status, copy.deepcopy(fake.body), headers)

    async def _finish(
        self, rec: RecordedRequest, reply: Reply, ratelimit_headers: dict[str, str]
    ) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        headers: dict[str, str] = {"Via": "1.1 google", **ratelimit_headers, **reply.headers}
        if headers.pop("X-No-Via", None) is not None:
            headers.pop("Via", None)
        if reply.status == 429 and not rec.rate_limited:
            self.limiter.stats.rate_limited_responses += 1
        rec.status = reply.status
        rec.response = reply.body
        body: bytes | None
        if reply.status == 204 or reply.body is None:
            body = None
            headers.pop("Content-Type", None)
        elif isinstance(reply.body, str) and "Content-Type" in headers:
            body = reply.body.encode()
        elif isinstance(reply.body, str):
            body = reply.body.encode()
            headers["Content-Type"] = "text/plain"
        else:
            body = json.dumps(reply.body, separators=(",", ":")).encode()
            # discord.py only parses JSON when the header is exactly this (no charset).
            headers["Content-Type"] = "application/json"
        rec.response_headers = headers
        self._notify(rec)
        return web.Response(status=reply.status, body=body, headers=headers)

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        aid = request.match_info["attachment_id"]
        data = self.attachments.get(int(aid)) if aid.isdigit() else None
        if data is None:
            return web.Response(status=404, text="Not Found")
        ctype = mimetypes.guess_type(request.match_info["filename"])[0]
        return web.Response(body=data, content_type=ctype or "application/octet-stream")

    # ===================================================== handler helpers
    def _channel(self, channel_id: int) -> FakeChannel:
        ch = self.world.find_channel(channel_id)
        if ch is None or ch.deleted:
            raise DiscordError(404, 10003, "Unknown Channel")
        return ch

    def _require(self, ch: FakeChannel, *perms: int) -> int:
        have = self.world.bot_permissions(ch)
        if not have & Perm.VIEW_CHANNEL:
            raise DiscordError(403, 50001, "Missing Access")
        for p in perms:
            if have & p != p:
                raise DiscordError(403, 50013, "Missing Permissions")
        return have

    def _message(self, ch: FakeChannel, message_id: int) -> JSON:
        msg = self.world.messages.get(ch.id, {}).get(message_id)
        if msg is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

    def _guild(self, guild_id: int) -> FakeGuild:
        g = self.world.guilds.get(guild_id)
        if g is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        return g

    async def _echo(
        self,
        event: str,
        data: JSON,
        ch: FakeChannel,
        *,
        message_author_id: int | None = None,
    ) -> None:
        if not self.echo_events or not self.world.bot_present(ch):
            return  # the bot user only hears of channels it is in
        guild_id = ch.guild_id
        bot_id = self.world.bot.id

        def strip_content(session: GatewaySession, payload: JSON) -> JSON:
            if (
                guild_id is None
                or message_author_id in (None, bot_id)
                or session.intents & Intent.MESSAGE_CONTENT
                or any(u.get("id") == str(bot_id) for u in payload.get("mentions", []))
            ):
                return payload
            blank = dict(payload)
            blank.update(content="", embeds=[], attachments=[], components=[])
            blank.pop("poll", None)
            return blank

        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
            data = self._gateway_message(data, ch)
        await self.gateway.dispatch(
            event,
            data,
            guild_id=guild_id,
            intent=intents_for_message(guild_id),
            transform=strip_content if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") else None,
        )

    def _gateway_message(self, msg: JSON, ch: FakeChannel) -> JSON:
        """REST message + the extra MESSAGE_CREATE fields (guild_id, member, mention members)."""
        guild = self.world.guild_of(ch)
        if guild is None:
            return msg
        data = dict(msg)
        data["guild_id"] = str(guild.id)
        author = guild.members.get(int(msg["author"]["id"]))
        if author is not None and "webhook_id" not in msg:
            data["member"] = payloads.member(author, None)
        mentions = []
        for u in msg.get("mentions", []):
            m = guild.members.get(int(u["id"]))
            mentions.append({**u, "member": payloads.member(m, None)} if m else u)
        data["mentions"] = mentions
        return data

    def _build_attachments(
        self,
        ch: FakeChannel,
        body: JSON,
        files: Sequence[RecordedFile],
        existing: Sequence[JSON] = (),
    ) -> list[JSON]:
        by_index: dict[int, RecordedFile] = {}
        for file in files:
            m = _FILE_FIELD.match(file.field_name)
            by_index[int(m.group(1)) if m else len(by_index)] = file
        specs = body.get("attachments")
        if specs is None:
            specs = [{"id": i, "filename": up.filename} for i, up in by_index.items()]
            keep: list[JSON] = list(existing) if not files else []
        else:
            keep = []
        old = {a["id"]: a for a in existing}
        result: list[JSON] = list(keep)
        for spec in specs:
            sid = str(spec.get("id"))
            if sid in old:
                result.append(old[sid])
                continue
            upload = by_index.get(int(sid)) if sid.isdigit() else None
            if upload is None:
                raise _invalid_form(
                    [FieldError(("attachments", sid), "ATTACHMENT_NOT_FOUND", "Unknown attachment")]
                )
            if len(upload.data) > MAX_UPLOAD:
                raise DiscordError(413, 40005, "Request entity too large")
            aid = self.world.snowflakes.next()
            filename = spec.get("filename") or upload.filename or "file"
            self.attachments[aid] = upload.data
            url = f"{self.base_url}/attachments/{ch.id}/{aid}/{filename}"
            att: JSON = {
                "id": str(aid),
                "filename": filename,
                "size": len(upload.data),
                "url": url,
                "proxy_url": url,
                "content_type": mimetypes.guess_type(filename)[0] or "application/octet-stream",
            }
            if spec.get("description"):
                att["description"] = spec["description"]
            result.append(att)
        return result

    def _mentions(
        self, ch: FakeChannel, author_id: int, body: JSON, content: str, replied: JSON | None
    ) -> tuple[list[JSON], list[int], bool]:
        world = self.world
        guild = world.guild_of(ch)
        allowed = body.get("allowed_mentions")
        parse = None if allowed is None else set(allowed.get("parse") or [])
        allowed_users = set() if allowed is None else {str(u) for u in allowed.get("users") or []}
        allowed_roles = set() if allowed is None else {str(r) for r in allowed.get("roles") or []}
        users: list[JSON] = []
        seen: set[int] = set()

        def add_user(uid: int) -> None:
            if uid in seen or uid not in world.users:
                return
            seen.add(uid)
            users.append(payloads.user(world.users[uid]))

        for raw in _MENTION_USER.findall(content):
            if parse is None or "users" in parse or raw in allowed_users:
                add_user(int(raw))
        roles: list[int] = []
        if guild is not None:
            for raw in _MENTION_ROLE.findall(content):
                if int(raw) in guild.roles and (
                    parse is None or "roles" in parse or raw in allowed_roles
                ):
                    roles.append(int(raw))
        everyone = bool(
            ("@everyone" in content or "@here" in content)
            and (parse is None or "everyone" in parse)
            and world.permissions_for(author_id, ch) & Perm.MENTION_EVERYONE
        )
        if replied is not None:
            ping = True if allowed is None else bool(allowed.get("replied_user", False))
            if ping:
                add_user(int(replied["author"]["id"]))
        return users, roles, everyone

    @staticmethod
    def _normalize_embeds(embeds: Iterable[JSON]) -> list[JSON]:
        out = []
        for e in embeds:
            e = dict(e)
            e.setdefault("type", "rich")
            e.setdefault("content_scan_version", 0)
            out.append(e)
        return out

    async def _create_message(
        self,
        ch: FakeChannel,
        author: FakeUser,
        body: JSON,
        files: Sequence[RecordedFile],
        *,
        check_permissions: bool = True,
        interaction: InteractionRecord | None = None,
        flags: int | None = None,
    ) -> JSON:
        world = self.world
        guild = world.guild_of(ch)
        has_files = bool(files)
        perms = world.permissions_for(author.id, ch)
        if check_permissions:
            if ch.type == ChannelType.GUILD_CATEGORY or ch.type == ChannelType.GUILD_VOICE:
                raise DiscordError(400, 50008, "Cannot send messages in a non-text channel")
            if ch.type == ChannelType.DM:
                other = next((world.users[u] for u in ch.recipients if u in world.users), None)
                if other is not None and not other.accepts_dms:
                    raise DiscordError(403, 50007, "Cannot send messages to this user")
            else:
                needed = Perm.SEND_MESSAGES_IN_THREADS if ch.is_thread else Perm.SEND_MESSAGES
                perms = self._require(ch, needed)
                if has_files:
                    self._require(ch, Perm.ATTACH_FILES)
                if ch.is_thread and ch.archived:
                    raise DiscordError(400, 50083, "Thread is archived")
        errors = message_errors(body)
        if errors:
            raise _invalid_form(errors)
        if is_empty_message(body, has_files=has_files):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        nonce = body.get("nonce")
        if nonce is not None and body.get("enforce_nonce"):
            known = self._nonces.get((ch.id, author.id, str(nonce)))
            if known is not None and known in world.messages.get(ch.id, {}):
                return world.messages[ch.id][known]
        ref = body.get("message_reference")
        replied: JSON | None = None
        if ref and ref.get("message_id"):
            target = world.find_message(int(ref["message_id"]))
            if target is None and ref.get("fail_if_not_exists", True):
                raise _invalid_form(
                    [
                        FieldError(
                            ("message_reference",),
                            "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                            "Unknown message",
                        )
                    ]
                )
            if target is not None:
                replied = {k: v for k, v in target.items() if k != "referenced_message"}
        content = str(body.get("content") or "")
        mentions, mention_roles, everyone = self._mentions(ch, author.id, body, content, replied)
        embeds = body.get("embeds") or []
        if guild is not None and check_permissions and not perms & Perm.EMBED_LINKS:
            embeds = []  # Discord drops embeds silently without EMBED_LINKS
        msg_flags = (int(body.get("flags") or 0) & _CREATE_FLAGS) if flags is None else flags
        message_type = 0
        interaction_metadata = None
        if interaction is not None:
            meta_user = (interaction.payload.get("member") or {}).get(
                "user"
            ) or interaction.payload.get("user")
            interaction_metadata = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": meta_user,
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            if interaction.type == InteractionType.APPLICATION_COMMAND:
                message_type = 20
                interaction_metadata["name"] = interaction.payload["data"]["name"]
                interaction_metadata["command_type"] = interaction.payload["data"].get("type", 1)
        elif replied is not None:
            message_type = 19
        message_id = world.snowflakes.next()
        msg = payloads.message(
            message_id=message_id,
            channel_id=ch.id,
            author=author,
            content=content,
            embeds=self._normalize_embeds(embeds),
            components=body.get("components") or [],
            attachments=self._build_attachments(ch, body, files),
            flags=msg_flags,
            tts=bool(body.get("tts")) and bool(perms & Perm.SEND_TTS_MESSAGES),
            message_type=message_type,
            nonce=nonce,
            webhook_id=world.application.id if interaction is not None else None,
            application_id=world.application.id if interaction is not None else None,
            interaction_metadata=interaction_metadata,
            message_reference=(
                {
                    "type": 0,
                    "message_id": str(replied["id"]),
                    "channel_id": str(replied["channel_id"]),
                    **({"guild_id": str(ch.guild_id)} if ch.guild_id else {}),
                }
                if replied is not None
                else None
            ),
            referenced_message=replied,
            mentions=mentions,
            mention_roles=mention_roles,
            mention_everyone=everyone,
            poll=body.get("poll"),
        )
        if msg_flags & MessageFlag.EPHEMERAL:
            world.ephemeral_messages[message_id] = msg
            return msg
        world.messages.setdefault(ch.id, {})[message_id] = msg
        ch.last_message_id = message_id
        if ch.is_thread:
            ch.message_count += 1
        if nonce is not None:
            self._nonces[(ch.id, author.id, str(nonce))] = message_id
        await self._echo("MESSAGE_CREATE", msg, ch, message_author_id=author.id)
        return msg

    async def _edit_message(
        self, ch: FakeChannel, msg: JSON, body: JSON, files: Sequence[RecordedFile]
    ) -> JSON:
        errors = message_errors(body)
        if errors:
            raise _invalid_form(errors)
        was_loading = bool(msg["flags"] & MessageFlag.LOADING)
        updated = dict(msg)
        if "content" in body:
            updated["content"] = body["content"] or ""
        if "embeds" in body:
            updated["embeds"] = self._normalize_embeds(body["embeds"] or [])
        if "components" in body:
            updated["components"] = body["components"] or []
        if body.get("flags") is not None:
            updated["flags"] = (msg["flags"] & ~_EDITABLE_FLAGS) | (
                int(body["flags"]) & _EDITABLE_FLAGS
            )
        if "attachments" in body or files:
            updated["attachments"] = self._build_attachments(ch, body, files, msg["attachments"])
        if "content" in body or "allowed_mentions" in body:
            author_id = int(msg["author"]["id"])
            users, roles, everyone = self._mentions(
                ch, author_id, body, updated["content"], msg.get("referenced_message")
            )
            updated.update(mentions=users, mention_roles=[str(r) for r in roles])
            updated["mention_everyone"] = everyone
        updated["flags"] = updated["flags"] & ~MessageFlag.LOADING
        if not was_loading:
            updated["edited_timestamp"] = payloads.iso()
        if is_empty_message(updated, has_files=bool(updated["attachments"])):
            raise DiscordError(400, 50006, "Cannot send an empty message")
        msg.clear()
        msg.update(updated)
        if not msg["flags"] & MessageFlag.EPHEMERAL:
            await self._echo("MESSAGE_UPDATE", msg, ch, message_author_id=int(msg["author"]["id"]))
        return msg

    async def _delete_message(self, ch: FakeChannel, message_id: int) -> None:
        world = self.world
        if world.ephemeral_messages.pop(message_id, None) is not None:
            return
        world.messages.get(ch.id, {}).pop(message_id, None)
        data: JSON = {"id": str(message_id), "channel_id": str(ch.id)}
        if ch.guild_id is not None:
            data["guild_id"] = str(ch.guild_id)
        await self._echo("MESSAGE_DELETE", data, ch)

    # ============================================================ handlers
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

    async def h_app_info(self, ctx: Ctx) -> Reply:
        world = self.world
        app = world.application
        return Reply(body=payloads.application_info(app, world.users[app.owner_id], world.bot))

    async def h_gateway(self, ctx: Ctx) -> Reply:
        return Reply(body={"url": self.gateway_url})

    @property
    def recommended_shards(self) -> int:
        """What GET /gateway/bot recommends: one shard per ``guilds_per_shard`` servers."""
        return max(1, -(-len(self.world.guilds) // max(1, self.guilds_per_shard)))

    async def h_gateway_bot(self, ctx: Ctx) -> Reply:
        return Reply(
            body={
                "url": self.gateway_url,
                "shards": self.recommended_shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": max(0, 1000 - self.gateway.identify_count),
                    "reset_after": 86_400_000,
                    "max_concurrency": self.max_concurrency,
                },
            }
        )

    # --- application commands
    def _command_scope(self, ctx: Ctx) -> int | None:
        if ctx.id("application_id") != self.world.application.id:
            raise DiscordError(
                403, 20012, "You are not authorized to perform this action on this application"
            )
        if "guild_id" not in ctx.params:
            return None
        gid = ctx.id("guild_id")
        if gid not in self.world.guilds:
            raise DiscordError(403, 50001, "Missing Access")
        if not self.world.guilds[gid].applications_commands_scope:
            raise DiscordError(403, 50001, "Missing Access")
        return gid

    def _store_command(self, gid: int | None, data: JSON, existing: JSON | None) -> JSON:
        world = self.world
        cmd: JSON = {
            "id": existing["id"] if existing else str(world.snowflakes.next()),
            "application_id": str(world.application.id),
            "version": str(world.snowflakes.next()),
            "type": int(data.get("type", 1)),
            "name": data["name"],
            "name_localizations": data.get("name_localizations"),
            "description": data.get("description", ""),
            "description_localizations": data.get("description_localizations"),
            "default_member_permissions": data.get("default_member_permissions"),
            "nsfw": bool(data.get("nsfw", False)),
            "contexts": data.get("contexts"),
            "integration_types": data.get("integration_types") or [0],
            "options": data.get("options") or [],
        }
        if gid is not None:
            cmd["guild_id"] = str(gid)
        else:
            cmd["dm_permission"] = data.get("dm_permission", True)
        return cmd

    async def h_list_commands(self, ctx: Ctx) -> Reply:
        gid = self._command_scope(ctx)
        return Reply(body=list(self.world.commands.get(gid, {}).values()))

    async def h_put_commands(self, ctx: Ctx) -> Reply:
        gid = self._command_scope(ctx)
        body = ctx.req.json
        if not isinstance(body, list):
            raise _invalid_form([FieldError((), "BASE_TYPE_ARRAY", "Must be an array.")])
        errors = command_errors(body)
        if errors:
            raise _invalid_form(errors)
        old = self.world.commands.get(gid, {})
        new: dict[tuple[str, int], JSON] = {}
        for data in body:
            key = (str(data["name"]), int(data.get("type", 1)))
            new[key] = self._store_command(gid, data, old.get(key))
        self.world.commands[gid] = new
        return Reply(body=list(new.values()))

    async def h_post_command(self, ctx: Ctx) -> Reply:
        gid = self._command_scope(ctx)
        data = ctx.body
        errors = command_errors([data])
        if errors:
            raise _invalid_form(errors)
        store = self.world.commands.setdefault(gid, {})
        key = (str(data["name"]), int(data.get("type", 1)))
        existed = key in store
        store[key] = self._store_command(gid, data, store.get(key))
        return Reply(200 if existed else 201, store[key])

    def _find_command(self, ctx: Ctx) -> tuple[int | None, tuple[str, int], JSON]:
        gid = self._command_scope(ctx)
        cid = str(ctx.id("command_id"))
        for key, cmd in self.world.commands.get(gid, {}).items():
            if cmd["id"] == cid:
                return gid, key, cmd
        raise DiscordError(404, 10063, "Unknown application command")

    async def h_get_command(self, ctx: Ctx) -> Reply:
        return Reply(body=self._find_command(ctx)[2])

    async def h_patch_command(self, ctx: Ctx) -> Reply:
        gid, key, cmd = self._find_command(ctx)
        merged = {**cmd, **ctx.body}
        errors = command_errors([merged])
        if errors:
            raise _invalid_form(errors)
        store = self.world.commands[gid]
        del store[key]
        new_key = (str(merged["name"]), int(merged.get("type", 1)))
        store[new_key] = self._store_command(gid, merged, cmd)
        return Reply(body=store[new_key])

    async def h_delete_command(self, ctx: Ctx) -> Reply:
        gid, key, _ = self._find_command(ctx)
        del self.world.commands[gid][key]
        return Reply(204)

    # --- interactions
    def _interaction_by_token(self, ctx: Ctx) -> InteractionRecord:
        if ctx.id("webhook_id") != self.world.application.id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        token = ctx.params["webhook_token"]
        rec = next((r for r in self.interactions.values() if r.token == token), None)
        if rec is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if self._now() - rec.created > INTERACTION_TOKEN_TTL:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if not rec.responded:
            raise DiscordError(404, 10015, "Unknown Webhook")
        return rec

    def _interaction_channel(self, rec: InteractionRecord) -> FakeChannel:
        if rec.channel_id is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        ch = self.world.find_channel(rec.channel_id)
        if ch is None:
            raise DiscordError(404, 10003, "Unknown Channel")
        return ch

    async def h_interaction_callback(self, ctx: Ctx) -> Reply:
        iid = ctx.id("interaction_id")
        rec = self.interactions.get(iid)
        if rec is None or rec.token != ctx.params["interaction_token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        if rec.responded:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        deadline = self.interaction_ack_deadline
        if deadline is not None and self._now() - rec.created > deadline:
            raise DiscordError(404, 10062, "Unknown interaction")
        body = ctx.body
        cb_type = body.get("type")
        if not isinstance(cb_type, int) or cb_type not in _ALLOWED_CALLBACKS.get(rec.type, set()):
            raise _invalid_form(
                [
                    FieldError(
                        ("type",),
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        "Invalid interaction response type",
                    )
                ]
            )
        data = body.get("data") or {}
        files = ctx.req.files
        world = self.world
        message: JSON | None = None
        if cb_type == CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            ch = self._interaction_channel(rec)
            flags = int(data.get("flags") or 0) & (_CREATE_FLAGS | MessageFlag.EPHEMERAL)
            message = await self._create_message(
                ch, world.bot, data, files, check_permissions=False, interaction=rec, flags=flags
            )
            rec.original_message_id = int(message["id"])
        elif cb_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            ch = self._interaction_channel(rec)
            flags = MessageFlag.LOADING | (int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
            message = await self._create_loading_message(ch, rec, flags)
            rec.original_message_id = int(message["id"])
        elif cb_type in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            rec.original_message_id = rec.message_id
            message = None if rec.message_id is None else world.find_message(rec.message_id)
            if cb_type == CallbackType.UPDATE_MESSAGE and message is not None:
                ch = self._interaction_channel(rec)
                message = await self._edit_message(ch, message, data, files)
        elif cb_type == CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            errors = autocomplete_errors(data)
            if errors:
                raise _invalid_form(errors)
        elif cb_type == CallbackType.MODAL:
            missing = [k for k in ("custom_id", "title", "components") if not data.get(k)]
            if missing:
                raise _invalid_form(
                    [
                        FieldError(("data", k), "BASE_TYPE_REQUIRED", "This field is required")
                        for k in missing
                    ]
                )
        rec.responded = True
        rec.response_type = cb_type
        if rec.original_message_id is not None:
            rec.message_ids.append(rec.original_message_id)
        if not ctx.flag("with_response"):
            return Reply(204)
        interaction: JSON = {"id": str(rec.id), "type": rec.type}
        resource: JSON = {"type": cb_type}
        if message is not None:
            interaction.update(
                response_message_id=message["id"],
                response_message_loading=bool(message["flags"] & MessageFlag.LOADING),
                response_message_ephemeral=bool(message["flags"] & MessageFlag.EPHEMERAL),
            )
            resource["message"] = message
        return Reply(200, {"interaction": interaction, "resource": resource})

    async def _create_loading_message(
        self, ch: FakeChannel, rec: InteractionRecord, flags: int
    ) -> JSON:
        """The "Bot is thinking..." message a deferred response creates."""
        world = self.world
        message_id = world.snowflakes.next()
        meta_user = (rec.payload.get("member") or {}).get("user") or rec.payload.get("user")
        msg = payloads.message(
            message_id=message_id,
            channel_id=ch.id,
            author=world.bot,
            flags=flags,
            message_type=20 if rec.type == InteractionType.APPLICATION_COMMAND else 0,
            webhook_id=world.application.id,
            application_id=world.application.id,
            interaction_metadata={"id": str(rec.id), "type": rec.type, "user": meta_user},
        )
        if flags & MessageFlag.EPHEMERAL:
            world.ephemeral_messages[message_id] = msg
        else:
            world.messages.setdefault(ch.id, {})[message_id] = msg
            await self._echo("MESSAGE_CREATE", msg, ch, message_author_id=world.bot.id)
        return msg

    async def h_followup(self, ctx: Ctx) -> Reply:
        rec = self._interaction_by_token(ctx)
        ch = self._interaction_channel(rec)
        body = ctx.body
        original = (
            None
            if rec.original_message_id is None
            else self.world.find_message(rec.original_message_id)
        )
        if (
            rec.response_type == CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
            and original is not None
            and original["flags"] & MessageFlag.LOADING
        ):
            # The first follow-up after a deferred response replaces the "thinking" message.
            message = await self._edit_message(ch, original, body, ctx.req.files)
        else:
            flags = int(body.get("flags") or 0) & (_CREATE_FLAGS | MessageFlag.EPHEMERAL)
            message = await self._create_message(
                ch,
                self.world.bot,
                body,
                ctx.req.files,
                check_permissions=False,
                interaction=rec,
                flags=flags,
            )
            rec.message_ids.append(int(message["id"]))
        return Reply(200, message) if ctx.flag("wait") else Reply(204)

    def _webhook_message(self, ctx: Ctx) -> tuple[InteractionRecord, FakeChannel, JSON]:
        rec = self._interaction_by_token(ctx)
        ref = ctx.params["message_id"]
        mid = (
            rec.original_message_id if ref == "@original" else (int(ref) if ref.isdigit() else None)
        )
        if mid is None or (ref != "@original" and mid not in rec.message_ids):
            raise DiscordError(404, 10008, "Unknown Message")
        msg = self.world.find_message(mid)
        if msg is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return rec, self._interaction_channel(rec), msg

    async def h_webhook_get_message(self, ctx: Ctx) -> Reply:
        return Reply(body=self._webhook_message(ctx)[2])

    async def h_webhook_edit_message(self, ctx: Ctx) -> Reply:
        _, ch, msg = self._webhook_message(ctx)
        return Reply(body=await self._edit_message(ch, msg, ctx.body, ctx.req.files))

    async def h_webhook_delete_message(self, ctx: Ctx) -> Reply:
        _, ch, msg = self._webhook_message(ctx)
        await self._delete_message(ch, int(msg["id"]))
        return Reply(204)

    # --- channels & messages
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
            raise _invalid_form(
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
            raise _invalid_form(
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

    # --- guilds
    async def h_get_guild(self, ctx: Ctx) -> Reply:
        g = self._guild(ctx.id("guild_id"))
        data = payloads.guild_create(self.world, g)
        for key in (
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "member_count",
        ):
            data.pop(key, None)
        return Reply(body=data)

    async def h_guild_channels(self, ctx: Ctx) -> Reply:
        g = self._guild(ctx.id("guild_id"))
        return Reply(body=[payloads.channel(c) for c in g.live_channels()])

    async def h_guild_roles(self, ctx: Ctx) -> Reply:
        g = self._guild(ctx.id("guild_id"))
        return Reply(body=[payloads.role(r) for r in g.roles.values()])

    async def h_guild_member(self, ctx: Ctx) -> Reply:
        g = self._guild(ctx.id("guild_id"))
        uid = ctx.id("user_id")
        m = g.members.get(uid)
        if m is None:
            raise DiscordError(404, 10007, "Unknown Member")
        return Reply(body=payloads.member(m, self.world.users.get(uid)))
