"""Mutable state of the fake Discord: users, the application, guilds, channels, messages.

Everything here is plain data plus the permission algorithm Discord documents
(base permissions from roles, then channel overwrites: @everyone, roles, member).
The server turns these objects into wire payloads with :mod:`tests.fakediscord.payloads`.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntFlag
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000


class Perm(IntFlag):
    """Discord permission bits (subset that bots care about, values are exact)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    MANAGE_WEBHOOKS = 1 << 29
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40
    SEND_POLLS = 1 << 49
    USE_EXTERNAL_APPS = 1 << 50


ALL_PERMISSIONS = (1 << 51) - 1

#: What @everyone gets in a freshly created Discord server (close to the real default).
DEFAULT_EVERYONE = (
    Perm.CREATE_INSTANT_INVITE
    | Perm.ADD_REACTIONS
    | Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CONNECT
    | Perm.SPEAK
    | Perm.CHANGE_NICKNAME
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.CREATE_PUBLIC_THREADS
    | Perm.CREATE_PRIVATE_THREADS
    | Perm.SEND_MESSAGES_IN_THREADS
    | Perm.SEND_POLLS
    | Perm.USE_EXTERNAL_APPS
)


class Intent(IntFlag):
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    DIRECT_MESSAGES = 1 << 12
    MESSAGE_CONTENT = 1 << 15


PRIVILEGED_INTENTS = Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GROUP_DM = 3
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    GUILD_FORUM = 15


THREAD_TYPES = (ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD)
PRIVATE_TYPES = (ChannelType.DM, ChannelType.GROUP_DM)


class InteractionContextType:
    """Where an interaction happens (Discord's ``context`` field)."""

    GUILD = 0
    BOT_DM = 1  # the DM between a user and the app's bot user
    PRIVATE_CHANNEL = 2  # group DMs, and DMs between users


class IntegrationType:
    """How the app was installed (keys of ``authorizing_integration_owners``)."""

    GUILD_INSTALL = 0
    USER_INSTALL = 1


#: What ``app_permissions`` always holds where the app has no bot user present (DMs between
#: users, group DMs, servers without the bot): an interaction response may embed and attach.
RESPONSE_PERMISSIONS = int(Perm.ATTACH_FILES | Perm.EMBED_LINKS | Perm.MENTION_EVERYONE)


class SnowflakeGenerator:
    """Real, time-ordered snowflakes (discord.py derives message age from them)."""

    def __init__(self, worker: int = 1, process: int = 0) -> None:
        self._lock = threading.Lock()
        self._increment = itertools.count()
        self._worker = worker & 0x1F
        self._process = process & 0x1F
        self._last = 0

    def next(self, at_ms: int | None = None) -> int:
        with self._lock:
            ms = int(time.time() * 1000) if at_ms is None else at_ms
            value = (
                ((ms - DISCORD_EPOCH_MS) << 22)
                | (self._worker << 17)
                | (self._process << 12)
                | (next(self._increment) & 0xFFF)
            )
            # Keep ids strictly increasing even if the counter wraps inside one millisecond.
            if value <= self._last and at_ms is None:
                value = self._last + 1
            self._last = max(self._last, value)
            return value


def snowflake_time_ms(snowflake: int) -> int:
    return (snowflake >> 22) + DISCORD_EPOCH_MS


@dataclass
class FakeUser:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    avatar: str | None = None
    #: When False, POST /channels/{dm}/messages answers 403 code 50007.
    accepts_dms: bool = True
    #: The user installed the app to their account: its user-install commands follow them
    #: into DMs, group DMs and servers without the bot.
    app_installed: bool = False


@dataclass
class FakeRole:
    id: int
    name: str
    permissions: int
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    #: For a bot's managed role, the bot user id (``tags.bot_id``).
    bot_id: int | None = None


@dataclass
class Overwrite:
    """A permission overwrite; ``type`` is 0 for a role and 1 for a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


@dataclass
class FakeChannel:
    id: int
    name: str
    type: int = ChannelType.GUILD_TEXT
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    overwrites: list[Overwrite] = field(default_factory=list)
    nsfw: bool = False
    rate_limit_per_user: int = 0
    last_message_id: int | None = None
    #: Deleted channels answer 404 Unknown Channel (10003) and vanish from GUILD_CREATE.
    deleted: bool = False
    #: DM channels: the other user (a DM with the bot) or both users (a DM between users);
    #: group DMs: every member.
    recipients: list[int] = field(default_factory=list)
    #: Threads only.
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    message_count: int = 0
    create_timestamp: str | None = None

    @property
    def is_thread(self) -> bool:
        return self.type in THREAD_TYPES

    @property
    def is_private(self) -> bool:
        return self.type in PRIVATE_TYPES

    @property
    def is_bot_dm(self) -> bool:
        """A DM with the bot (its one recipient is the other user)."""
        return self.type == ChannelType.DM and len(self.recipients) == 1


@dataclass
class FakeMember:
    user_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: str = "2024-01-01T00:00:00.000000+00:00"


@dataclass
class FakeGuild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, FakeRole] = field(default_factory=dict)
    channels: dict[int, FakeChannel] = field(default_factory=dict)
    members: dict[int, FakeMember] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    preferred_locale: str = "en-US"
    #: When True the guild is listed in READY but no GUILD_CREATE is sent (outage).
    unavailable: bool = False
    #: False = bot was invited without ``applications.commands``: guild command
    #: routes answer 403 Missing Access (50001).
    applications_commands_scope: bool = True

    @property
    def everyone(self) -> FakeRole:
        return self.roles[self.id]

    def live_channels(self) -> list[FakeChannel]:
        return [c for c in self.channels.values() if not c.deleted and not c.is_thread]

    def live_threads(self) -> list[FakeChannel]:
        return [
            c for c in self.channels.values() if not c.deleted and c.is_thread and not c.archived
        ]


@dataclass
class FakeApplication:
    id: int
    name: str
    owner_id: int
    flags: int = 0
    description: str = ""
    verify_key: str = "0" * 64


def base_permissions(guild: FakeGuild, member: FakeMember) -> int:
    if member.user_id == guild.owner_id:
        return ALL_PERMISSIONS
    perms = guild.everyone.permissions
    for role_id in member.roles:
        role = guild.roles.get(role_id)
        if role is not None:
            perms |= role.permissions
    if perms & Perm.ADMINISTRATOR:
        return ALL_PERMISSIONS
    return perms


def channel_permissions(guild: FakeGuild, member: FakeMember, channel: FakeChannel) -> int:
    """Discord's documented algorithm, including the implicit denials for text channels."""
    perms = base_permissions(guild, member)
    if perms & Perm.ADMINISTRATOR:
        return ALL_PERMISSIONS
    target = channel
    if channel.is_thread and channel.parent_id is not None and channel.parent_id in guild.channels:
        target = guild.channels[channel.parent_id]
    overwrites = {(o.type, o.id): o for o in target.overwrites}
    everyone = overwrites.get((0, guild.id))
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.roles:
        ow = overwrites.get((0, role_id))
        if ow is not None:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    mine = overwrites.get((1, member.user_id))
    if mine is not None:
        perms = (perms & ~mine.deny) | mine.allow
    if not perms & Perm.VIEW_CHANNEL:
        return 0
    if not perms & Perm.SEND_MESSAGES:
        perms &= ~(
            Perm.SEND_TTS_MESSAGES | Perm.MENTION_EVERYONE | Perm.EMBED_LINKS | Perm.ATTACH_FILES
        )
    return perms


@dataclass
class World:
    """All state of the fake. Tests may mutate it freely before or while a client runs."""

    bot: FakeUser
    application: FakeApplication
    users: dict[int, FakeUser] = field(default_factory=dict)
    guilds: dict[int, FakeGuild] = field(default_factory=dict)
    #: DM channels by id (guild channels live in their guild).
    dm_channels: dict[int, FakeChannel] = field(default_factory=dict)
    #: channel id -> message id -> message payload (insertion order = chronological).
    messages: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)
    #: ephemeral messages are not in channel history; message id -> payload.
    ephemeral_messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    #: (guild id or None) -> command name/type -> stored command.
    commands: dict[int | None, dict[tuple[str, int], dict[str, Any]]] = field(default_factory=dict)
    snowflakes: SnowflakeGenerator = field(default_factory=SnowflakeGenerator)

    # ----------------------------------------------------------------- lookups
    @property
    def guild(self) -> FakeGuild:
        """The first guild (the default world has exactly one)."""
        return next(iter(self.guilds.values()))

    def user(self, ref: int | str) -> FakeUser:
        if isinstance(ref, int):
            return self.users[ref]
        for u in self.users.values():
            if u.username == ref:
                return u
        raise KeyError(ref)

    def channel(self, ref: int | str) -> FakeChannel:
        """Find a channel (guild channel, thread or DM) by id or by name; deleted included."""
        for ch in self.iter_channels():
            if (isinstance(ref, int) and ch.id == ref) or (isinstance(ref, str) and ch.name == ref):
                return ch
        raise KeyError(ref)

    def find_channel(self, channel_id: int) -> FakeChannel | None:
        for ch in self.iter_channels():
            if ch.id == channel_id:
                return ch
        return None

    def iter_channels(self) -> Iterator[FakeChannel]:
        for g in self.guilds.values():
            yield from g.channels.values()
        yield from self.dm_channels.values()

    def guild_of(self, channel: FakeChannel) -> FakeGuild | None:
        return None if channel.guild_id is None else self.guilds.get(channel.guild_id)

    def role(self, ref: int | str, guild: FakeGuild | None = None) -> FakeRole:
        g = guild or self.guild
        for r in g.roles.values():
            if (isinstance(ref, int) and r.id == ref) or r.name == ref:
                return r
        raise KeyError(ref)

    def permissions_for(self, user_id: int, channel: FakeChannel) -> int:
        """Effective permissions of ``user_id`` in ``channel`` (DMs: a fixed sensible set)."""
        guild = self.guild_of(channel)
        if guild is None:
            return int(
                Perm.VIEW_CHANNEL
                | Perm.SEND_MESSAGES
                | Perm.EMBED_LINKS
                | Perm.ATTACH_FILES
                | Perm.READ_MESSAGE_HISTORY
                | Perm.ADD_REACTIONS
                | Perm.USE_EXTERNAL_EMOJIS
                | Perm.USE_APPLICATION_COMMANDS
            )
        member = guild.members.get(user_id)
        if member is None:
            return 0
        return channel_permissions(guild, member, channel)

    def bot_permissions(self, channel: FakeChannel) -> int:
        return self.permissions_for(self.bot.id, channel)

    def bot_present(self, channel: FakeChannel) -> bool:
        """Whether the bot user is in *channel*: a member of its guild, or its DM partner.
        (An app installed to a user's account reaches channels where it is not.)"""
        guild = self.guild_of(channel)
        if guild is not None:
            return self.bot.id in guild.members
        return channel.is_bot_dm

    def app_permissions(self, channel: FakeChannel) -> int:
        """The ``app_permissions`` of an interaction in *channel*, as Discord computes them:
        the bot's own where it is present; elsewhere what @everyone may do there (in a
        server) plus :data:`RESPONSE_PERMISSIONS`."""
        if self.bot_present(channel):
            return self.bot_permissions(channel)
        guild = self.guild_of(channel)
        if guild is None:
            return RESPONSE_PERMISSIONS
        everyone = channel_permissions(guild, FakeMember(user_id=0), channel)
        return everyone | RESPONSE_PERMISSIONS

    def find_message(self, message_id: int) -> dict[str, Any] | None:
        for msgs in self.messages.values():
            if message_id in msgs:
                return msgs[message_id]
        return self.ephemeral_messages.get(message_id)

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages of a channel, oldest first."""
        return list(self.messages.get(channel_id, {}).values())

    # --------------------------------------------------------------- builders
    def add_user(self, username: str, *, bot: bool = False, **kwargs: Any) -> FakeUser:
        user = FakeUser(id=self.snowflakes.next(), username=username, bot=bot, **kwargs)
        self.users[user.id] = user
        return user

    def add_role(
        self, name: str, permissions: int = 0, guild: FakeGuild | None = None, **kwargs: Any
    ) -> FakeRole:
        g = guild or self.guild
        position = kwargs.pop(
            "position", max((r.position for r in g.roles.values()), default=0) + 1
        )
        role = FakeRole(
            id=self.snowflakes.next(),
            name=name,
            permissions=int(permissions),
            position=position,
            **kwargs,
        )
        g.roles[role.id] = role
        return role

    def add_text_channel(
        self,
        name: str,
        guild: FakeGuild | None = None,
        *,
        overwrites: Iterable[Overwrite] = (),
        parent_id: int | None = None,
        **kwargs: Any,
    ) -> FakeChannel:
        g = guild or self.guild
        if parent_id is None:
            parent_id = next(
                (c.id for c in g.channels.values() if c.type == ChannelType.GUILD_CATEGORY), None
            )
        channel = FakeChannel(
            id=self.snowflakes.next(),
            name=name,
            guild_id=g.id,
            position=len(g.channels),
            parent_id=parent_id,
            overwrites=list(overwrites),
            **kwargs,
        )
        g.channels[channel.id] = channel
        return channel

    def add_guild(
        self,
        name: str,
        *,
        owner: FakeUser,
        members: Iterable[FakeUser] = (),
        channel: str,
        bot: bool = False,
        app_installed: bool | None = None,
    ) -> FakeGuild:
        """A server with @everyone (Discord's defaults) and one text channel named *channel*.

        *bot*: the bot user is a member (it gets GUILD_CREATE). *app_installed* (default: as
        *bot*): the app is installed to the server, so its guild-install commands are there
        even without the bot user (``authorizing_integration_owners`` has key ``"0"``).
        """
        guild = FakeGuild(id=self.snowflakes.next(), name=name, owner_id=owner.id)
        guild.roles[guild.id] = FakeRole(
            id=guild.id, name="@everyone", permissions=int(DEFAULT_EVERYONE)
        )
        guild.applications_commands_scope = bot if app_installed is None else app_installed
        self.guilds[guild.id] = guild
        for user in (owner, *members):
            guild.members[user.id] = FakeMember(user_id=user.id)
        if bot:
            guild.members[self.bot.id] = FakeMember(user_id=self.bot.id)
        self.add_text_channel(channel, guild)
        return guild

    def bot_dm(self, user: FakeUser) -> FakeChannel:
        """The DM between *user* and the bot (created like POST /users/@me/channels does)."""
        for channel in self.dm_channels.values():
            if channel.is_bot_dm and channel.recipients == [user.id]:
                return channel
        channel = FakeChannel(
            id=self.snowflakes.next(), name="", type=ChannelType.DM, recipients=[user.id]
        )
        self.dm_channels[channel.id] = channel
        return channel

    def add_private_channel(self, *users: FakeUser, name: str | None = None) -> FakeChannel:
        """A DM between two users (not the bot), or a group DM of three or more (*name*)."""
        if len(users) < 2 or any(u.id == self.bot.id for u in users):
            raise ValueError("a private channel needs two or more users, the bot not among them")
        kind = ChannelType.DM if len(users) == 2 and name is None else ChannelType.GROUP_DM
        channel = FakeChannel(
            id=self.snowflakes.next(),
            name=name or "",
            type=kind,
            recipients=[u.id for u in users],
            owner_id=users[0].id,
        )
        self.dm_channels[channel.id] = channel
        return channel

    def deny_bot(self, channel: FakeChannel | str | int, permissions: int) -> None:
        """Add a member overwrite denying ``permissions`` to the bot in ``channel``."""
        self.deny(channel, self.bot, permissions)

    def deny(
        self,
        channel: FakeChannel | str | int,
        target: FakeUser | FakeRole | str,
        permissions: int,
    ) -> None:
        """Deny ``permissions`` in ``channel`` to a member (a user, or a username) or a role,
        with an overwrite (merged into an existing one for the same target)."""
        ch = channel if isinstance(channel, FakeChannel) else self.channel(channel)
        who = self.user(target) if isinstance(target, str) else target
        kind = 0 if isinstance(who, FakeRole) else 1
        for ow in ch.overwrites:
            if ow.type == kind and ow.id == who.id:
                ow.deny |= int(permissions)
                ow.allow &= ~int(permissions)
                return
        ch.overwrites.append(Overwrite(id=who.id, type=kind, deny=int(permissions)))

    def add_guilds(
        self,
        count: int,
        *,
        channels: int = 2,
        roles: int = 0,
        owner: FakeUser | None = None,
        seed: int = 1,
        start_ms: int = 1_640_995_200_000,
    ) -> list[FakeGuild]:
        """Add *count* small servers cheaply (thousands per second): ``@everyone``, the bot's
        managed role, *roles* more plain roles, the bot and *owner* (default: alice) as
        members, *channels* text channels ``papers-0``... the bot may post in.

        Server ids are snowflakes a random 1-2,000 ms apart from *start_ms* (2022-01-01), so
        they spread over shards the way real ids do (shard = ``(id >> 22) % count``).
        """
        rng = random.Random(seed)
        who = owner or self.user("alice")
        ids = SnowflakeGenerator(worker=3)
        posting = int(
            Perm.VIEW_CHANNEL
            | Perm.SEND_MESSAGES
            | Perm.SEND_MESSAGES_IN_THREADS
            | Perm.CREATE_PUBLIC_THREADS
            | Perm.EMBED_LINKS
            | Perm.READ_MESSAGE_HISTORY
        )
        made: list[FakeGuild] = []
        at = start_ms
        start = len(self.guilds)
        for n in range(count):
            at += rng.randint(1, 2000)
            gid = ids.next(at)
            guild = FakeGuild(id=gid, name=f"Server {start + n}", owner_id=who.id)
            guild.roles[gid] = FakeRole(id=gid, name="@everyone", permissions=int(DEFAULT_EVERYONE))
            role = FakeRole(
                id=ids.next(at),
                name="PaperBot",
                permissions=posting,
                position=1,
                managed=True,
                bot_id=self.bot.id,
            )
            guild.roles[role.id] = role
            for i in range(roles):
                extra = FakeRole(id=ids.next(at), name=f"role-{i}", permissions=0, position=2 + i)
                guild.roles[extra.id] = extra
            for i in range(channels):
                cid = ids.next(at)
                guild.channels[cid] = FakeChannel(
                    id=cid, name=f"papers-{i}", guild_id=gid, position=i
                )
            guild.members[self.bot.id] = FakeMember(user_id=self.bot.id, roles=[role.id])
            guild.members[who.id] = FakeMember(user_id=who.id)
            self.guilds[gid] = guild
            made.append(guild)
        return made

    @classmethod
    def default(cls) -> World:
        """One guild "Paper Club" with a realistic layout.

        Channels: category ``Text Channels``; ``#general`` and ``#papers`` (bot can post);
        ``#announcements`` (@everyone may read but the bot lacks SEND_MESSAGES);
        ``#mod-only`` (the bot lacks VIEW_CHANNEL); ``#old-papers`` (deleted → 10003).
        Users: ``paperbot`` (the bot, id == application id), ``alice`` (guild owner),
        ``bob`` (plain member), ``carol`` (has the Moderator role, no DMs accepted).
        """
        base_ms = 1_704_067_200_000  # 2024-01-01T00:00:00Z: stable ids across runs
        gen = SnowflakeGenerator(worker=2)
        ids = (gen.next(base_ms + i) for i in itertools.count())

        bot = FakeUser(id=next(ids), username="paperbot", global_name="PaperBot", bot=True)
        alice = FakeUser(id=next(ids), username="alice", global_name="Alice")
        bob = FakeUser(id=next(ids), username="bob", global_name="Bob")
        carol = FakeUser(id=next(ids), username="carol", global_name="Carol", accepts_dms=False)
        app = FakeApplication(id=bot.id, name="PaperBot", owner_id=alice.id, flags=0)
        guild_id = next(ids)
        guild = FakeGuild(id=guild_id, name="Paper Club", owner_id=alice.id)
        guild.roles[guild_id] = FakeRole(
            id=guild_id, name="@everyone", permissions=int(DEFAULT_EVERYONE)
        )
        bot_role = FakeRole(
            id=next(ids),
            name="PaperBot",
            permissions=int(
                Perm.VIEW_CHANNEL
                | Perm.SEND_MESSAGES
                | Perm.SEND_MESSAGES_IN_THREADS
                | Perm.CREATE_PUBLIC_THREADS
                | Perm.EMBED_LINKS
                | Perm.ATTACH_FILES
                | Perm.READ_MESSAGE_HISTORY
                | Perm.ADD_REACTIONS
                | Perm.USE_EXTERNAL_EMOJIS
                | Perm.MANAGE_THREADS
            ),
            position=2,
            managed=True,
            bot_id=bot.id,
        )
        mod_role = FakeRole(
            id=next(ids),
            name="Moderator",
            permissions=int(Perm.MANAGE_MESSAGES | Perm.MANAGE_GUILD | Perm.MODERATE_MEMBERS),
            position=1,
            hoist=True,
        )
        guild.roles[bot_role.id] = bot_role
        guild.roles[mod_role.id] = mod_role
        category = FakeChannel(
            id=next(ids),
            name="Text Channels",
            type=ChannelType.GUILD_CATEGORY,
            guild_id=guild_id,
            position=0,
        )
        general = FakeChannel(
            id=next(ids),
            name="general",
            guild_id=guild_id,
            position=1,
            parent_id=category.id,
            topic="Chat",
        )
        papers = FakeChannel(
            id=next(ids),
            name="papers",
            guild_id=guild_id,
            position=2,
            parent_id=category.id,
            topic="Share papers here",
        )
        announcements = FakeChannel(
            id=next(ids),
            name="announcements",
            guild_id=guild_id,
            position=3,
            parent_id=category.id,
            overwrites=[
                Overwrite(id=guild_id, type=0, deny=int(Perm.SEND_MESSAGES)),
                Overwrite(id=mod_role.id, type=0, allow=int(Perm.SEND_MESSAGES)),
            ],
        )
        mod_only = FakeChannel(
            id=next(ids),
            name="mod-only",
            guild_id=guild_id,
            position=4,
            parent_id=category.id,
            overwrites=[
                Overwrite(id=guild_id, type=0, deny=int(Perm.VIEW_CHANNEL)),
                Overwrite(id=mod_role.id, type=0, allow=int(Perm.VIEW_CHANNEL)),
            ],
        )
        old = FakeChannel(
            id=next(ids),
            name="old-papers",
            guild_id=guild_id,
            position=5,
            parent_id=category.id,
            deleted=True,
        )
        for ch in (category, general, papers, announcements, mod_only, old):
            guild.channels[ch.id] = ch
        guild.members[bot.id] = FakeMember(user_id=bot.id, roles=[bot_role.id])
        guild.members[alice.id] = FakeMember(user_id=alice.id)
        guild.members[bob.id] = FakeMember(user_id=bob.id)
        guild.members[carol.id] = FakeMember(user_id=carol.id, roles=[mod_role.id])
        world = cls(bot=bot, application=app)
        for u in (bot, alice, bob, carol):
            world.users[u.id] = u
        world.guilds[guild.id] = guild
        return world
