"""What the pages and the API both ask of the core: parameters read with clear errors, the
store's counts, trending, search, a paper and its related papers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from aiohttp import web

from bot.models import Paper
from bot.search import SORTS, SearchResult, Sort
from bot.store.health import overview
from bot.trending import NO_SERVER
from bot.web.context import WebContext

log = logging.getLogger(__name__)

PAGE_SIZE = 10
MAX_PAGE = 100  # 1,000 results: as deep as the engine ranks (bot.search MAX_CANDIDATES)
MAX_LIMIT = 100
MAX_OFFSET = 1000
TRENDING_ON_HOME = 10
TRENDING_MAX = 50
RELATED = 5


class BadRequest(Exception):
    """A request parameter that cannot be used; the message says what would work."""

    status = 400


class NotFound(Exception):
    status = 404


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise BadRequest(
            f"{name} must be a whole number from {low} to {high}, not {_shown(raw)}"
        ) from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {value}")
    return value


def sort_param(request: web.Request) -> Sort:
    raw = (request.query.get("sort") or "relevance").strip().lower()
    if raw not in SORTS:
        raise BadRequest(f"sort must be one of {', '.join(SORTS)}, not {_shown(raw)}")
    return raw


def _shown(raw: str, limit: int = 40) -> str:
    """User text quoted for an error message, short (the message may be shown on a page,
    escaped there like everything else)."""
    text = "".join(ch if ch.isprintable() else "?" for ch in raw[: limit + 1])
    return repr(text if len(text) <= limit else text[:limit] + "…")


@dataclass(frozen=True, slots=True)
class StoreStats:
    total: int
    by_source: list[tuple[str, int]]
    last_import: datetime | None
    refreshed: list[tuple[str, datetime]]  # live source -> last clean run


async def store_stats(ctx: WebContext) -> StoreStats:
    async def compute() -> object:
        seen = await overview(ctx.store)
        return StoreStats(
            total=seen.total,
            by_source=sorted(seen.by_source.items(), key=lambda kv: -kv[1]),
            last_import=seen.last_import,
            refreshed=list(seen.refreshed.items()),
        )

    return cast(StoreStats, await ctx.home_cache.get(compute))


async def trending(ctx: WebContext, limit: int) -> list[Paper]:
    """The global trending list: bot.ranking over the store, no server's votes (guild 0)."""
    ranked = await ctx.trends.ranked_for_guild(NO_SERVER, ctx.now(), limit)
    return await ctx.store.papers.get_by_pids([s.pid for s in ranked])


async def search(ctx: WebContext, query: str, sort: Sort, limit: int, offset: int) -> SearchResult:
    return await ctx.search.search(query, sort=sort, limit=limit, offset=offset)


async def paper(ctx: WebContext, paper_id: str) -> Paper:
    found = await ctx.store.papers.get(paper_id) if paper_id.strip() else None
    if found is None:
        raise NotFound(f"No paper with the id {_shown(paper_id, 60)} is in the store.")
    return found


async def related(ctx: WebContext, paper: Paper, limit: int = RELATED) -> list[Paper]:
    try:
        return await ctx.search.related(paper.id, limit)
    except Exception:  # related papers are a nicety: the page still shows the paper
        log.warning("related papers of %s failed", paper.id, exc_info=True)
        return []
