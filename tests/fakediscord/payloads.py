"""Builders for Discord wire payloads (API v10 JSON shapes).

Two layers:

* object payloads built from :mod:`tests.fakediscord.world` objects (``user``, ``member``,
  ``role``, ``channel``, ``guild_create``, ``message``), used by the server itself;
* interaction payloads (``slash_command``, ``button_click``, ``string_select``,
  ``autocomplete``, ``modal_submit``) built from an :class:`InteractionContext`, plus the
  option helpers ``option``, ``subcommand``, ``subcommand_group`` and ``focused``.

Usually you do not call the interaction builders directly: ``FakeDiscord.send_slash_command``
and friends fill the context (guild, channel, member, permissions, command id) from the
world and dispatch the event. Call them directly to craft odd payloads.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .world import (
    ChannelType,
    FakeApplication,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    SnowflakeGenerator,
    World,
    snowflake_time_ms,
)

JSON = dict[str, Any]

#: Shared generator for ids minted by builders (interaction ids, ...).
SNOWFLAKES = SnowflakeGenerator(worker=3)

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024


class InteractionType:
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    APPLICATION_COMMAND_AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType:
    PONG = 1
    CHANNEL_MESSAGE_WITH_SOURCE = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
    MODAL = 9
    PREMIUM_REQUIRED = 10
    LAUNCH_ACTIVITY = 12


class OptionType:
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


class ComponentType:
    ACTION_ROW = 1
    BUTTON = 2
    STRING_SELECT = 3
    TEXT_INPUT = 4
    USER_SELECT = 5
    ROLE_SELECT = 6
    MENTIONABLE_SELECT = 7
    CHANNEL_SELECT = 8


class MessageFlag:
    CROSSPOSTED = 1 << 0
    SUPPRESS_EMBEDS = 1 << 2
    HAS_THREAD = 1 << 5
    EPHEMERAL = 1 << 6
    LOADING = 1 << 7
    SUPPRESS_NOTIFICATIONS = 1 << 12
    IS_COMPONENTS_V2 = 1 << 15


def snowflake() -> int:
    return SNOWFLAKES.next()


def iso(when: dt.datetime | None = None) -> str:
    """ISO-8601 timestamp the way Discord writes it (microseconds, +00:00)."""
    when = when or dt.datetime.now(dt.UTC)
    return when.astimezone(dt.UTC).isoformat(timespec="microseconds")


def iso_from_snowflake(value: int) -> str:
    return iso(dt.datetime.fromtimestamp(snowflake_time_ms(value) / 1000, dt.UTC))


def new_token() -> str:
    """Interaction tokens are long opaque strings."""
    return "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)


# --------------------------------------------------------------------- objects
def user(u: FakeUser) -> JSON:
    data: JSON = {
        "id": str(u.id),
        "username": u.username,
        "discriminator": "0",
        "global_name": u.global_name,
        "avatar": u.avatar,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "primary_guild": None,
    }
    if u.bot:
        data["bot"] = True
    return data


def member(m: FakeMember, u: FakeUser | None, *, permissions: int | None = None) -> JSON:
    """A guild member; ``user`` is omitted when ``u`` is None (as inside MESSAGE_CREATE)."""
    data: JSON = {
        "nick": m.nick,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in m.roles],
        "joined_at": m.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
        "unusual_dm_activity_until": None,
    }
    if u is not None:
        data["user"] = user(u)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def role(r: FakeRole) -> JSON:
    data: JSON = {
        "id": str(r.id),
        "name": r.name,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": r.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        data["tags"] = {"bot_id": str(r.bot_id)}
    return data


def channel(
    c: FakeChannel,
    *,
    include_guild_id: bool = True,
    permissions: int | None = None,
    recipients: Sequence[FakeUser] = (),
) -> JSON:
    """A channel object (guild channel, thread or DM)."""
    if c.type in (ChannelType.DM, ChannelType.GROUP_DM):
        private: JSON = {
            "id": str(c.id),
            "type": c.type,
            "last_message_id": None if c.last_message_id is None else str(c.last_message_id),
            "flags": 0,
            "recipients": [user(u) for u in recipients],
        }
        if c.type == ChannelType.GROUP_DM:
            private.update(name=c.name or None, icon=None, owner_id=str(c.owner_id or 0))
        if permissions is not None:
            private["permissions"] = str(permissions)
        return private
    data: JSON = {
        "id": str(c.id),
        "type": c.type,
        "name": c.name,
        "flags": 0,
    }
    if include_guild_id and c.guild_id is not None:
        data["guild_id"] = str(c.guild_id)
    if c.is_thread:
        data.update(
            {
                "parent_id": None if c.parent_id is None else str(c.parent_id),
                "owner_id": str(c.owner_id or 0),
                "last_message_id": None if c.last_message_id is None else str(c.last_message_id),
                "rate_limit_per_user": c.rate_limit_per_user,
                "message_count": c.message_count,
                "member_count": 1,
                "total_message_sent": c.message_count,
                "thread_metadata": {
                    "archived": c.archived,
                    "auto_archive_duration": c.auto_archive_duration,
                    "archive_timestamp": c.create_timestamp or iso(),
                    "locked": c.locked,
                    "create_timestamp": c.create_timestamp or iso(),
                },
            }
        )
    else:
        data.update(
            {
                "position": c.position,
                "permission_overwrites": [
                    {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
                    for o in c.overwrites
                ],
                "parent_id": None if c.parent_id is None else str(c.parent_id),
                "nsfw": c.nsfw,
            }
        )
        if c.type != ChannelType.GUILD_CATEGORY:
            data.update(
                {
                    "topic": c.topic,
                    "last_message_id": None
                    if c.last_message_id is None
                    else str(c.last_message_id),
                    "rate_limit_per_user": c.rate_limit_per_user,
                    "default_auto_archive_duration": 1440,
                }
            )
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def guild_create(world: World, g: FakeGuild, *, bot_joined_at: str | None = None) -> JSON:
    """The full GUILD_CREATE payload for the bot."""
    members = [member(m, world.users.get(m.user_id)) for m in g.members.values()]
    me = g.members.get(world.bot.id)
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "icon_hash": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(g.owner_id),
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 1,
        "default_message_notifications": 1,
        "explicit_content_filter": 2,
        "roles": [role(r) for r in g.roles.values()],
        "emojis": [],
        "stickers": [],
        "features": list(g.features),
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "max_members": 500000,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "vanity_url_code": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": g.preferred_locale,
        "nsfw_level": 0,
        "nsfw": False,
        "hub_type": None,
        "latest_onboarding_question_id": None,
        "incidents_data": None,
        "home_header": None,
        "inventory_settings": None,
        "embedded_activities": [],
        "activity_instances": [],
        "application_command_counts": {},
        "version": 0,
        "lazy": True,
        "joined_at": bot_joined_at or (me.joined_at if me else iso()),
        "large": len(g.members) > 250,
        "unavailable": False,
        "member_count": len(g.members),
        "voice_states": [],
        "members": members,
        "channels": [channel(c, include_guild_id=False) for c in g.live_channels()],
        "threads": [channel(c) for c in g.live_threads()],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def application_info(app: FakeApplication, owner: FakeUser, bot: FakeUser) -> JSON:
    """GET /oauth2/applications/@me."""
    return {
        "id": str(app.id),
        "name": app.name,
        "icon": None,
        "description": app.description,
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": app.verify_key,
        "owner": user(owner),
        "flags": app.flags,
        "team": None,
        "bot": user(bot),
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "tags": [],
        "install_params": {"scopes": ["bot", "applications.commands"], "permissions": "0"},
        "integration_types_config": {"0": {}, "1": {}},
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
    }


def message(
    *,
    message_id: int,
    channel_id: int,
    author: FakeUser,
    content: str = "",
    guild_id: int | None = None,
    author_member: FakeMember | None = None,
    embeds: Sequence[JSON] = (),
    components: Sequence[JSON] = (),
    attachments: Sequence[JSON] = (),
    flags: int = 0,
    tts: bool = False,
    message_type: int = 0,
    nonce: str | int | None = None,
    webhook_id: int | None = None,
    application_id: int | None = None,
    interaction_metadata: JSON | None = None,
    mentions: Sequence[JSON] = (),
    mention_roles: Sequence[int] = (),
    mention_everyone: bool = False,
    poll: JSON | None = None,
) -> JSON:
    data: JSON = {
        "id": str(message_id),
        "type": message_type,
        "content": content,
        "channel_id": str(channel_id),
        "author": user(author),
        "attachments": list(attachments),
        "embeds": list(embeds),
        "mentions": list(mentions),
        "mention_roles": [str(r) for r in mention_roles],
        "pinned": False,
        "mention_everyone": mention_everyone,
        "tts": tts,
        "timestamp": iso_from_snowflake(message_id),
        "edited_timestamp": None,
        "flags": flags,
        "components": list(components),
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        if author_member is not None:
            data["member"] = member(author_member, None)
    if nonce is not None:
        data["nonce"] = nonce
    if webhook_id is not None:
        data["webhook_id"] = str(webhook_id)
    if application_id is not None:
        data["application_id"] = str(application_id)
    if interaction_metadata is not None:
        data["interaction_metadata"] = interaction_metadata
    if poll is not None:
        data["poll"] = poll
    return data


# ---------------------------------------------------------------- interactions
@dataclass
class InteractionContext:
    """Where an interaction happens and who triggers it."""

    application_id: int
    channel: JSON
    #: Guild member payload including ``permissions`` (guild interactions).
    member: JSON | None = None
    #: User payload (DM interactions; derived from ``member`` otherwise).
    user: JSON | None = None
    guild_id: int | None = None
    app_permissions: int = 0
    locale: str = "en-US"
    guild_locale: str | None = "en-US"
    guild_features: list[str] = field(default_factory=list)
    entitlements: list[JSON] = field(default_factory=list)
    #: Discord's ``context`` (0 server, 1 DM with the bot, 2 other DMs and group DMs) and
    #: ``authorizing_integration_owners`` ({"0": guild id or "0", "1": user id}); None: a
    #: server install in a server, the bot's DM otherwise.
    context: int | None = None
    owners: dict[str, str] | None = None


def option(name: str, value: Any, type: int | None = None) -> JSON:
    """A command option value; the type is inferred from ``value`` if not given."""
    if type is None:
        if isinstance(value, bool):
            type = OptionType.BOOLEAN
        elif isinstance(value, int):
            type = OptionType.INTEGER
        elif isinstance(value, float):
            type = OptionType.NUMBER
        else:
            type = OptionType.STRING
    return {"name": name, "type": type, "value": value}


def focused(name: str, value: str | int | float, type: int | None = None) -> JSON:
    """The option the user is typing in (for autocomplete)."""
    data = option(name, value, type)
    data["focused"] = True
    return data


def subcommand(name: str, options: Iterable[JSON] = ()) -> JSON:
    return {"name": name, "type": OptionType.SUB_COMMAND, "options": list(options)}


def subcommand_group(name: str, subcommands: Iterable[JSON]) -> JSON:
    return {"name": name, "type": OptionType.SUB_COMMAND_GROUP, "options": list(subcommands)}


def _base_interaction(
    ctx: InteractionContext,
    type_: int,
    data: JSON,
    *,
    interaction_id: int | None,
    token: str | None,
    message_payload: JSON | None = None,
) -> JSON:
    payload: JSON = {
        "id": str(interaction_id or snowflake()),
        "application_id": str(ctx.application_id),
        "type": type_,
        "data": data,
        "channel": ctx.channel,
        "channel_id": ctx.channel["id"],
        "token": token or new_token(),
        "version": 1,
        "app_permissions": str(ctx.app_permissions),
        "locale": ctx.locale,
        "entitlements": list(ctx.entitlements),
        "entitlement_sku_ids": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if ctx.guild_id is not None:
        payload["guild_id"] = str(ctx.guild_id)
        payload["guild"] = {
            "id": str(ctx.guild_id),
            "locale": ctx.guild_locale or "en-US",
            "features": list(ctx.guild_features),
        }
        payload["guild_locale"] = ctx.guild_locale
        payload["member"] = ctx.member
        payload["context"] = 0
        payload["authorizing_integration_owners"] = {"0": str(ctx.guild_id)}
    else:
        payload["user"] = ctx.user
        payload["context"] = 1
        payload["authorizing_integration_owners"] = {"0": "0"}
    if ctx.context is not None:
        payload["context"] = ctx.context
    if ctx.owners is not None:
        payload["authorizing_integration_owners"] = dict(ctx.owners)
    if message_payload is not None:
        payload["message"] = message_payload
    return payload


def slash_command(
    ctx: InteractionContext,
    name: str,
    options: Iterable[JSON] = (),
    *,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    command_type: int = 1,
    resolved: JSON | None = None,
    target_id: int | None = None,
    interaction_id: int | None = None,
    token: str | None = None,
) -> JSON:
    """INTERACTION_CREATE for an application command (type 2).

    ``command_guild_id`` must be set when the command is registered as a guild command;
    discord.py's CommandTree looks it up by that.
    """
    data: JSON = {
        "id": str(command_id or snowflake()),
        "name": name,
        "type": command_type,
    }
    opts = list(options)
    if opts:
        data["options"] = opts
    if command_guild_id is not None:
        data["guild_id"] = str(command_guild_id)
    if resolved:
        data["resolved"] = resolved
    if target_id is not None:
        data["target_id"] = str(target_id)
    return _base_interaction(
        ctx,
        InteractionType.APPLICATION_COMMAND,
        data,
        interaction_id=interaction_id,
        token=token,
    )


def message_command(
    ctx: InteractionContext,
    name: str,
    target: JSON,
    *,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    interaction_id: int | None = None,
    token: str | None = None,
) -> JSON:
    """INTERACTION_CREATE for a message context-menu command (command type 3) on *target*.

    The target message travels whole in ``data.resolved.messages``, its content included:
    Discord sends the content of a message command's target even to an app without the
    MESSAGE_CONTENT intent (unlike MESSAGE_CREATE, where it is blanked).
    """
    return slash_command(
        ctx,
        name,
        command_id=command_id,
        command_guild_id=command_guild_id,
        command_type=3,
        resolved={"messages": {str(target["id"]): target}},
        target_id=int(target["id"]),
        interaction_id=interaction_id,
        token=token,
    )


def autocomplete(
    ctx: InteractionContext,
    name: str,
    options: Iterable[JSON],
    *,
    command_id: int | None = None,
    command_guild_id: int | None = None,
    interaction_id: int | None = None,
    token: str | None = None,
) -> JSON:
    """INTERACTION_CREATE type 4; exactly one (possibly nested) option should be ``focused``."""
    payload = slash_command(
        ctx,
        name,
        options,
        command_id=command_id,
        command_guild_id=command_guild_id,
        interaction_id=interaction_id,
        token=token,
    )
    payload["type"] = InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE
    return payload


def button_click(
    ctx: InteractionContext,
    custom_id: str,
    *,
    message: JSON,
    interaction_id: int | None = None,
    token: str | None = None,
) -> JSON:
    """INTERACTION_CREATE type 3 for a button (component_type 2) on ``message``."""
    return _base_interaction(
        ctx,
        InteractionType.MESSAGE_COMPONENT,
        {"custom_id": custom_id, "component_type": ComponentType.BUTTON},
        interaction_id=interaction_id,
        token=token,
        message_payload=message,
    )


def string_select(
    ctx: InteractionContext,
    custom_id: str,
    values: Sequence[str],
    *,
    message: JSON,
    component_type: int = ComponentType.STRING_SELECT,
    resolved: JSON | None = None,
    interaction_id: int | None = None,
    token: str | None = None,
) -> JSON:
    """INTERACTION_CREATE type 3 for a select menu (string select by default)."""
    data: JSON = {"custom_id": custom_id, "component_type": component_type, "values": list(values)}
    if resolved:
        data["resolved"] = resolved
    return _base_interaction(
        ctx,
        InteractionType.MESSAGE_COMPONENT,
        data,
        interaction_id=interaction_id,
        token=token,
        message_payload=message,
    )


def modal_submit(
    ctx: InteractionContext,
    custom_id: str,
    values: Mapping[str, str],
    *,
    message: JSON | None = None,
    interaction_id: int | None = None,
    token: str | None = None,
) -> JSON:
    """INTERACTION_CREATE type 5: one action row with a text input per ``values`` item."""
    rows = [
        {
            "type": ComponentType.ACTION_ROW,
            "components": [{"type": ComponentType.TEXT_INPUT, "custom_id": k, "value": v}],
        }
        for k, v in values.items()
    ]
    return _base_interaction(
        ctx,
        InteractionType.MODAL_SUBMIT,
        {"custom_id": custom_id, "components": rows},
        interaction_id=interaction_id,
        token=token,
        message_payload=message,
    )


def error_body(code: int, message: str, errors: JSON | None = None) -> JSON:
    body: JSON = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return body
