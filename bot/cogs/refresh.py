"""The background refresher: every ``PAPERBOT_REFRESH_MINUTES``, import new papers from the
enabled live sources, then send keyword alerts about them.

Started when the extension loads (a :func:`discord.ext.tasks.loop`, as discord.py's
``background_task.py`` example does), it waits until the bot is ready, survives any exception
(logged, retried at the next interval) and stops with the bot.

Several bot processes (``PAPERBOT_SHARDS``) share one database, and the refresh and the
alerts must run once, not once per process: one process is elected through the lease
``refresher`` in the database. Its holder renews it every minute (it lasts three); the others
look every minute and take over within three minutes of the holder stopping (at once when it
shuts down cleanly). Alerts go out through Discord's REST API, so the elected process
reaches every server, not only those on its shards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import aiohttp
from discord.ext import commands, tasks

from bot.cogs.alerts import DiscordAlertSender
from bot.fetch.alerts import AlertRunReport, deliver_alerts
from bot.fetch.http import new_session
from bot.fetch.refresh import RefreshReport, run_refresh

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

FIRST_RUN_DELAY = 30.0  # seconds after ready: let start-up (command sync, data load) settle
LEADER_LEASE = "refresher"
LEADER_TTL = timedelta(minutes=3)
HEARTBEAT = 60.0  # seconds between renewals of the lease (and tries to take it over)


class RefreshCog(commands.Cog):
    """The refresher: a :func:`discord.ext.tasks.loop` that beats every *heartbeat* seconds.
    Each beat takes or renews the lease; the leader runs the refresh when *interval* seconds
    have passed since its last run. The beat never raises (a failed run is logged and tried
    again after *interval*), so the loop cannot die on an error."""

    def __init__(
        self,
        bot: PaperBot,
        *,
        first_delay: float = FIRST_RUN_DELAY,
        heartbeat: float = HEARTBEAT,
        leader_ttl: timedelta = LEADER_TTL,
        interval: float | None = None,
    ) -> None:
        self.bot = bot
        self.first_delay = first_delay
        self.heartbeat = heartbeat
        self.leader_ttl = leader_ttl
        self.interval = (
            interval if interval is not None else bot.settings.refresh_interval_minutes * 60.0
        )
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading = False
        self.session: aiohttp.ClientSession | None = None
        self.lock = asyncio.Lock()
        self.runs = 0
        self.failures = 0
        self.next_run = 0.0  # event-loop time of the next run (0: at the first beat it leads)
        self.beat.change_interval(seconds=heartbeat)

    async def cog_load(self) -> None:
        settings = self.bot.settings
        if not settings.refresh_enabled:
            log.info("live refresh is off (PAPERBOT_REFRESH=false)")
            return
        if not (settings.refresh_hf or settings.refresh_arxiv):
            log.info("live refresh has no source enabled; alerts still run on new papers")
        self.start()

    def start(self) -> None:
        """Start beating (after the bot is ready and *first_delay* seconds)."""
        if self.session is None:
            self.session = new_session()
        if not self.beat.is_running():
            self.beat.start()

    async def cog_unload(self) -> None:
        task = self.beat.get_task()
        self.beat.cancel()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.resign()
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def lead(self) -> bool:
        """Take or renew the refresher lease; whether this process is the refresher now."""
        try:
            leading = await self.bot.store.leases.acquire(
                LEADER_LEASE, self.owner, ttl=self.leader_ttl, now=datetime.now(UTC)
            )
        except Exception:
            log.exception("could not renew the refresher lease")
            leading = False
        if leading != self.leading:
            if leading:
                log.info("this process now runs the refresh and the alerts (%s)", self.owner)
            else:
                log.info("another process runs the refresh and the alerts")
        self.leading = leading
        return leading

    async def resign(self) -> None:
        """Give the lease up (shutting down): another process takes over at its next look."""
        if not self.leading:
            return
        self.leading = False
        with contextlib.suppress(Exception):
            await self.bot.store.leases.release(LEADER_LEASE, self.owner)

    @tasks.loop(seconds=HEARTBEAT)
    async def beat(self) -> None:
        loop = asyncio.get_running_loop()
        if not await self.lead() or loop.time() < self.next_run:
            return
        # Keep the lease while a run takes longer than its lifetime.
        renewer = asyncio.create_task(self._keep_leading(), name="refresher-lease")
        try:
            await self.run_once()
        except Exception:
            self.failures += 1
            log.exception("refresh run failed; trying again in %d min", self.interval // 60)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        self.next_run = loop.time() + self.interval

    @beat.before_loop
    async def _before_first_beat(self) -> None:
        await self.bot.wait_until_ready()
        await asyncio.sleep(self.first_delay)
        log.info("live refresh every %d min", self.interval // 60)

    async def _keep_leading(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self.lead()

    async def run_once(
        self, *, due_only: bool = True
    ) -> tuple[list[RefreshReport], AlertRunReport] | None:
        """One refresh of the due sources, then one round of alerts. Never overlaps itself,
        nor a run of another process: None when another process is the refresher."""
        async with self.lock:
            if not await self.lead():
                log.debug("the refresh and the alerts run in another process")
                return None
            self.runs += 1
            store, settings = self.bot.store, self.bot.settings
            reports = await run_refresh(store, settings, session=self.session, due_only=due_only)
            if any(r.new or r.updated for r in reports):
                # New papers and fresh upvotes count for /trending and today's daily pick now,
                # not when the ranked pool's cache expires.
                self.bot.trends.invalidate()
                self.bot.vectors.wake()  # the new papers get their vectors now
            alerts = await deliver_alerts(
                store, DiscordAlertSender(self.bot), daily_cap=settings.alerts_daily_cap
            )
            return reports, alerts


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(RefreshCog(bot))
