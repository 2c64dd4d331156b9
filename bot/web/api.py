"""The JSON API: search, one paper, trending. Errors are JSON too (see bot.web.app)."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from bot.search import query as q
from bot.web import queries
from bot.web.context import CONTEXT
from bot.web.present import paper_json

log = logging.getLogger(__name__)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=_dumps)


def error_json(status: int, message: str) -> web.Response:
    return json_response({"error": {"status": status, "message": message}}, status)


async def index(request: web.Request) -> web.Response:
    base = request.app[CONTEXT].base_url
    return json_response(
        {
            "endpoints": {
                "search": f"{base}/api/search?q=diffusion&limit=10&offset=0&sort=relevance",
                "paper": f"{base}/api/papers/2401.00001",
                "trending": f"{base}/api/trending?limit=10",
            },
            "sorts": ["relevance", "newest", "trending"],
            "max_limit": queries.MAX_LIMIT,
            "max_offset": queries.MAX_OFFSET,
        }
    )


async def search(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    raw = request.query.get("q")
    text = q.clean(raw or "")
    if not text:
        raise queries.BadRequest("q is required: the words, author, arXiv id or link to search for")
    limit = queries.int_param(request, "limit", 10, 1, queries.MAX_LIMIT)
    offset = queries.int_param(request, "offset", 0, 0, queries.MAX_OFFSET)
    sort = queries.sort_param(request)
    result = await queries.search(ctx, text, sort, limit, offset)
    return json_response(
        {
            "query": result.query,
            "corrected": result.corrected,
            "sort": sort,
            "offset": offset,
            "limit": limit,
            "total": result.total,
            "total_is_lower_bound": result.capped,
            "results": [
                {**paper_json(h.paper, ctx.base_url), "score": round(h.score, 6), "why": h.why}
                for h in result.hits
            ],
        }
    )


async def paper(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    found = await queries.paper(ctx, request.match_info["paper_id"])
    related = await queries.related(ctx, found)
    return json_response(
        {
            "paper": paper_json(found, ctx.base_url),
            "related": [paper_json(p, ctx.base_url) for p in related],
        }
    )


async def trending(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    limit = queries.int_param(request, "limit", 10, 1, queries.TRENDING_MAX)
    papers = await queries.trending(ctx, limit)
    return json_response(
        {
            "generated_at": ctx.now().isoformat(timespec="seconds"),
            "papers": [
                {**paper_json(p, ctx.base_url), "rank": i} for i, p in enumerate(papers, start=1)
            ],
        }
    )
