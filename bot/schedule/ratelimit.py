"""A token bucket shared by every request the daily runner makes to Discord.

Discord allows 50 requests per second per bot across all routes (the "global" limit).
discord.py honours per-route buckets and reacts to a global 429, but it does not pace itself
below the global limit; 10,000 posts due in the same minute would hit it head-on. The runner
therefore takes a token before each request: at most ``burst + rate`` requests in any one
second, FIFO, and :meth:`penalize` stops everyone for a server-given ``retry_after``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """``rate`` tokens per second, holding at most ``burst``. Not thread-safe (one loop)."""

    def __init__(
        self,
        rate: float = 40.0,
        burst: int = 5,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = monotonic()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.acquired = 0
        self.waited = 0.0

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
        self._last = now

    async def acquire(self) -> None:
        """Wait for a token (callers are served in arrival order)."""
        async with self._lock:
            while True:
                now = self._monotonic()
                if now < self._paused_until:
                    await self._pause(self._paused_until - now)
                    continue
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    self.acquired += 1
                    return
                await self._pause((1.0 - self._tokens) / self.rate)

    async def _pause(self, seconds: float) -> None:
        self.waited += seconds
        await self._sleep(seconds)

    def penalize(self, retry_after: float) -> None:
        """Discord said "global rate limit, retry after N s": nobody sends until then."""
        now = self._monotonic()
        self._paused_until = max(self._paused_until, now + max(0.0, retry_after))
        self._refill(now)
        self._tokens = 0.0
