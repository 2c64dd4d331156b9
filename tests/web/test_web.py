"""The web site against a real store, over a real socket: every page and API route, paging,
hostile queries, escaping, errors. (Rate limits, feeds and health: test_web_limits_feeds.py.)"""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from urllib.parse import quote

import pytest

from bot.store import Store
from tests.web_support import (
    BASE_URL,
    HOSTILE,
    HOSTILE_TITLE,
    NOW,
    OLD_STYLE,
    XSS,
    Site,
    assert_inert,
    make_context,
    parse_html,
    serve,
)


def result_ids(body: str) -> list[str]:
    """The paper ids a results page links to, in order (one link per result)."""
    page = parse_html(body)
    return [
        str(a["href"]).removeprefix("/papers/")
        for tag, a in page.tags
        if tag == "a" and a.get("class") == "title"
    ]


# -- pages ------------------------------------------------------------------------------------


async def test_home_shows_counts_freshness_and_the_trending_list(site: Site, store: Store) -> None:
    await store.refresh.record_run(
        "hf", ok=True, new=3, updated=1, failed=0, at=NOW - timedelta(hours=2)
    )
    status, headers, body = await site.get("/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    page = assert_inert(body)
    text = page.all_text
    total = await store.papers.count()
    assert total == 266
    assert f"{total} papers in the store" in text
    assert "arXiv metadata snapshot 200" in text and "Hugging Face trending page 64" in text
    assert "Hugging Face 2 hours ago" in text
    trending = result_ids(body)
    assert len(trending) == 10
    top = await store.papers.top_by_source_rank(10)
    assert trending == [p.id for p in top]  # the list's own order (no dates, no votes)


async def test_search_page_pages_through_the_same_results_as_the_engine(
    site: Site, store: Store
) -> None:
    engine = site.ctx.search
    expected = await engine.search("diffusion", limit=30)
    assert expected.total > 20
    seen: list[str] = []
    for number in (1, 2, 3):
        status, _, body = await site.get(f"/search?q=diffusion&page={number}")
        assert status == 200
        ids = result_ids(body)
        assert len(ids) == 10
        seen += ids
        page = parse_html(body)
        assert f"Results {10 * number - 9}–{10 * number} of {expected.total}" in page.all_text
        links = {a.get("rel"): a["href"] for t, a in page.tags if t == "a" and a.get("rel")}
        assert links.get("next") == f"/search?q=diffusion&page={number + 1}"
        if number > 1:
            prev = "/search?q=diffusion" + (f"&page={number - 1}" if number > 2 else "")
            assert links["prev"] == prev
        else:
            assert "prev" not in links
    assert seen == [h.paper.id for h in expected.hits]

    last = -(-expected.total // 10)
    status, _, body = await site.get(f"/search?q=diffusion&page={last}")
    page = parse_html(body)
    assert not any(a.get("rel") == "next" for _, a in page.tags)
    status, _, body = await site.get(f"/search?q=diffusion&page={last + 1}")
    assert status == 200 and result_ids(body) == []
    assert "No more results" in parse_html(body).all_text


async def test_search_page_sorts_corrects_typos_and_finds_ids(site: Site) -> None:
    engine = site.ctx.search
    newest = await engine.search("diffusion", sort="newest", limit=10)
    _, _, body = await site.get("/search?q=diffusion&sort=newest")
    assert result_ids(body) == [h.paper.id for h in newest.hits]
    assert "<strong>newest</strong>" in body

    _, _, body = await site.get("/search?q=difusion+modle")
    assert "showing results for “diffusion model”" in parse_html(body).all_text

    _, _, body = await site.get("/search?q=" + quote("https://arxiv.org/abs/0704.0001v2"))
    assert result_ids(body) == ["0704.0001"]

    status, _, body = await site.get("/search")
    assert status == 200 and "Type a few words" in parse_html(body).all_text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("page=0", "page must be a whole number from 1 to 100, not 0"),
        ("page=abc", "page must be a whole number from 1 to 100, not 'abc'"),
        ("page=101", "page must be a whole number from 1 to 100, not 101"),
        ("sort=best", "sort must be one of relevance, newest, trending, not 'best'"),
    ],
)
async def test_search_page_bad_parameters_get_a_400_page(
    site: Site, query: str, message: str
) -> None:
    status, headers, body = await site.get(f"/search?q=diffusion&{query}")
    assert status == 400 and headers["Content-Type"].startswith("text/html")
    assert message in parse_html(body).all_text


async def test_paper_page_has_links_readable_abstract_citation_and_related(site: Site) -> None:
    status, _, body = await site.get("/papers/0704.0001")
    assert status == 200
    page = assert_inert(body)
    text = page.all_text
    assert "Calculation of prompt diphoton production cross sections" in text
    hrefs = page.hrefs()
    assert "https://arxiv.org/abs/0704.0001" in hrefs and "https://arxiv.org/pdf/0704.0001" in hrefs
    # The citation /cite gives: APA, then BibTeX (escaped into the page, not markup).
    assert (
        "Balázs, C., Berger, E. L., Nadolsky, P. M., & Yuan, C.-P. (2007). Calculation of "
        "prompt diphoton production cross sections at Tevatron and LHC energies. "
        "Phys.Rev.D76:013009,2007. https://doi.org/10.1103/PhysRevD.76.013009"
    ) in text
    assert "@article{balazs2007calculation," in text and "Bal{\\'a}zs" in text
    related = await site.ctx.search.related("0704.0001", 5)
    assert related and result_ids(body) == [p.id for p in related]

    _, _, body = await site.get(f"/papers/{HOSTILE['id']}")
    text = parse_html(body).all_text
    assert "α-divergence at 256×256 pixels" in text  # LaTeX as text, as on the cards
    assert "$\\alpha$" not in text


async def test_paper_page_redirects_other_spellings_and_serves_old_ids(site: Site) -> None:
    status, headers, _ = await site.get("/papers/0704.0001v3")
    assert status == 301 and headers["Location"] == "/papers/0704.0001"
    status, _, body = await site.get("/papers/hep-th/9901001")
    assert status == 200 and OLD_STYLE["title"] in parse_html(body).all_text
    assert "Strings on branes, in 1999." in parse_html(body).all_text  # \cite{} dropped
    status, headers, body = await site.get("/papers/9999.99999")
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert "No paper with the id '9999.99999' is in the store." in parse_html(body).all_text


async def test_unknown_pages_and_other_methods(site: Site) -> None:
    status, _, body = await site.get("/nothing/here")
    assert status == 404 and "There is no page at this address." in parse_html(body).all_text
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        for path in ("/", "/search?q=x", "/api/search?q=x", "/papers/0704.0001", "/healthz"):
            async with site.session.request(method, site.url(path)) as resp:
                assert resp.status == 405, (method, path)
                assert resp.headers["Allow"] == "GET,HEAD"
                if path.startswith(("/api", "/healthz")):
                    assert (await resp.json())["error"]["message"].startswith(
                        "This site is read-only"
                    )
    async with site.session.head(site.url("/")) as resp:
        assert resp.status == 200


# -- the JSON API -------------------------------------------------------------------------------


async def test_api_search_pages_like_the_engine(site: Site) -> None:
    status, data = await site.json("/api/search?q=diffusion&limit=10")
    assert status == 200
    expected = await site.ctx.search.search("diffusion", limit=10)
    assert [r["id"] for r in data["results"]] == [h.paper.id for h in expected.hits]
    assert data["total"] == expected.total and data["total_is_lower_bound"] is False
    assert (data["offset"], data["limit"], data["sort"]) == (0, 10, "relevance")
    first = data["results"][0]
    assert first["page"] == f"{BASE_URL}/papers/{first['id']}"
    assert {"title", "abstract", "authors", "title_text", "abstract_text", "score", "why"} <= set(
        first
    )

    _, head = await site.json("/api/search?q=diffusion&limit=4&offset=0")
    _, tail = await site.json("/api/search?q=diffusion&limit=6&offset=4")
    assert [r["id"] for r in head["results"] + tail["results"]] == [
        r["id"] for r in data["results"]
    ]
    _, newest = await site.json("/api/search?q=diffusion&sort=newest&limit=5")
    ordered = await site.ctx.search.search("diffusion", sort="newest", limit=5)
    assert [r["id"] for r in newest["results"]] == [h.paper.id for h in ordered.hits]
    _, fixed = await site.json("/api/search?q=difusion")
    assert fixed["corrected"] == "diffusion" and fixed["results"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "q is required: the words, author, arXiv id or link to search for"),
        ("q=", "q is required: the words, author, arXiv id or link to search for"),
        ("q=%00%01", "q is required: the words, author, arXiv id or link to search for"),
        ("q=x&limit=0", "limit must be a whole number from 1 to 100, not 0"),
        ("q=x&limit=101", "limit must be a whole number from 1 to 100, not 101"),
        ("q=x&limit=1e3", "limit must be a whole number from 1 to 100, not '1e3'"),
        ("q=x&offset=-1", "offset must be a whole number from 0 to 1000, not -1"),
        ("q=x&offset=99999999999999999999", "offset must be a whole number from 0 to 1000"),
        ("q=x&sort=random", "sort must be one of relevance, newest, trending, not 'random'"),
    ],
)
async def test_api_search_errors_are_json_400s(site: Site, query: str, message: str) -> None:
    status, data = await site.json(f"/api/search?{query}")
    assert status == 400
    assert data["error"]["status"] == 400 and data["error"]["message"].startswith(message)


async def test_api_paper_and_trending(site: Site, store: Store) -> None:
    status, data = await site.json("/api/papers/0704.0001v2")
    assert status == 200 and data["paper"]["id"] == "0704.0001"
    assert data["paper"]["published"] == "2007-04-02"
    related = await site.ctx.search.related("0704.0001", 5)
    assert [p["id"] for p in data["related"]] == [p.id for p in related]
    status, data = await site.json("/api/papers/hep-th/9901001")
    assert status == 200 and data["paper"]["title"] == OLD_STYLE["title"]
    status, data = await site.json("/api/papers/nope")
    assert (
        status == 404 and data["error"]["message"] == "No paper with the id 'nope' is in the store."
    )
    status, data = await site.json("/api/nothing")
    assert status == 404 and data["error"]["status"] == 404

    status, data = await site.json("/api/trending?limit=5")
    top = await store.papers.top_by_source_rank(5)
    assert [p["id"] for p in data["papers"]] == [p.id for p in top]
    assert [p["rank"] for p in data["papers"]] == [1, 2, 3, 4, 5]
    assert data["generated_at"] == NOW.isoformat(timespec="seconds")
    status, data = await site.json("/api/trending?limit=51")
    assert status == 400 and "limit must be a whole number from 1 to 50" in data["error"]["message"]
    status, data = await site.json("/api")
    assert status == 200 and data["endpoints"]["search"].startswith(f"{BASE_URL}/api/search?")


async def test_members_votes_never_shape_the_sites_trending(site: Site, store: Store) -> None:
    """The site shows no server's votes; an older PaperBot stored 👍 in DMs under guild 0,
    the id the site's list is asked for: those do not count either."""
    top = await store.papers.top_by_source_rank(10)
    for user in range(50):
        await store.social.toggle_vote(0, 612345678901234567 + user, top[-1].id)
    status, data = await site.json("/api/trending?limit=10")
    assert status == 200 and [p["id"] for p in data["papers"]] == [p.id for p in top]


# -- hostile input, escaping ---------------------------------------------------------------------

HOSTILE_QUERIES = [
    "%22",  # "
    "NEAR(",
    "a*b%20-c:d",
    "AND%20OR%20NOT",
    quote(XSS),
    "%3Cscript%3Ealert(1)%3C/script%3E",
    "%00%00abc",
    "%ff%fe%fd",  # not UTF-8
    "%ED%A0%80",  # a lone surrogate, encoded
    "%",  # a broken escape
    "%zz",
    "'%3B%20DROP%20TABLE%20papers%3B--",
    "%E2%80%AEevil%E2%80%AC",  # right-to-left override
    "x" * 5000,
    "%F0%9F%A7%AC" * 200,  # emoji
    "a&q=b&q=c",  # repeated parameter
]


@pytest.mark.parametrize("raw", HOSTILE_QUERIES)
async def test_hostile_queries_never_break_a_page_or_an_answer(
    site: Site, store: Store, raw: str
) -> None:
    status, _, body = await site.get(f"/search?q={raw}")
    assert status == 200, body[:300]
    assert_inert(body)
    status, data = await site.json(f"/api/search?q={raw}")
    assert status in (200, 400), data
    assert isinstance(data.get("results", data.get("error")), list | dict)
    status, _, body = await site.get(f"/papers/{raw}")
    assert status in (200, 301, 404)
    assert_inert(body)
    assert await store.papers.count() == 266


async def test_an_oversized_request_line_is_refused_and_the_site_goes_on(site: Site) -> None:
    async with site.session.get(site.url("/search?q=" + "x" * 20_000)) as resp:
        assert 400 <= resp.status < 500
    status, _, _ = await site.get("/search?q=diffusion")
    assert status == 200


async def test_user_text_is_escaped_everywhere(site: Site) -> None:
    # The query echoed back: in the title, the heading, the search box and the links.
    status, _, body = await site.get("/search?q=" + quote(XSS))
    page = assert_inert(body)
    boxes = [a for t, a in page.tags if t == "input" and a.get("name") == "q"]
    assert boxes and boxes[0]["value"] == XSS  # the attribute holds the text, nothing more
    assert "<script>" not in body and "&lt;script&gt;" in body

    # A paper whose every field is hostile, on every page that shows it.
    for path in (
        f"/papers/{HOSTILE['id']}",
        "/search?q=zebrafish",
        "/search?q=" + quote(HOSTILE_TITLE),
    ):
        status, _, body = await site.get(path)
        assert status == 200
        page = assert_inert(body)
        assert "<script>" not in body and "<img" not in body and "<svg" not in body
        assert "Hostile" in page.all_text
    _, _, body = await site.get(f"/papers/{HOSTILE['id']}")
    page = assert_inert(body)
    assert HOSTILE_TITLE in page.all_text  # shown as text, whole
    assert 'Eve "><svg onload=alert(2)>' in page.all_text
    hrefs = page.hrefs()
    assert not any(h.startswith(("javascript:", "data:")) for h in hrefs)
    assert "https://example.org/project" in hrefs
    assert HOSTILE["url_pdf"] in hrefs  # a real https link, its quotes escaped in the attribute

    _, data = await site.json(f"/api/papers/{HOSTILE['id']}")
    assert data["paper"]["title"] == HOSTILE_TITLE
    assert data["paper"]["url_abs"] is None and data["paper"]["url_code"] is None


async def test_security_headers_on_every_answer(site: Site) -> None:
    for path in ("/", "/search?q=x", "/papers/0704.0001", "/api/search?q=x", "/nope", "/healthz"):
        _, headers, _ = await site.get(path)
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Server"] == "PaperBot"
    status, headers, css = await site.get("/static/style.css")
    assert status == 200 and headers["Content-Type"].startswith("text/css") and "body" in css


async def test_the_site_writes_nothing(site: Site, store: Store) -> None:
    watcher = sqlite3.connect(store.db.path)
    try:
        before = watcher.execute("PRAGMA data_version").fetchone()[0]
        paths = [
            "/",
            "/search?q=diffusion",
            "/search?q=diffusion&page=2&sort=trending",
            "/papers/0704.0001",
            "/api/search?q=diffusion",
            "/api/papers/0704.0001",
            "/api/trending",
            "/feeds/trending.atom",
            "/healthz",
        ]
        for path in paths:
            status, _, _ = await site.get(path)
            assert status == 200, path
        # data_version changes when another connection commits anything to the file
        assert watcher.execute("PRAGMA data_version").fetchone()[0] == before
    finally:
        watcher.close()


async def test_json_answers_are_valid_utf8_json(site: Site) -> None:
    async with site.session.get(site.url(f"/api/papers/{HOSTILE['id']}")) as resp:
        raw = await resp.read()
    assert json.loads(raw.decode("utf-8"))["paper"]["authors"][0] == 'Eve "><svg onload=alert(2)>'


async def test_a_site_under_a_path_prefix_links_within_it(store: Store) -> None:
    """PAPERBOT_WEB_URL=https://example.org/pb behind a proxy that strips /pb: every link
    and redirect the site makes starts with /pb."""
    from tests.web_support import web_settings

    settings = web_settings(web_url="https://example.org/pb", web_rate_requests=0)
    async with serve(make_context(store, settings=settings)) as site:
        _, _, body = await site.get("/search?q=diffusion")
        page = parse_html(body)
        local = [h for h in page.hrefs() if not h.startswith("http")]
        assert local and all(h.startswith("/pb/") for h in local), local
        forms = [a["action"] for t, a in page.tags if t == "form"]
        assert forms == ["/pb/search"]
        status, headers, _ = await site.get("/papers/0704.0001v2")
        assert status == 301 and headers["Location"] == "/pb/papers/0704.0001"
        _, data = await site.json("/api/papers/0704.0001")
        assert data["paper"]["page"] == "https://example.org/pb/papers/0704.0001"


async def test_a_search_past_its_budget_is_a_503_saying_so(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.search.engine as engine_module
    import bot.store.database as database_module

    # every search runs out of time (the clock is looked at every VM step of this small store)
    monkeypatch.setattr(engine_module, "SEARCH_BUDGET", 1e-9)
    monkeypatch.setattr(database_module, "_PROGRESS_STEPS", 1)
    status, data = await site.json("/api/search?q=diffusion")
    assert status == 503
    assert data["error"]["message"].startswith("That search took too long.")
    status, _, body = await site.get("/search?q=diffusion")
    assert status == 503 and "Try fewer or more specific words." in parse_html(body).all_text


async def test_an_unexpected_error_is_logged_and_answered_without_details(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> int:
        raise RuntimeError("secret internals at /srv/paperbot")

    monkeypatch.setattr(site.ctx.store.papers, "count", broken)
    status, _, body = await site.get("/")
    assert status == 500
    text = parse_html(body).all_text
    assert "Something went wrong on our side; it has been logged." in text
    assert "secret internals" not in body and "Traceback" not in body
    (record,) = [r for r in caplog.records if r.name == "bot.web.app"]
    assert record.exc_info is not None and "secret internals" in str(record.exc_info[1])
    assert (await site.get("/search?q=diffusion"))[0] == 200  # the site goes on
