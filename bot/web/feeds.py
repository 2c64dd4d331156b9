"""Atom feeds (written with feedgen): the global trending list, and a daily schedule's posts
when its admin turned its public feed on (``/daily set ... public_feed:true``).

A daily feed's address holds the schedule's random token (bot.store.feeds); an unknown or
revoked token is a plain 404, the same as any other missing page. A feed says nothing about
the server or the channel: only the papers posted, when, and the schedule's topic.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime, time
from urllib.parse import quote

from aiohttp import web
from feedgen.feed import FeedGenerator

from bot.models import Paper
from bot.text import cut_at_sentence, readable
from bot.web import queries
from bot.web.context import CONTEXT, WebContext
from bot.web.present import author_names, clean, paper_path

log = logging.getLogger(__name__)

ATOM = "application/atom+xml"
TRENDING_ENTRIES = 25
DAILY_ENTRIES = 50
SUMMARY_CHARS = 1200
MAX_ENTRY_AUTHORS = 20

# Characters XML 1.0 does not allow (lxml refuses them): dropped from every string.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: str | None) -> str:
    return clean(_NOT_XML.sub("", text or ""))


def daily_feed_path(root: str, token: str) -> str:
    return f"{root}/feeds/daily/{quote(token, safe='')}.atom"


def daily_feed_url(base_url: str, token: str) -> str:
    """The public address of a schedule's feed (shown to the admin only)."""
    return daily_feed_path(base_url.rstrip("/"), token)


def _entry_time(paper: Paper, fallback: datetime) -> datetime:
    if paper.published:
        return datetime.combine(paper.published, time(0, 0), tzinfo=UTC)
    return fallback


def _feed(ctx: WebContext, *, feed_id: str, title: str, subtitle: str, path: str) -> FeedGenerator:
    fg = FeedGenerator()
    fg.id(feed_id)
    fg.title(xml_text(title))
    fg.subtitle(xml_text(subtitle))
    fg.author({"name": "PaperBot"})
    fg.generator("PaperBot")
    fg.link(href=ctx.base_url + path, rel="self", type=ATOM)
    fg.link(href=ctx.base_url + "/", rel="alternate", type="text/html")
    fg.language("en")
    return fg


def _add_entry(
    ctx: WebContext, fg: FeedGenerator, paper: Paper, *, entry_id: str, when: datetime
) -> None:
    fe = fg.add_entry(order="append")
    fe.id(entry_id)
    fe.title(xml_text(readable(paper.title)) or paper.id)
    # One link, to the paper's page here (which links arXiv, the PDF, code...). feedgen 1.0.0
    # drops the rel and type of entry links, so a second one would be a second "alternate".
    fe.link(href=ctx.base_url + paper_path("", paper.id))
    abstract = xml_text(readable(paper.abstract))
    if abstract:
        fe.summary(cut_at_sentence(abstract, SUMMARY_CHARS))
    for name in author_names(paper)[:MAX_ENTRY_AUTHORS]:
        fe.author({"name": xml_text(name)})
    for category in paper.categories[:8]:
        if term := xml_text(category):
            fe.category(term=term)
    fe.published(when)
    fe.updated(when)


def atom_response(fg: FeedGenerator) -> web.Response:
    body: bytes = fg.atom_str(pretty=True)
    return web.Response(body=body, content_type=ATOM, charset="utf-8")


async def trending(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    papers = await queries.trending(ctx, TRENDING_ENTRIES)
    now = ctx.now()
    # A paper without a date is dated by the day the list is of (stable across polls).
    today = datetime.combine(now.astimezone(UTC).date(), time(0, 0), tzinfo=UTC)
    path = "/feeds/trending.atom"
    fg = _feed(
        ctx,
        feed_id=ctx.base_url + path,
        title="PaperBot: trending papers",
        subtitle="The papers trending right now, best first.",
        path=path,
    )
    fg.updated(now)
    for paper in papers:
        _add_entry(
            ctx,
            fg,
            paper,
            entry_id=f"{ctx.base_url}{paper_path('', paper.id)}",
            when=_entry_time(paper, today),
        )
    return atom_response(fg)


async def daily(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    token = request.match_info["token"]
    schedule = await ctx.store.feeds.schedule(token)
    if schedule is None:
        raise queries.NotFound("There is no public feed at this address.")
    posts = await ctx.store.feeds.posts(token, DAILY_ENTRIES)
    # Entry ids name the feed by a digest of its token, not the token, and never the channel.
    digest = hashlib.sha256(token.encode()).hexdigest()[:16]
    topic = clean(schedule.topic)
    path = daily_feed_path("", token)
    fg = _feed(
        ctx,
        feed_id=f"urn:paperbot:daily:{digest}",
        title=f"PaperBot: daily papers on “{topic}”" if topic else "PaperBot: daily papers",
        subtitle=f"One trending paper a day, posted at {schedule.local_time} {schedule.tz}.",
        path=path,
    )
    fg.updated(posts[0].posted_at if posts else (schedule.created_at or ctx.now()))
    for post in posts:
        _add_entry(
            ctx,
            fg,
            post.paper,
            entry_id=f"urn:paperbot:daily:{digest}:{quote(post.paper.id, safe='')}",
            when=post.posted_at,
        )
    return atom_response(fg)
