"""The web site on a real store, for tests: fixtures' papers plus a few hostile ones, served by
aiohttp's test server (a real socket on 127.0.0.1) and read back as a client would."""

from __future__ import annotations

import html.parser
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from yarl import URL

from bot.config import Settings
from bot.search import SearchEngine
from bot.store import Store
from bot.store.loader import load_file
from bot.trending import Trending
from bot.web import WebContext, build_app
from bot.web.ratelimit import TokenBuckets
from tests.helpers_store import SNAPSHOT, TRENDING, write_jsonl

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
BASE_URL = "https://papers.example.org"

XSS = '"><script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE_TITLE = f"Hostile {XSS} title about zebrafish"
HOSTILE = {
    "id": "2401.99999",
    "title": HOSTILE_TITLE,
    "abstract": f"Zebrafish abstract {XSS} with $\\alpha$-divergence at $256\\times256$ pixels.",
    "authors": ['Eve "><svg onload=alert(2)>', "Mallory <b>bold</b>"],
    "published": "2024-01-05",
    "categories": ["cs.LG", "<i>x</i>"],
    "url_abs": "javascript:alert(3)",
    "url_pdf": 'https://example.org/a.pdf?x="><script>alert(4)</script>',
    "url_code": "data:text/html,<script>alert(5)</script>",
    "url_project": "https://example.org/project",
}
OLD_STYLE = {
    "id": "hep-th/9901001",
    "title": "An old-style identifier with a slash",
    "abstract": "Strings on branes, in 1999 \\cite{x}.",
    "authors": ["Ada Lovelace", "Alan Turing"],
    "published": "1999-01-04",
}


async def make_web_store(tmp_path: Path) -> Store:
    store = await Store.open(tmp_path / "web.db")
    await load_file(store, TRENDING)
    await load_file(store, SNAPSHOT)
    await load_file(store, write_jsonl(tmp_path / "extra.jsonl", [HOSTILE, OLD_STYLE]))
    return store


def web_settings(**changes: Any) -> Settings:
    return replace(Settings(refresh_enabled=False, web_url=BASE_URL), **changes)


@dataclass(slots=True)
class Clock:
    """A monotonic clock the test moves (rate limits)."""

    at: float = 1000.0

    def __call__(self) -> float:
        return self.at


def make_context(
    store: Store,
    *,
    settings: Settings | None = None,
    gateway: Callable[[], bool] | None = None,
    now: datetime = NOW,
) -> WebContext:
    engine = SearchEngine(store.db)
    return WebContext(
        store,
        engine,
        Trending(store.signals, store.social, engine.candidates),
        settings or web_settings(web_rate_requests=0),
        gateway=gateway,
        now=lambda: now,
    )


@dataclass(slots=True)
class Site:
    """A running site and a client session to it."""

    server: TestServer
    session: ClientSession
    ctx: WebContext

    def url(self, path_and_query: str) -> URL:
        """The absolute URL of *path_and_query*, sent exactly as written (already encoded)."""
        return URL(str(self.server.make_url("/")).rstrip("/") + path_and_query, encoded=True)

    async def get(self, path: str, **kwargs: Any) -> tuple[int, dict[str, str], str]:
        async with self.session.get(self.url(path), allow_redirects=False, **kwargs) as resp:
            return resp.status, dict(resp.headers), await resp.text()

    async def json(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.get(self.url(path), **kwargs) as resp:
            assert resp.content_type == "application/json", (path, resp.content_type)
            return resp.status, await resp.json()


@asynccontextmanager
async def serve(ctx: WebContext, *, buckets: TokenBuckets | None = None) -> AsyncIterator[Site]:
    server = TestServer(build_app(ctx, buckets=buckets), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as session:
            yield Site(server, session, ctx)
    finally:
        await server.close()
        await ctx.search.close()


class Markup(html.parser.HTMLParser):
    """Every start tag with its attributes, and the page's text, as a browser would parse
    them (Python's HTML parser follows the same tokenizer rules for tags and attributes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())

    def hrefs(self) -> list[str]:
        return [str(a["href"]) for t, a in self.tags if a.get("href") is not None]


def parse_html(body: str) -> Markup:
    page = Markup()
    page.feed(body)
    page.close()
    return page


def assert_inert(body: str) -> Markup:
    """No script element, no event-handler attribute, no link to anything but this site or
    http(s): what an injected string would need to run in a browser."""
    page = parse_html(body)
    for tag, attrs in page.tags:
        assert tag not in ("script", "iframe", "object", "embed", "svg", "img"), (tag, attrs)
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name, value)
            if name in ("href", "src", "action") and value is not None:
                assert value.startswith(("/", "http://", "https://")), (tag, name, value)
    return page
