"""What the web handlers share: the store, the search engine, the trending ranking, settings.

Built by the launcher (``python -m bot run`` hands in the bot's own engine and ranking, so the
site and the bot share their caches; ``python -m bot web`` builds its own) and kept on the
application under :data:`CONTEXT`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from bot.config import Settings
from bot.search import SearchEngine
from bot.store import Store
from bot.trending import Trending

T = TypeVar("T")

# "Is the bot's Discord gateway connected?" None: no bot in this process (python -m bot web).
GatewayCheck = Callable[[], bool]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Cached(Generic[T]):
    """One value computed at most every *ttl* seconds (store counts on the home page: a
    count over a million rows costs more than the rest of the page)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._value: T | None = None
        self._at = 0.0

    async def get(self, compute: Callable[[], Awaitable[T]]) -> T:
        now = self.clock()
        if self._value is None or now - self._at >= self.ttl:
            self._value = await compute()
            self._at = now
        return self._value


@dataclass(slots=True)
class WebContext:
    store: Store
    search: SearchEngine
    trends: Trending
    settings: Settings
    gateway: GatewayCheck | None = None
    now: Callable[[], datetime] = _utc_now
    monotonic: Callable[[], float] = time.monotonic
    home_cache: Cached[object] = field(default_factory=lambda: Cached(30.0))

    @property
    def base_url(self) -> str:
        return self.settings.web_url.rstrip("/")

    @property
    def root(self) -> str:
        """The path prefix the site is served under ('' at the root of its host)."""
        return urlsplit(self.base_url).path.rstrip("/")


CONTEXT = web.AppKey("paperbot.context", WebContext)
