"""Discord's IDENTIFY rate limit, kept by every process that shares the database.

Discord lets a bot start ``max_concurrency`` gateway sessions per 5 seconds: shard ``i`` is
in bucket ``i % max_concurrency`` and each bucket may IDENTIFY once per 5 s (a faster one is
refused with "invalid session" and costs a retry). discord.py paces a single process with a
plain 5 s sleep; several shard processes on one machine must also keep out of each other's
way. So each IDENTIFY first takes the lease ``identify:<bucket>`` in the shared database
(:class:`bot.store.leases.LeaseRepo`) for 5 s, and waits while another holds it.

No discord.py here: :class:`PaperBot` calls :meth:`IdentifyPacer.wait` from its
``before_identify_hook``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bot.store import StoreError
from bot.store.leases import LeaseRepo

log = logging.getLogger(__name__)

IDENTIFY_INTERVAL = 5.0  # seconds between two IDENTIFYs of one bucket (Discord's rule)
MARGIN = 0.1  # kept on top of the interval


def _utcnow() -> datetime:
    return datetime.now(UTC)


class IdentifyPacer:
    def __init__(
        self,
        leases: LeaseRepo,
        *,
        interval: float = IDENTIFY_INTERVAL,
        now: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.leases = leases
        self.interval = interval
        self.max_concurrency = 1  # until Discord says more (GET /gateway/bot)
        self._now = now
        self._sleep = sleep
        self._process = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._attempts = itertools.count(1)
        self.waited = 0.0  # seconds spent waiting for a bucket (for logs and benchmarks)

    def bucket(self, shard_id: int | None) -> int:
        return (shard_id or 0) % max(1, self.max_concurrency)

    async def wait(self, shard_id: int | None, *, initial: bool = False) -> None:
        """Return when shard *shard_id* may IDENTIFY (its bucket's lease is taken)."""
        name = f"identify:{self.bucket(shard_id)}"
        # A fresh owner per IDENTIFY: two shards of this process in one bucket wait too.
        owner = f"{self._process}:{shard_id}:{next(self._attempts)}"
        # A tenth more than the interval: between taking the lease and Discord receiving the
        # IDENTIFY there is a busy event loop (the previous shard's servers arriving) and the
        # network; a next IDENTIFY sent right on the interval could arrive a little early.
        ttl = timedelta(seconds=self.interval * (1 + MARGIN))
        while True:
            now = self._now()
            try:
                if await self.leases.acquire(name, owner, ttl=ttl, now=now):
                    return
                held = await self.leases.holder(name)
            except StoreError:
                # The database is busy for a long time: pace this process alone, as
                # discord.py does (the first IDENTIFY goes at once).
                log.warning("cannot pace IDENTIFY through the database; waiting locally")
                if not initial:
                    self.waited += self.interval
                    await self._sleep(self.interval)
                return
            delay = (held.until - now).total_seconds() if held is not None else 0.0
            delay = min(max(delay, 0.01), self.interval * (1 + MARGIN))
            log.debug("shard %s waits %.2f s to IDENTIFY (bucket %s)", shard_id, delay, name)
            self.waited += delay
            await self._sleep(delay)
