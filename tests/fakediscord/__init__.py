"""A local fake Discord (REST API v10 + gateway) for end-to-end tests of discord.py bots.

The real ``discord.Client`` runs unchanged — its HTTP client, rate-limit handling, gateway
websocket (zlib-stream compression, heartbeats, RESUME) and interaction plumbing all talk
to an aiohttp server on 127.0.0.1. Nothing leaves the machine.

Starting it
===========
In pytest (fixtures live in :mod:`tests.fakediscord.fixtures`, registered for every test
module by ``pytest_plugins`` in ``tests/conftest.py``)::

    async def test_paper(fake_discord, connect_client):
        bot = await connect_client(MyBot())          # logged in, READY, guild cached
        pending = await fake_discord.send_slash_command("paper", [option("query", "bert")])
        req = await pending.wait_callback()          # the POST .../callback request
        assert req.json["type"] == 4

``fake_discord_options`` (a fixture returning ``FakeDiscord`` kwargs) can be overridden or
parametrized, e.g. ``@pytest.mark.parametrize("fake_discord_options",
[{"heartbeat_interval_ms": 50}])``.

Without pytest::

    async with FakeDiscord() as server:
        with patch_discord(server):                  # Route.BASE + DEFAULT_GATEWAY
            async with running_client(bot, server):
                ...

``patch_discord`` sets ``discord.http.Route.BASE`` to ``server.api_url`` and
``DiscordWebSocket.DEFAULT_GATEWAY`` to ``server.gateway_url`` and restores both on exit.
discord.py 2.7 does not call GET /gateway for a plain Client (it uses DEFAULT_GATEWAY with
``?v=10&encoding=json&compress=zlib-stream``); AutoShardedClient calls GET /gateway/bot,
which the fake serves. ``start_client``/``running_client``/``connect_client`` shorten discord.py's
2 s ``guild_ready_timeout`` to 0.05 s (pass ``guild_ready_timeout=None`` to keep it).
discord.py sleeps 5 s before a *re*-IDENTIFY (``Client.before_identify_hook``); override
that hook in tests that invalidate sessions.

``FakeDiscord(world=None, *, token=..., heartbeat_interval_ms=41250, rate_limits=None,
interaction_ack_deadline=3.0, echo_events=True, guilds_per_shard=1000,
max_concurrency=1, max_guilds_per_shard=2500, identify_interval=None)``.

Shards: GET /gateway/bot recommends ``ceil(servers / guilds_per_shard)`` shards and reports
``max_concurrency``; each IDENTIFY with ``shard [id, count]`` gets READY and GUILD_CREATE for
the servers with ``(guild_id >> 22) % count == id`` only; more than ``max_guilds_per_shard``
servers on one session is closed 4011 (Sharding required); with ``identify_interval`` set,
a second IDENTIFY in the same bucket (``id % max_concurrency``) within that many seconds
gets op 9 (counted in ``gateway.identify_rejections``). Events of a server (interactions
included) go to its shard's session; DMs to shard 0. ``world.add_guilds(n)`` adds n small
servers cheaply (10,000 in about 0.2 s) with ids spread over shards like real ones.

State: ``server.world``
=======================
:class:`~tests.fakediscord.world.World` — users, application, guilds, channels, messages,
registered commands; mutate it freely. ``World.default()`` has guild "Paper Club" with
``#general`` and ``#papers`` (bot may post), ``#announcements`` (overwrite denies the bot
SEND_MESSAGES → 403/50013), ``#mod-only`` (no VIEW_CHANNEL → 403/50001), ``#old-papers``
(deleted → 404/10003), users ``paperbot`` (bot), ``alice`` (owner), ``bob``, ``carol``
(moderator, refuses DMs → 403/50007). Helpers: ``world.channel("general")``,
``world.user("bob")``, ``world.add_text_channel(...)``, ``world.add_role(...)``,
``world.deny_bot(channel, Perm.EMBED_LINKS)``, ``world.deny(channel, "bob" | role,
Perm.SEND_MESSAGES)`` (a member or role overwrite), ``world.bot_permissions(channel)``.
Permissions follow Discord's overwrite algorithm; REST answers 50001/50013/10003/10008/
50006/50035/40060/10062 like Discord. Without EMBED_LINKS embeds are silently dropped.
Server helpers: ``messages(channel)`` (stored history, oldest first),
``post_user_message(channel, content, user=...)`` (store + MESSAGE_CREATE),
``delete_channel(channel)``, ``notify_channel_update(channel)``, ``remove_bot(guild)`` (the
bot kicked: GUILD_DELETE without ``unavailable``, its REST there answers 403/50001),
``guild_outage(guild)`` / ``end_outage(guild)`` (GUILD_DELETE ``unavailable: true``, later
GUILD_CREATE), ``delete_role(role)`` (GUILD_ROLE_DELETE; members and overwrites lose it).

Recording & waiting
===================
Every REST request becomes a :class:`RecordedRequest` in ``server.requests`` (method, API
path, query, headers, raw body, parsed ``json`` — for multipart the ``payload_json`` part —
``files``, matched ``route``, ``status``, ``response``, ``response_headers``, ``injected``).

* ``server.requests_for(method, path)`` — ``path`` may be a template
  (``"/channels/{id}/messages"``; ``{x}`` = one segment), a concrete path or a regex;
  method ``"*"`` matches any.
* ``await server.wait_for_request(method, path, timeout=5, since=0, predicate=None)`` and
  ``wait_for_requests(method, path, count, ...)``; ``server.mark()`` gives a ``since``.
* ``server.unhandled_requests`` / ``assert_no_unhandled_requests()`` — routes the fake does
  not implement are answered 404 (or 405) ``{"message": "404: Not Found", "code": 0}``.
* ``server.internal_errors`` — crashes inside the fake (the fixture fails the test).

Failure injection
=================
``server.inject(method, path, *responses, times=1, predicate=None) -> Injection`` queues
:class:`~tests.fakediscord.ratelimit.FakeResponse` objects, consumed FIFO by matching
requests (``injection.hits``, ``injection.exhausted``). Builders in ``ratelimit``:
``rate_limited(retry_after, scope=, is_global=)`` (JSON body + ``Retry-After``,
``X-RateLimit-*``, ``X-RateLimit-Scope``/``-Global``, and the ``Via`` header discord.py
requires before it retries a 429), ``cloudflare_ban()`` (HTML 429 without Via — discord.py
raises), ``server_error(500|502|503|504)``, ``discord_error(status, code, message)``.
Shortcuts: ``rate_limit_next(...)`` and ``fail_next(method, path, status=500, code=None)``.
``FakeResponse(..., passthrough=True)`` performs the real side effect first (e.g. a 502
*after* the message was created).

Rate limits: every normal response carries ``X-RateLimit-Limit/Remaining/Reset/
Reset-After/Bucket`` from real fixed-window buckets keyed by route + major parameter.
``RateLimitConfig(default_bucket=BucketSpec(50, 1.0), buckets={...},
enforce_buckets=True, global_limit=None, enforce_global=False)``;
``DISCORD_LIKE_BUCKETS`` approximates Discord's per-route shapes. ``server.limiter.stats``
counts requests, bucket/global violations, 429s sent and the peak requests/second.
Interaction callbacks and webhook follow-ups are exempt from the global limit.

Gateway (``server.gateway``)
============================
HELLO (``heartbeat_interval_ms``) → IDENTIFY → READY (session_id, resume_gateway_url
pointing at ``/gateway-resume``, user, application, unavailable guilds, ``shard`` when
sharded) → GUILD_CREATE per guild. Heartbeats are ACKed (``gateway.ack_heartbeats =
False`` simulates a zombie link). RESUME replays every missed dispatch then sends RESUMED;
unknown/invalidated sessions get op 9.
Close codes as Discord: 4001 unknown opcode, 4002 decode error, 4003 not authenticated,
4004 bad token, 4005 already authenticated, 4007 invalid seq, 4010 invalid shard, 4014
disallowed intents (when ``gateway.allowed_privileged_intents`` is set).

* ``await server.dispatch(event, data, guild_id=None, intent=None)`` — any event to every
  live session (queued for disconnected ones, so it is replayed on RESUME).
* ``await server.drop_gateway(mode="close"|"abort"|"reconnect"|"invalid_session",
  code=4000, resumable=True)``.
* ``gateway.identify_count``, ``resume_count``, ``heartbeat_count``, ``frames`` (every
  payload both ways as :class:`~tests.fakediscord.gateway.GatewayFrame`),
  ``frames_in(op)``, ``dispatched(event)``, ``connections`` (path, query, close code),
  ``sessions``; ``await gateway.wait_for(op=, event=, direction=, since=, timeout=)``.

With ``echo_events=True`` REST side effects are dispatched like Discord does
(MESSAGE_CREATE/UPDATE/DELETE respecting GUILD_MESSAGES/DIRECT_MESSAGES intents, content
blanked without MESSAGE_CONTENT for other users' messages, THREAD_CREATE);
``delete_channel`` sends CHANNEL_DELETE.

Interactions
============
``send_slash_command(name, options, channel="general", user="alice")``,
``send_autocomplete(name, options)``, ``click_button(message, custom_id, user=)``,
``choose_select(message, custom_id, values)``, ``submit_modal(custom_id, values)`` build
the payload from the world (member + permissions string, ``app_permissions``, channel,
command id and ``data.guild_id`` from what the bot synced, ``resolved`` for user/channel/
role options), dispatch INTERACTION_CREATE and return a :class:`PendingInteraction`:
``await p.wait_callback()``, ``p.wait_followup(since=)``, ``p.wait_edit()``,
``p.original_message``, ``p.response_type``, ``p.payload``. Raw payloads: the builders in
:mod:`tests.fakediscord.payloads` (``slash_command``, ``autocomplete``, ``button_click``,
``string_select``, ``modal_submit``, ``option``, ``focused``, ``subcommand``,
``subcommand_group``) + ``server.dispatch_interaction(payload)``.

``send_message_command(name, message, user=)`` runs a message context-menu command; the
target travels whole in ``data.resolved.messages``, content included (Discord sends it even
without the MESSAGE_CONTENT intent).

Installs and contexts: each interaction carries ``context`` (0 server, 1 the bot's DM, 2
other DMs and group DMs) and ``authorizing_integration_owners`` built from the world: ``"0"``
when the server installed the app (``FakeGuild.applications_commands_scope``; ``"0"`` in the
bot's DM), ``"1"`` when the user did (``FakeUser.app_installed``), kept only for the install
types the synced command declares; a command its ``contexts``/``integration_types`` rule out
raises :class:`~tests.fakediscord.interactions.CommandUnavailable` (Discord would not offer it).
``app_permissions`` are the bot's where it is present, else @everyone's there plus
ATTACH_FILES | EMBED_LINKS | MENTION_EVERYONE. ``world.add_guild(name, owner=, members=,
channel=, bot=False, app_installed=None)`` makes a server the bot user is not in (no
GUILD_CREATE, no events), ``world.add_private_channel(*users, name=)`` a DM between users or
a group DM, ``world.bot_dm(user)`` the DM with the bot.

Callbacks are validated (type allowed for the interaction type, 3 s ack deadline →
10062, second ack → 40060, message/autocomplete/modal bodies). ``?with_response=1``
(discord.py ≥ 2.5 always sends it) returns the interaction-callback-response JSON
(``interaction`` + ``resource.message``); without it 204. Deferred responses create a
loading message that the first follow-up or PATCH @original fills in. Follow-ups and
GET/PATCH/DELETE ``/webhooks/{app}/{token}/messages/@original|{id}`` are supported.

Known limitations
=================
The fake serves what PaperBot and its tests use, nothing more. REST: the bot user, users,
opening a DM, a server's member, application info, GET /gateway/bot, listing and bulk
overwriting application commands, a channel, its history (``before``/``after``), posting
messages, a thread on a message, interaction callbacks and webhook follow-ups; any other
route answers 404 and is listed in ``server.unhandled_requests`` (no GET /gateway, single
command CRUD, fetching/editing/deleting channel messages, replies, threads without a
message, typing, reactions, GET /guilds/...). Gateway: REQUEST_GUILD_MEMBERS is accepted
but never answered (no member chunks). No voice, stage, forum posts, polls beyond storage,
audit logs, guild management, bans, invites, scheduled events, presence fan-out,
stickers/emoji CRUD; mentions are parsed from content but pings are not delivered
anywhere. zstd-stream is answered with plain text frames. Slowmode is not enforced. The
fake is single-process and trusts the token only.

Layout: :mod:`.server` (``FakeDiscord``, put together from :mod:`.recording`,
:mod:`.rest`, :mod:`.messages`, :mod:`.channels`, :mod:`.webhooks`, :mod:`.application`,
:mod:`.users` and :mod:`.interactions`), :mod:`.gateway`, :mod:`.world`, :mod:`.payloads`,
:mod:`.validation`, :mod:`.ratelimit`, :mod:`.client`, :mod:`.fixtures`.
"""

from .client import patch_discord, running_client, start_client, stop_client
from .gateway import GatewayFrame, Op
from .interactions import CommandUnavailable, PendingInteraction
from .ratelimit import (
    DISCORD_LIKE_BUCKETS,
    BucketSpec,
    FakeResponse,
    RateLimitConfig,
    cloudflare_ban,
    discord_error,
    rate_limited,
    server_error,
)
from .recording import RecordedFile, RecordedRequest
from .rest import DiscordError
from .server import FakeDiscord
from .world import Perm, World

__all__ = [
    "DISCORD_LIKE_BUCKETS",
    "BucketSpec",
    "CommandUnavailable",
    "DiscordError",
    "FakeDiscord",
    "FakeResponse",
    "GatewayFrame",
    "Op",
    "PendingInteraction",
    "Perm",
    "RateLimitConfig",
    "RecordedFile",
    "RecordedRequest",
    "World",
    "cloudflare_ban",
    "discord_error",
    "patch_discord",
    "rate_limited",
    "running_client",
    "server_error",
    "start_client",
    "stop_client",
]
