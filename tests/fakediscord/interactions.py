"""Driving interactions like a Discord user: build the payload from the world (member,
permissions, installs and contexts, resolved options, the synced command's id), dispatch
INTERACTION_CREATE and hand back a :class:`PendingInteraction` to wait on.

The answers the bot sends (callbacks, follow-ups) are served by :mod:`.webhooks`.
"""

# The wait helpers deliberately take `timeout=` (their documented API).
# ruff: noqa: ASYNC109

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import payloads
from .payloads import InteractionContext, OptionType
from .recording import RecordedRequest
from .rest import RestApi
from .world import FakeChannel, FakeGuild, FakeUser, IntegrationType, InteractionContextType

if TYPE_CHECKING:
    from .server import FakeDiscord

JSON = dict[str, Any]


class CommandUnavailable(ValueError):
    """A test tried to run a command where Discord's client would not offer it (its
    ``contexts`` or ``integration_types`` rule the place or the install out)."""


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


@dataclass(slots=True)
class Answer:
    """A command's answer (:meth:`PendingInteraction.wait_answer`)."""

    body: JSON  # what the bot sent: embeds, components, flags, allowed_mentions...
    message: JSON  # the message the fake created from it (for clicking its buttons)
    deferred: bool  # acknowledged first ("thinking…"), then followed up


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

    async def wait_answer(self, timeout: float = 5.0) -> Answer:
        """The command's answer, whether it came as the response itself (type 4) or as the
        follow-up after a deferral (type 5): the message body the bot sent and the message
        the fake made of it."""
        callback = await self.wait_callback(timeout=timeout)
        body = callback.json or {}
        if body.get("type") == payloads.CallbackType.CHANNEL_MESSAGE_WITH_SOURCE:
            message = self.original_message
            assert message is not None, "an immediate answer makes the original message"
            return Answer(body.get("data") or {}, message, deferred=False)
        followup = await self.wait_followup(timeout=timeout)
        return Answer(followup.json or {}, followup.response or {}, deferred=True)

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


class InteractionDriver(RestApi):
    """``send_slash_command``, ``click_button``... (a part of ``FakeDiscord``)."""

    interactions: dict[int, InteractionRecord]

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
