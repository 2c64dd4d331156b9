"""The web site's rate limit, Atom feeds (read back with feedparser, entry by entry), /healthz,
and that no server or member data shows anywhere unless a public feed was turned on."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import feedparser
import pytest
from multidict import CIMultiDict

from bot.store import Store
from bot.store.schedules import RunPaper, ScheduleRepo
from bot.web.feeds import daily_feed_url
from bot.web.ratelimit import TokenBuckets, client_address, client_key, parse_networks
from tests.web_support import (
    BASE_URL,
    HOSTILE,
    HOSTILE_TITLE,
    NOW,
    Clock,
    Site,
    make_context,
    parse_html,
    serve,
    web_settings,
)

GUILD, CHANNEL, OTHER_CHANNEL, ADMIN, MEMBER = (
    712345678901234567,
    812345678901234567,
    812345678901234999,
    912345678901234567,
    612345678901234567,
)
SECRET_TOPIC = "quokkasecret"


# -- rate limit ---------------------------------------------------------------------------------


async def test_each_client_gets_a_token_bucket_and_then_429_with_retry_after(store: Store) -> None:
    clock = Clock()
    buckets = TokenBuckets(3, 60, clock=clock)  # 3 requests, refilled at one per 20 s
    settings = web_settings(web_trusted_proxies=("127.0.0.1",))
    async with serve(make_context(store, settings=settings), buckets=buckets) as site:
        for _ in range(3):
            assert (await site.get("/api/trending"))[0] == 200
        status, data = await site.json("/api/trending")
        assert status == 429
        assert data["error"]["message"] == "Too many requests from your address; try again in 20 s."
        status, headers, body = await site.get("/search?q=diffusion")
        assert status == 429 and headers["Retry-After"] == "20"
        assert headers["Content-Type"].startswith("text/html")
        assert "Too many requests" in parse_html(body).all_text

        # behind the trusted proxy (the peer is 127.0.0.1), each forwarded client counts alone
        for _ in range(3):
            assert (await site.get("/", headers={"X-Forwarded-For": "203.0.113.7"}))[0] == 200
        assert (await site.get("/", headers={"X-Forwarded-For": "203.0.113.7"}))[0] == 429
        # a client cannot escape by prepending addresses: the right-most untrusted one counts
        spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}
        assert (await site.get("/", headers=spoofed))[0] == 429
        assert (await site.get("/", headers={"X-Forwarded-For": "203.0.113.8"}))[0] == 200

        clock.at += 20  # one token back for each client
        assert (await site.get("/api/trending"))[0] == 200
        assert (await site.get("/api/trending"))[0] == 429
        clock.at += 60
        for _ in range(3):
            assert (await site.get("/api/trending"))[0] == 200


async def test_forwarded_for_is_ignored_without_a_trusted_proxy(store: Store) -> None:
    buckets = TokenBuckets(2, 60, clock=Clock())
    async with serve(make_context(store), buckets=buckets) as site:
        assert (await site.get("/", headers={"X-Forwarded-For": "203.0.113.1"}))[0] == 200
        assert (await site.get("/", headers={"X-Forwarded-For": "203.0.113.2"}))[0] == 200
        assert (await site.get("/", headers={"X-Forwarded-For": "203.0.113.3"}))[0] == 429


async def test_the_limit_comes_from_the_settings(store: Store) -> None:
    settings = web_settings(web_rate_requests=2, web_rate_seconds=3600)
    async with serve(make_context(store, settings=settings)) as site:
        assert [(await site.get("/healthz"))[0] for _ in range(3)] == [200, 200, 429]


async def test_a_proxys_own_forwarded_for_line_is_the_one_believed(store: Store) -> None:
    """A proxy that adds its own X-Forwarded-For line after the client's (HAProxy's
    ``option forwardfor``): the lines are one list (RFC 9110 5.3) and the client's address is
    the right-most; a client must not escape its limit by sending a new line each time."""
    buckets = TokenBuckets(2, 60, clock=Clock())
    settings = web_settings(web_trusted_proxies=("127.0.0.1",))
    async with serve(make_context(store, settings=settings), buckets=buckets) as site:
        statuses = []
        for n in range(4):
            headers = CIMultiDict(
                [("X-Forwarded-For", f"198.51.100.{n}"), ("X-Forwarded-For", "203.0.113.7")]
            )
            statuses.append((await site.get("/healthz", headers=headers))[0])
    assert statuses == [200, 200, 429, 429]


def test_client_addresses_and_keys() -> None:
    proxies = parse_networks(["127.0.0.1", "10.0.0.0/8"])
    assert str(client_address("127.0.0.1", "203.0.113.9, 10.1.2.3", proxies)) == "203.0.113.9"
    assert str(client_address("127.0.0.1", "not-an-ip", proxies)) == "127.0.0.1"
    assert str(client_address("127.0.0.1", "[2001:db8::1]:443", proxies)) == "2001:db8::1"
    assert str(client_address("198.51.100.4", "203.0.113.9", proxies)) == "198.51.100.4"
    assert str(client_address("::ffff:127.0.0.1", "203.0.113.9", proxies)) == "203.0.113.9"
    assert str(client_address("127.0.0.1", "10.0.0.1, 10.0.0.2", proxies)) == "10.0.0.1"
    assert client_address(None, None, proxies) is None
    # one IPv6 machine holds a /64: the whole /64 is one client
    a = client_key(ipaddress.ip_address("2001:db8:1:2::1"))
    b = client_key(ipaddress.ip_address("2001:db8:1:2:ffff::9"))
    assert a == b == "2001:db8:1:2::/64"
    assert client_key(ipaddress.ip_address("2001:db8:1:3::1")) != a


def test_the_bucket_table_is_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(1, 60, clock=clock, max_clients=3)
    for n in range(10):
        assert buckets.allow(f"client-{n}") == 0.0
    assert len(buckets) == 3
    assert buckets.allow("client-9") == pytest.approx(60.0)  # still remembered: limited
    assert buckets.allow("client-0") == 0.0  # forgotten long ago: a new client


# -- feeds ----------------------------------------------------------------------------------------


async def test_trending_feed_parses_back_entry_by_entry(site: Site, store: Store) -> None:
    status, headers, body = await site.get("/feeds/trending.atom")
    assert status == 200 and headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    assert feed.feed.title == "PaperBot: trending papers"
    assert {(link.rel, link.href) for link in feed.feed.links} >= {
        ("self", f"{BASE_URL}/feeds/trending.atom"),
        ("alternate", f"{BASE_URL}/"),
    }
    top = await store.papers.top_by_source_rank(25)
    assert len(feed.entries) == 25
    for entry, paper in zip(feed.entries, top, strict=True):
        assert entry.id == f"{BASE_URL}/papers/{paper.id}"
        assert entry.title == paper.title
        assert entry.link == f"{BASE_URL}/papers/{paper.id}"
        assert entry.summary and paper.abstract.startswith(entry.summary[:80])
        # no publication date in the default store: the day the list is of (UTC midnight)
        assert entry.updated == "2024-06-01T00:00:00+00:00"


async def _post(repo: ScheduleRepo, channel: int, key: str, paper_id: str, when_days: int) -> None:
    """A daily post that went out (the runner's own store calls)."""
    now = NOW - timedelta(days=when_days)
    run, _ = await repo.create_run(
        channel_id=channel,
        guild_id=GUILD,
        run_key=key,
        nonce=f"pb-{channel}-{key}",
        deadline=now + timedelta(hours=12),
        owner="test",
        leased_until=now + timedelta(minutes=5),
        now=now,
    )
    pid = await repo.db.fetchval("SELECT pid FROM papers WHERE id = ?", (paper_id,))
    title = await repo.db.fetchval("SELECT title FROM papers WHERE id = ?", (paper_id,))
    assert await repo.begin_send(run, pid=pid, paper_id=paper_id, title=title, now=now)
    await repo.mark_sent(
        run, message_id=1, thread_id=None, status="posted", note=None, notice=False, now=now
    )


async def _schedule(store: Store, channel: int, topic: str | None = SECRET_TOPIC) -> None:
    await store.schedules.upsert(
        channel_id=channel,
        guild_id=GUILD,
        local_time="09:00",
        tz="Europe/Berlin",
        topic=topic,
        thread=False,
        role_id=None,
        next_run=NOW + timedelta(days=1),
        created_by=ADMIN,
        today_key="2024-06-01",
        now=NOW - timedelta(days=10),
    )


async def test_a_daily_feed_lists_the_channels_sent_posts_newest_first(
    site: Site, store: Store
) -> None:
    await _schedule(store, CHANNEL, topic=None)
    await _schedule(store, OTHER_CHANNEL)
    repo = store.schedules
    await _post(repo, CHANNEL, "2024-05-29", "0704.0001", 3)
    await _post(repo, CHANNEL, "2024-05-30", HOSTILE["id"], 2)
    await _post(repo, CHANNEL, "2024-05-31", "0704.0002", 1)
    await _post(repo, OTHER_CHANNEL, "2024-05-31", "0704.0003", 1)  # another channel's post
    # a run that never went out is not listed
    pending, _ = await repo.create_run(
        channel_id=CHANNEL,
        guild_id=GUILD,
        run_key="2024-06-01",
        nonce="pb-x",
        deadline=NOW + timedelta(hours=1),
        owner=None,
        leased_until=NOW,
        now=NOW,
    )
    pid = await store.db.fetchval("SELECT pid FROM papers WHERE id = '0704.0004'")
    await repo.begin_send(pending, pid=pid, paper_id="0704.0004", title="x", now=NOW)
    # the feed is off until an admin turns it on
    assert await store.feeds.token_for(CHANNEL) is None
    token = await store.feeds.set_public(CHANNEL, True)
    assert token is not None and len(token) >= 32
    assert await store.feeds.set_public(CHANNEL, True) == token  # on again: the same link

    url = daily_feed_url(BASE_URL, token)
    assert url == f"{BASE_URL}/feeds/daily/{token}.atom"
    status, headers, body = await site.get(f"/feeds/daily/{token}.atom")
    assert status == 200 and headers["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "PaperBot: daily papers"
    assert ("self", url) in {(link.rel, link.href) for link in feed.feed.links}
    assert [e.link for e in feed.entries] == [
        f"{BASE_URL}/papers/0704.0002",
        f"{BASE_URL}/papers/{HOSTILE['id']}",
        f"{BASE_URL}/papers/0704.0001",
    ]
    assert [e.updated for e in feed.entries] == [
        (NOW - timedelta(days=d)).isoformat() for d in (1, 2, 3)
    ]
    hostile = feed.entries[1]
    assert hostile.title == HOSTILE_TITLE  # text, whole, not markup
    assert [a.name for a in hostile.authors][:1] == ['Eve "><svg onload=alert(2)>']
    assert "α-divergence at 256×256 pixels" in hostile.summary
    assert feed.entries[2].title.startswith("Calculation of prompt diphoton production")
    assert feed.feed.updated == (NOW - timedelta(days=1)).isoformat()
    for private in (GUILD, CHANNEL, OTHER_CHANNEL, ADMIN, "pb-"):
        assert str(private) not in body

    # a paper that left the store is still listed, by the title recorded when it was posted
    await store.papers.delete("0704.0002")
    feed = feedparser.parse((await site.get(f"/feeds/daily/{token}.atom"))[2])
    assert (
        len(feed.entries) == 3
        and feed.entries[0].title == "Sparsity-certifying Graph Decompositions"
    )

    # the other channel's feed is its own, with its topic in the title
    other = await store.feeds.set_public(OTHER_CHANNEL, True)
    assert other is not None and other != token
    feed = feedparser.parse((await site.get(f"/feeds/daily/{other}.atom"))[2])
    assert feed.feed.title == f"PaperBot: daily papers on “{SECRET_TOPIC}”"
    assert [e.link for e in feed.entries] == [f"{BASE_URL}/papers/0704.0003"]

    # turned off: gone; turned on again: a new link, the old one stays dead
    assert await store.feeds.set_public(CHANNEL, False) is None
    assert (await site.get(f"/feeds/daily/{token}.atom"))[0] == 404
    again = await store.feeds.set_public(CHANNEL, True)
    assert again is not None and again != token
    assert (await site.get(f"/feeds/daily/{token}.atom"))[0] == 404
    assert (await site.get(f"/feeds/daily/{again}.atom"))[0] == 200
    # /daily off deletes the schedule, and the feed with it
    await store.schedules.delete(CHANNEL, now=NOW)
    assert (await site.get(f"/feeds/daily/{again}.atom"))[0] == 404


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/daily/guess.atom",
        "/feeds/daily/.atom",
        "/feeds/daily/" + "a" * 65 + ".atom",
        "/feeds/daily/%27%20OR%201=1--.atom",
        "/feeds/daily/abc",
    ],
)
async def test_unknown_feed_addresses_are_404(site: Site, store: Store, path: str) -> None:
    await _schedule(store, CHANNEL)
    await store.feeds.set_public(CHANNEL, True)
    status, _, body = await site.get(path)
    assert status == 404 and SECRET_TOPIC not in body


async def test_a_weekly_lists_papers_are_each_in_the_feed(site: Site, store: Store) -> None:
    """A weekly post is one message with several papers (its run's ``run_papers``): the feed
    lists each of them, with its own title and link, in the post's order."""
    await _schedule(store, CHANNEL, topic=None)
    papers = await store.papers.top_by_source_rank(5)
    pids = [await store.db.fetchval("SELECT pid FROM papers WHERE id = ?", (p.id,)) for p in papers]
    when = NOW - timedelta(days=1)
    run, _ = await store.schedules.create_run(
        channel_id=CHANNEL,
        guild_id=GUILD,
        run_key="2024-W22",
        nonce="pb-weekly",
        deadline=when + timedelta(hours=12),
        owner="test",
        leased_until=when + timedelta(minutes=5),
        now=when,
    )
    rows = [
        RunPaper(n, pid, p.id, p.title)
        for n, (pid, p) in enumerate(zip(pids, papers, strict=True), 1)
    ]
    title = f"{len(rows)} papers: {papers[0].title}"  # as bot/schedule/runner.py writes it
    assert await store.schedules.begin_send_list(run, rows, title=title, now=when)
    await store.schedules.mark_sent(
        run, message_id=1, thread_id=None, status="posted", note=None, notice=False, now=when
    )
    token = await store.feeds.set_public(CHANNEL, True)
    assert token is not None
    status, _, body = await site.get(f"/feeds/daily/{token}.atom")
    feed = feedparser.parse(body)
    assert status == 200 and not feed.bozo, feed.bozo_exception
    assert [e.link for e in feed.entries] == [f"{BASE_URL}/papers/{p.id}" for p in papers]
    assert [e.title for e in feed.entries] == [p.title for p in papers]
    assert len({e.id for e in feed.entries}) == len(papers)


# -- no server or member data ---------------------------------------------------------------------


async def test_no_server_or_member_data_appears_anywhere(site: Site, store: Store) -> None:
    await _schedule(store, CHANNEL)
    await _post(store.schedules, CHANNEL, "2024-05-31", "0704.0001", 1)
    tenth = (await store.papers.top_by_source_rank(10))[-1]
    for user in range(50):  # a server votes one paper to its top; the site's list is global
        await store.social.toggle_vote(GUILD, MEMBER + user, tenth.id)
    await store.social.toggle_save(MEMBER, "0704.0002")
    await store.alerts.add(
        guild_id=GUILD, user_id=MEMBER, query="wombatalert", origin_channel_id=CHANNEL
    )
    paths = [
        "/",
        "/search?q=diffusion",
        "/search?q=diffusion&sort=trending",
        f"/papers/{tenth.id}",
        "/papers/0704.0001",
        "/papers/0704.0002",
        "/api/search?q=diffusion&limit=100",
        "/api/search?q=zebrafish",
        f"/api/papers/{tenth.id}",
        "/api/trending?limit=50",
        "/feeds/trending.atom",
        "/healthz",
        "/api",
    ]
    for path in paths:
        status, _, body = await site.get(path)
        assert status == 200, path
        for private in (GUILD, CHANNEL, ADMIN, MEMBER, SECRET_TOPIC, "wombatalert", '"votes'):
            assert str(private) not in body, (path, private)
    _, data = await site.json("/api/trending?limit=10")
    assert data["papers"][-1]["id"] == tenth.id  # the server's votes did not move it
    assert "upvotes" in data["papers"][0] and "votes_here" not in data["papers"][0]


# -- /healthz ------------------------------------------------------------------------------------


async def test_healthz_reports_database_gateway_and_refresh_age(store: Store) -> None:
    await store.refresh.record_run(
        "hf", ok=True, new=1, updated=0, failed=0, at=NOW - timedelta(minutes=90)
    )
    connected = [True]
    async with serve(make_context(store, gateway=lambda: connected[0])) as site:
        status, data = await site.json("/healthz")
        assert status == 200
        assert data == {
            "status": "ok",
            "database": "readable",
            "gateway": "connected",
            "refresh": {
                "hf": {
                    "last_success": (NOW - timedelta(minutes=90)).isoformat(),
                    "age_seconds": 5400,
                }
            },
        }
        connected[0] = False
        status, data = await site.json("/healthz")
        assert status == 503 and data["status"] == "unhealthy" and data["gateway"] == "disconnected"

    async with serve(make_context(store)) as site:  # python -m bot web: no gateway to ask
        status, data = await site.json("/healthz")
        assert status == 200 and data["gateway"] == "not running"
        await store.db.close()  # the database goes away under the site
        status, data = await site.json("/healthz")
        assert status == 503 and data["database"] == "unreadable" and data["refresh"] == {}


async def test_text_xml_cannot_hold_is_dropped_from_feeds(site: Site, store: Store) -> None:
    """A stored title with characters XML 1.0 forbids (a vertical tab, U+FFFE) still makes a
    well-formed feed, without them."""
    from bot.models import Paper

    odd = Paper.create(
        title="Odd\x0bcharacters \ufffein a title",
        arxiv_id="2402.00001",
        abstract="Form\x0cfeed and \uffff too.",
        authors=["Null\x00Byte"],
    )
    await store.papers.upsert_many([odd], "jsonl")
    await _schedule(store, CHANNEL)
    await _post(store.schedules, CHANNEL, "2024-05-31", "2402.00001", 1)
    token = await store.feeds.set_public(CHANNEL, True)
    assert token is not None
    status, _, body = await site.get(f"/feeds/daily/{token}.atom")
    assert status == 200
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    (entry,) = feed.entries
    assert entry.title == "Odd characters in a title"
    assert entry.summary == "Form feed and too."
    assert [a.name for a in entry.authors] == ["NullByte"]
