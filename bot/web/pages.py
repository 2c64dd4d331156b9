"""The HTML pages: home, search, one paper. Server-rendered, no JavaScript."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from aiohttp import web

from bot.search import query as q
from bot.web import queries
from bot.web.context import CONTEXT, WebContext
from bot.web.present import PaperView, paper_path
from bot.web.templating import ago, render

log = logging.getLogger(__name__)

SOURCE_NAMES = {
    "hf-page": "Hugging Face trending page",
    "hf-daily": "Hugging Face daily papers",
    "jsonl": "PaperBot JSON lines",
    "arxiv-api": "arXiv API",
    "arxiv-snapshot": "arXiv metadata snapshot",
    "hf": "Hugging Face",
    "arxiv": "arXiv",
}

HTML = "text/html"


def html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type=HTML, charset="utf-8")


def page(ctx: WebContext, template: str, **values: object) -> str:
    return render(template, root=ctx.root, query=values.pop("query", ""), **values)


async def home(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    stats = await queries.store_stats(ctx)
    papers = await queries.trending(ctx, queries.TRENDING_ON_HOME)
    now = ctx.now()
    return html(
        page(
            ctx,
            "home.html",
            stats=stats,
            sources=[(SOURCE_NAMES.get(name, name), n) for name, n in stats.by_source],
            refreshed=[
                (SOURCE_NAMES.get(name, name), when.strftime("%Y-%m-%d %H:%M UTC"), ago(when, now))
                for name, when in stats.refreshed
            ],
            last_import=ago(stats.last_import, now),
            trending=[PaperView.of(p, ctx.root) for p in papers],
        )
    )


def _search_url(ctx: WebContext, text: str, sort: str, number: int) -> str:
    params = {"q": text}
    if sort != "relevance":
        params["sort"] = sort
    if number > 1:
        params["page"] = str(number)
    return f"{ctx.root}/search?{urlencode(params)}"


async def search(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    text = q.clean(request.query.get("q", ""))
    sort = queries.sort_param(request)
    number = queries.int_param(request, "page", 1, 1, queries.MAX_PAGE)
    if not text:
        return html(page(ctx, "search.html", searched=False, sort=sort))
    offset = (number - 1) * queries.PAGE_SIZE
    result = await queries.search(ctx, text, sort, queries.PAGE_SIZE, offset)
    hits = [PaperView.of(h.paper, ctx.root, why=h.why) for h in result.hits]
    last_page = min(queries.MAX_PAGE, max(1, -(-result.total // queries.PAGE_SIZE)))
    return html(
        page(
            ctx,
            "search.html",
            searched=True,
            query=text,
            sort=sort,
            sorts=[
                (name, _search_url(ctx, text, name, 1), name == sort)
                for name in ("relevance", "newest", "trending")
            ],
            corrected=result.corrected,
            hits=hits,
            first=offset + 1,
            last=offset + len(hits),
            total=result.total,
            capped=result.capped,
            page_number=number,
            prev_url=_search_url(ctx, text, sort, number - 1) if number > 1 else None,
            next_url=_search_url(ctx, text, sort, number + 1) if number < last_page else None,
        )
    )


async def paper(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    wanted = request.match_info["paper_id"]
    found = await queries.paper(ctx, wanted)
    if found.id != wanted:  # a version, a URL or a former title id: the canonical address
        raise web.HTTPMovedPermanently(paper_path(ctx.root, found.id))
    related = await queries.related(ctx, found)
    return html(
        page(
            ctx,
            "paper.html",
            paper=PaperView.of(found, ctx.root),
            related=[PaperView.of(p, ctx.root) for p in related],
        )
    )


def error_page(ctx: WebContext, status: int, title: str, message: str) -> web.Response:
    return html(page(ctx, "error.html", status=status, title=title, message=message), status)
