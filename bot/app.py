"""The bot: a ``commands.AutoShardedBot`` subclass that owns start-up.

Resources (settings, the opened store) are created by the launcher (``bot/__main__.py``) and
handed in. ``setup_hook`` loads an explicit list of extensions, registers the persistent card
buttons and syncs the command tree only when it changed since the last sync.

Shards: by default one process runs the number of shards Discord recommends (GET
/gateway/bot); ``PAPERBOT_SHARD_COUNT`` fixes the total and ``PAPERBOT_SHARDS`` the ids this
process runs, so several processes can share the servers (and the database). Every IDENTIFY
is paced through the database (:mod:`bot.identify`), across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot import reach
from bot.config import Settings
from bot.identify import IDENTIFY_INTERVAL, IdentifyPacer
from bot.interactions import report_command_error
from bot.models import Paper
from bot.schedule.leased import Clock
from bot.search import SearchEngine
from bot.semantic.keeper import VectorKeeper
from bot.semantic.search import MeaningIndex
from bot.shards import ShardClaim, format_shard_ids
from bot.store import Store
from bot.store.leases import Lease
from bot.trending import NO_SERVER, Trending

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "bot.views",  # the cards' persistent buttons (registered, not a cog)
    "bot.cogs.search",
    "bot.cogs.finder",
    "bot.cogs.papers",
    "bot.cogs.alerts",
    "bot.cogs.refresh",
    "bot.cogs.daily",
    "bot.cogs.foryou",
)


# Buttons of views that live in one process only (the /search pager, /foryou forget's
# confirmation): after a restart, or once the view is gone, nothing else answers them.
EXPIRED_COMPONENTS: dict[str, str] = {
    "pb:search:": "These results have expired (they last 10 minutes, and PaperBot may have "
    "restarted). Run `/search` again.",
    "pb:forget:": "This question has expired: nothing was deleted. Run `/foryou forget` again.",
}
EXPIRED_GRACE = 2.0  # seconds a live view has to answer first (Discord allows 3)

PROCESS_TTL = timedelta(minutes=3)  # a process's claim on its shards, renewed every minute
PROCESS_HEARTBEAT = 60.0


class ShardsTaken(Exception):
    """Another live PaperBot process on this database runs (some of) the same shards."""


def _is_stale(owner: str) -> bool:
    """Whether a claim's *owner* (``host:pid:...``) is a process that is gone: one of this
    machine whose pid no longer runs, or this very process (an earlier bot object, or a
    container restarted with the same pid). A claim from elsewhere only ends by expiring."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class PaperTree(app_commands.CommandTree["PaperBot"]):
    """The command tree with one error handler for everything a cog did not handle."""

    async def on_error(
        self, interaction: discord.Interaction[PaperBot], error: app_commands.AppCommandError
    ) -> None:
        await report_command_error(interaction, error)


class PaperBot(commands.AutoShardedBot):
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        auto_sync: bool = True,
        clock: Clock | None = None,
        identify_interval: float = IDENTIFY_INTERVAL,
        **options: Any,
    ) -> None:
        intents = discord.Intents.none()
        intents.guilds = True  # channels and permissions; no privileged intents
        if settings.shard_count is not None:
            options.setdefault("shard_count", settings.shard_count)
        if settings.shard_ids is not None:
            options.setdefault("shard_ids", list(settings.shard_ids))
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=PaperTree,
            # A command is a server command unless it says otherwise (bot.reach.everywhere).
            allowed_installs=reach.server_only_installs(),
            allowed_contexts=reach.server_only_contexts(),
            **options,
        )
        self.settings = settings
        self.identify_pacer = IdentifyPacer(store.leases, interval=identify_interval)
        self._limits_checked = False
        self._logged_in = False
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.shard_claim = ShardClaim(settings.shard_count, settings.shard_ids)
        self._claim_task: asyncio.Task[None] | None = None
        self._claim_lost: ShardsTaken | None = None
        self._closing_on_loss: asyncio.Task[None] | None = None
        self.store = store
        self.search = SearchEngine(store.db)
        # Search by meaning joins when the model and the stored vectors are loaded.
        self.vectors = VectorKeeper(store, enabled=settings.semantic)
        # The trending ranking, cached: /trending, /paper, the web site, For you, daily posts.
        self.trends = Trending(store.signals, store.social, self.topic_matches)
        self.auto_sync = auto_sync
        self.clock = clock  # the daily scheduler's clock; None = the system clock
        self._warm_task: asyncio.Task[None] | None = None

    async def setup_hook(self) -> None:
        await self.load_extensions()
        if self.auto_sync:
            try:
                await self.sync_commands(force=False)
            except discord.HTTPException:
                # The bot still works with the commands Discord already has; the hash is only
                # stored after a successful sync, so the next start tries again.
                log.exception("syncing application commands failed")
        # Fill the search vocabulary and the trending pool while the gateway connects, so the
        # first autocomplete on a large store does not pay for them inside its 3 s.
        self._warm_task = asyncio.create_task(self.warm_caches(), name="warm-caches")
        self.vectors.start(self._attach_meaning)

    def _attach_meaning(self, meaning: MeaningIndex) -> None:
        self.search.meaning = meaning

    async def warm_caches(self) -> None:
        started = time.perf_counter()
        try:
            await self.search.warm()
            await self.trends.ranked_for_guild(NO_SERVER, datetime.now(UTC), 1)
        except Exception:
            log.exception("warming the search and trending caches failed; they fill on first use")
        else:
            log.info("search and trending caches ready in %.2fs", time.perf_counter() - started)

    # -- one process per shard ----------------------------------------------------------

    async def claim_shards(self) -> None:
        """Tell the other processes on the database which shards this one runs; raise
        :class:`ShardsTaken` when a live one already runs some of them (both would answer
        every interaction of those servers)."""
        mine = self.shard_claim
        reasons: dict[str, str] = {}

        def conflicts(lease: Lease) -> bool:
            other = ShardClaim.parse(lease.info)
            if other is None or _is_stale(lease.owner):
                return False
            why = mine.conflict(other)
            if why is not None:
                reasons[lease.owner] = f"{why} ({other.label} there)"
            return why is not None

        held = await self.store.leases.register(
            f"process:{self.process_id}",
            self.process_id,
            ttl=PROCESS_TTL,
            now=datetime.now(UTC),
            info=mine.text,
            prefix="process:",
            conflicts=conflicts,
        )
        if held is not None:
            host, _, rest = held.owner.partition(":")
            raise ShardsTaken(
                f"another PaperBot process (pid {rest.partition(':')[0]} on {host}) uses this "
                f"database and {reasons.get(held.owner, 'runs the same shards')}; give each "
                "process its own PAPERBOT_SHARDS range of the same PAPERBOT_SHARD_COUNT"
            )

    async def connect(self, *, reconnect: bool = True) -> None:
        # Only a process that connects to the gateway runs shards (not `sync`).
        await self.claim_shards()
        if self._claim_task is None:
            self._claim_task = asyncio.create_task(self._keep_claim(), name="shard-claim")
        await super().connect(reconnect=reconnect)
        if self._claim_lost is not None:
            # Stopped because another process runs these shards now: say so, as at start.
            raise self._claim_lost

    async def _keep_claim(self) -> None:
        while True:
            await asyncio.sleep(PROCESS_HEARTBEAT)
            try:
                await self.claim_shards()
            except ShardsTaken as exc:
                # Our claim lapsed (the database was locked, the machine slept) and another
                # process claimed the shards meanwhile: it runs them now, so this one stops
                # (two processes answering the same servers would answer everything twice).
                log.error("%s; this process stops", exc)
                self._claim_lost = exc
                self._closing_on_loss = asyncio.create_task(self.close(), name="shards-lost")
                return
            except Exception:
                log.exception("could not renew this process's claim on its shards")

    async def _release_claim(self) -> None:
        task, self._claim_task = self._claim_task, None
        if task is not None:
            if self._claim_lost is not None:
                return  # never ours again: the other process holds the shards
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            with contextlib.suppress(Exception):
                await self.store.leases.release(f"process:{self.process_id}", self.process_id)

    async def close(self) -> None:
        await self._release_claim()
        task = self._warm_task
        if task is not None and not task.done():
            # Let the warm-up finish (seconds at most): cancelling it would leave its reader
            # thread's connection open while the store closes.
            done, _ = await asyncio.wait({task}, timeout=10)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.vectors.stop()
        await self.search.close()
        if self._logged_in:
            await super().close()
            return
        # Never logged in (``sync --dry-run``): discord.py's AutoShardedClient.close() needs
        # the event queue that login creates. Unload what was loaded, close the plain client.
        for extension in tuple(self.extensions):
            with contextlib.suppress(Exception):
                await self.unload_extension(extension)
        for cog in tuple(self.cogs):
            with contextlib.suppress(Exception):
                await self.remove_cog(cog)
        await discord.Client.close(self)

    async def login(self, token: str) -> None:
        self._logged_in = True
        await super().login(token)

    async def load_extensions(self) -> None:
        for extension in EXTENSIONS:
            if extension in self.extensions:
                continue
            try:
                await self.load_extension(extension)
            except Exception:
                log.exception("failed to load extension %s; the others still load", extension)

    # -- shared queries used by several cogs ----------------------------------------------

    async def trending(self, guild_id: int | None, limit: int) -> list[Paper]:
        """The top papers for a server (its own votes count), best first (bot.ranking)."""
        ranked = await self.trends.ranked_for_guild(guild_id or NO_SERVER, datetime.now(UTC), limit)
        return await self.store.papers.get_by_pids([s.pid for s in ranked])

    async def topic_matches(self, topic: str, limit: int) -> list[str]:
        """Ids of papers matching a daily-post topic, best first."""
        return await self.search.candidates(topic, limit)

    def gateway_connected(self) -> bool:
        """Whether the Discord gateway is up right now (for the web site's /healthz): every
        shard of this process connected."""
        if not self.is_ready() or self.is_closed():
            return False
        shards = self.shards
        return bool(shards) and not any(info.is_closed() for info in shards.values())

    async def on_ready(self) -> None:
        # May fire many times (reconnects): log only, no one-time set-up here.
        user = self.user
        log.info(
            "ready as %s (%s) in %d server(s) on %s",
            user,
            user.id if user else "?",
            len(self.guilds),
            self.shard_label,
        )

    async def on_interaction(self, interaction: discord.Interaction[PaperBot]) -> None:
        """Answer a click on an expired view's button (nothing else would: "This interaction
        failed") with a private line saying what to do."""
        if interaction.type is not discord.InteractionType.component:
            return
        data: dict[str, Any] = dict(interaction.data or {})
        custom_id = str(data.get("custom_id", ""))
        text = next((t for p, t in EXPIRED_COMPONENTS.items() if custom_id.startswith(p)), None)
        if text is None:
            return
        await asyncio.sleep(EXPIRED_GRACE)
        if interaction.response.is_done():
            return  # the live view answered
        with contextlib.suppress(discord.HTTPException):
            await interaction.response.send_message(text, ephemeral=True)

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info(
            "shard %d of %s ready: %d server(s)",
            shard_id,
            self.shard_count,
            sum(1 for g in self.guilds if g.shard_id == shard_id),
        )

    # -- shards -------------------------------------------------------------------------

    @property
    def shard_label(self) -> str:
        """``shards 0-3 of 8`` (those this process runs), for logs."""
        count = self.shard_count or 0
        ids = tuple(self.shard_ids) if self.shard_ids is not None else tuple(range(count))
        if not ids:
            return "no shard yet"
        return f"shards {format_shard_ids(ids)} of {count}"

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Pace IDENTIFY by Discord's rule, across every process on the database."""
        if not self._limits_checked and (self.shard_count or 1) > 1:
            # Several shards: learn how many may start together (large bots: 16 and more).
            self._limits_checked = True
            try:
                limits = await self.fetch_session_start_limits()
            except (discord.HTTPException, discord.GatewayNotFound, aiohttp.ClientError):
                log.warning("could not read the session start limits; one IDENTIFY per 5 s")
            else:
                self.identify_pacer.max_concurrency = max(1, limits.max_concurrency)
                log.info(
                    "session starts: %d left of %d, %d at once",
                    limits.remaining,
                    limits.total,
                    limits.max_concurrency,
                )
        await self.identify_pacer.wait(shard_id, initial=initial)

    # -- command sync -------------------------------------------------------------------

    def command_payload(self, guild: discord.abc.Snowflake | None = None) -> list[dict[str, Any]]:
        """The JSON Discord receives when the tree is synced (for --dry-run and the hash)."""
        commands_ = self.tree.get_commands(guild=guild)
        return [cmd.to_dict(self.tree) for cmd in commands_]

    def command_hash(self, guild: discord.abc.Snowflake | None = None) -> str:
        payload = json.dumps(self.command_payload(guild), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()

    async def sync_commands(self, *, force: bool = False) -> bool:
        """Sync the tree if it changed since the last sync (hash kept in the database).

        With a development guild configured, commands are copied to and synced in that guild,
        where they appear at once. Returns whether a sync was sent.
        """
        guild = discord.Object(self.settings.dev_guild_id) if self.settings.dev_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        key = f"command_hash:{guild.id if guild else 'global'}"
        digest = self.command_hash(guild)
        if not force and await self.store.meta.get(key) == digest:
            log.info("application commands unchanged since the last sync; not syncing")
            return False
        synced = await self.tree.sync(guild=guild)
        await self.store.meta.set(key, digest)
        log.info(
            "synced %d application command(s) %s",
            len(synced),
            f"to guild {guild.id}" if guild else "globally",
        )
        return True
