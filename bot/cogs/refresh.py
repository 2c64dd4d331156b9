"""The background refresher: every ``PAPERBOT_REFRESH_MINUTES``, import new papers from the
enabled live sources, then send keyword alerts about them.

Started when the extension loads, it waits until the bot is ready, survives any exception
(logged, retried at the next tick) and stops with the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import aiohttp
from discord.ext import commands

from bot.cogs.alerts import DiscordAlertSender
from bot.fetch.alerts import AlertRunReport, deliver_alerts
from bot.fetch.http import new_session
from bot.fetch.refresh import RefreshReport, run_refresh

if TYPE_CHECKING:
    from bot.app import PaperBot

log = logging.getLogger(__name__)

FIRST_RUN_DELAY = 30.0  # seconds after ready: let start-up (command sync, data load) settle


class RefreshCog(commands.Cog):
    def __init__(self, bot: PaperBot, *, first_delay: float = FIRST_RUN_DELAY) -> None:
        self.bot = bot
        self.first_delay = first_delay
        self.session: aiohttp.ClientSession | None = None
        self.task: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()
        self.runs = 0

    async def cog_load(self) -> None:
        settings = self.bot.settings
        if not settings.refresh_enabled:
            log.info("live refresh is off (PAPERBOT_REFRESH=false)")
            return
        if not (settings.refresh_hf or settings.refresh_arxiv):
            log.info("live refresh has no source enabled; alerts still run on new papers")
        self.session = new_session()
        self.task = asyncio.create_task(self._loop(), name="paperbot-refresh")

    async def cog_unload(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def _loop(self) -> None:
        await self.bot.wait_until_ready()
        await asyncio.sleep(self.first_delay)
        interval = self.bot.settings.refresh_interval_minutes * 60
        log.info("live refresh every %d min", self.bot.settings.refresh_interval_minutes)
        while not self.bot.is_closed():
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("refresh run failed; trying again in %d min", interval // 60)
            await asyncio.sleep(interval)

    async def run_once(
        self, *, due_only: bool = True
    ) -> tuple[list[RefreshReport], AlertRunReport]:
        """One refresh of the due sources, then one round of alerts. Never overlaps itself."""
        async with self.lock:
            self.runs += 1
            store, settings = self.bot.store, self.bot.settings
            reports = await run_refresh(store, settings, session=self.session, due_only=due_only)
            if any(r.new or r.updated for r in reports):
                # New papers and fresh upvotes count for /trending and today's daily pick now,
                # not when the ranked pool's cache expires.
                self.bot.picker.invalidate()
                self.bot.vectors.wake()  # the new papers get their vectors now
            alerts = await deliver_alerts(
                store, DiscordAlertSender(self.bot), daily_cap=settings.alerts_daily_cap
            )
            return reports, alerts


async def setup(bot: PaperBot) -> None:
    await bot.add_cog(RefreshCog(bot))
