"""run_refresh end to end: the real aiohttp client, a local server serving the recorded
samples (and failing on purpose), a real SQLite store in tmp_path."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.fetch.http import Pacer, RetryPolicy
from bot.fetch.refresh import MAX_CATCHUP_DAYS, plan_days, run_refresh, select_sources
from bot.fetch.sources import ArxivSource, HfDailySource
from bot.store import Store
from tests.fakesources import FakeSources, FakeTime, hf_items, with_upvotes

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 3, 25)
FEATURED = "2026-03-23"  # the day the recorded daily papers were on the list
HF_IDS = [item["paper"]["id"] for item in hf_items()]
POLICY = RetryPolicy(timeout=2.0, attempts=3, backoff=1.0)


@pytest.fixture
async def server() -> AsyncIterator[FakeSources]:
    fake = await FakeSources().start()
    fake.hf_days[FEATURED] = with_upvotes(hf_items(), [10, 20, 30, 40, 50])
    yield fake
    await fake.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "paperbot.db")
    yield s
    await s.close()


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def settings_for(server: FakeSources, **changes: object) -> Settings:
    base = Settings(
        hf_api_base=server.base,
        arxiv_api_base=server.base,
        contact="ops@example.org",
        arxiv_categories=("cs.LG", "cs.SE"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def refresh(store: Store, server: FakeSources, clock: FakeTime, **kw: object):  # type: ignore[no-untyped-def]
    settings = kw.pop("settings", None) or settings_for(server)
    kw.setdefault("today", TODAY)
    return await run_refresh(
        store,
        settings,
        policy=POLICY,
        sleep=clock.sleep,
        clock=clock.clock,
        **kw,  # type: ignore[arg-type]
    )


def hf_dates(server: FakeSources) -> list[str]:
    """The days asked for, in order (each once, whatever the pages)."""
    return list(dict.fromkeys(r.query["date"] for r in server.requests("hf")))


# -- Hugging Face ----------------------------------------------------------------------------


async def test_first_run_imports_the_recent_days(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    (report,) = await refresh(store, server, clock)
    assert report.ok, report.errors
    assert (report.new, report.updated, report.failed) == (5, 0, 0)
    assert hf_dates(server) == ["2026-03-23", "2026-03-24", "2026-03-25"]  # 3 recent days
    assert report.cursor == TODAY
    assert await store.refresh.cursor("hf") == TODAY
    paper = await store.papers.get(HF_IDS[4])
    assert paper is not None and paper.upvotes == 50
    assert paper.title.startswith(hf_items()[4]["paper"]["title"][:20])
    assert set(await store.refresh.last_success()) == {"hf"}
    ua = server.log[0].headers["User-Agent"]
    assert ua.startswith("PaperBot/") and "mailto:ops@example.org" in ua


async def test_unchanged_day_costs_a_304(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    await refresh(store, server, clock)
    server.log.clear()
    (report,) = await refresh(store, server, clock)
    assert report.ok
    assert report.not_modified == 2 and (report.new, report.updated) == (0, 0)  # 2 pages
    assert server.log[0].headers.get("If-None-Match")
    assert server.log[0].status == 304


async def test_upvotes_of_recent_days_are_refreshed(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    await refresh(store, server, clock)
    server.hf_days[FEATURED] = with_upvotes(hf_items(), [10, 20, 30, 40, 99])
    (report,) = await refresh(store, server, clock)  # later the same day
    assert report.ok and report.new == 0 and report.updated >= 1
    assert FEATURED in hf_dates(server)[-3:]  # still within the 3 recent days
    paper = await store.papers.get(HF_IDS[4])
    assert paper is not None and paper.upvotes == 99


async def test_pages_through_a_long_day(
    store: Store, server: FakeSources, clock: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HfDailySource, "page_size", 2)
    (report,) = await refresh(store, server, clock, since=FEATURED, today=date(2026, 3, 23))
    assert report.new == 5
    pages = [r.query["p"] for r in server.requests("hf") if r.query["date"] == FEATURED]
    assert pages == ["0", "1", "2", "3"]  # 2 + 2 + 1 papers, then an empty page


async def test_weekend_404_is_an_empty_day_not_a_failure(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    (report,) = await refresh(store, server, clock)
    assert [r.status for r in server.requests("hf")] == [200, 200, 404, 404]  # 2 pages
    assert report.ok and report.failed_days == 0


async def test_source_down_never_raises_nor_touches_the_store(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    server.fail("status", status=500, times=100)
    (report,) = await refresh(store, server, clock)
    assert not report.ok
    assert "HTTP 500" in report.errors[0] and "after 3 attempts" in report.errors[0]
    assert report.new == 0 and await store.papers.count() == 0
    assert await store.refresh.cursor("hf") is None
    assert await store.refresh.last_success() == {}
    state = await store.refresh.state("hf")
    assert state is not None and state.last_error and "HTTP 500" in state.last_error
    assert len(server.requests("hf")) == 3  # stopped at the first day, did not hammer the rest


async def test_html_instead_of_json_fails_that_day_only(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    server.hf_days["2026-03-24"] = hf_items()[:2]
    server.hf_days["2026-03-25"] = hf_items()[2:]
    server.fail("html", match=lambda r: r.query.get("date") == "2026-03-24")
    (report,) = await refresh(store, server, clock, since="2026-03-23")
    assert not report.ok and report.failed_days == 1
    assert "HTML" in report.errors[0]
    assert report.new == 5  # 03-23 and 03-25 stored
    assert await store.refresh.cursor("hf") == date(2026, 3, 23)  # not past the bad day
    # Next run: the server is fine again; the bad day is read again and the cursor moves on.
    server.log.clear()
    (again,) = await refresh(store, server, clock)
    assert again.ok and "2026-03-24" in hf_dates(server)
    assert await store.refresh.cursor("hf") == TODAY


async def test_truncated_json_stores_nothing_from_that_day(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    server.fail("garbage", match=lambda r: r.query.get("date") == FEATURED)
    (report,) = await refresh(store, server, clock)
    assert not report.ok and "invalid JSON" in report.errors[0]
    assert await store.papers.count() == 0
    assert await store.refresh.cursor("hf") is None


async def test_429_with_retry_after_is_waited_out(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    server.fail("status", status=429, headers={"Retry-After": "12"})
    (report,) = await refresh(store, server, clock)
    assert report.ok and report.new == 5
    # At least what the server asked for, plus up to 10% of jitter (the other sleeps: pacing).
    assert [s for s in clock.sleeps if s > 1.0] == [pytest.approx(12.6, abs=0.6)]


async def test_slow_source_times_out_and_is_reported(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    server.fail("slow", delay=3.0, times=10)
    policy = RetryPolicy(timeout=0.2, attempts=2, backoff=1.0)
    settings = settings_for(server)
    started = asyncio.get_running_loop().time()
    (report,) = await run_refresh(
        store, settings, today=TODAY, policy=policy, sleep=clock.sleep, clock=clock.clock
    )
    assert asyncio.get_running_loop().time() - started < 2.5
    assert not report.ok and "no answer within 0.2 s" in report.errors[0]
    assert await store.papers.count() == 0


async def test_resumes_where_the_last_run_stopped(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    for day in ("2026-03-20", "2026-03-21", "2026-03-22"):
        server.hf_days[day] = hf_items()[:1]
    server.fail("status", status=503, times=3, match=lambda r: r.query.get("date") == "2026-03-22")
    (first,) = await refresh(store, server, clock, since="2026-03-20")
    assert not first.ok and first.cursor == date(2026, 3, 21)
    assert hf_dates(server)[-1] == "2026-03-22"  # stopped there
    server.log.clear()
    (second,) = await refresh(store, server, clock)
    assert second.ok
    assert hf_dates(server)[0] == "2026-03-22"  # from the day after the cursor, not 03-20
    assert second.cursor == TODAY


# -- arXiv -----------------------------------------------------------------------------------


@pytest.fixture
def arxiv_days(server: FakeSources, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setattr(ArxivSource, "page_size", 25)
    entries = server.arxiv.entries
    server.arxiv_days["2026-03-24"] = entries[:60]
    server.arxiv_days["2026-03-25"] = entries[60:100]
    return server.arxiv.ids(entries[:100])


async def test_arxiv_pages_each_day_politely(
    store: Store, server: FakeSources, clock: FakeTime, arxiv_days: list[str]
) -> None:
    server.clock = clock.clock
    (report,) = await refresh(store, server, clock, sources=["arxiv"])
    assert report.ok, report.errors
    assert report.new == len(set(arxiv_days)) == 100
    reqs = server.requests("arxiv")
    # 5 recent days: 3 empty days, then 60 (3 pages of 25) and 40 (2 pages).
    assert len(reqs) == 3 + 3 + 2 == report.requests
    query = reqs[0].query["search_query"]
    assert query == "(cat:cs.LG OR cat:cs.SE) AND submittedDate:[202603210000 TO 202603212359]"
    assert [r.query["start"] for r in reqs[3:6]] == ["0", "25", "50"]
    gaps = [b.at - a.at for a, b in itertools.pairwise(reqs)]
    assert min(gaps) >= 3.0  # arXiv's terms: 3 s between requests (on the injected clock)
    assert server.max_in_flight["arxiv"] == 1
    assert "mailto:ops@example.org" in reqs[0].headers["User-Agent"]
    paper = await store.papers.get(arxiv_days[0])
    assert paper is not None and paper.abstract


async def test_arxiv_runs_never_overlap_on_the_shared_pacer(
    tmp_path: Path, server: FakeSources, clock: FakeTime, arxiv_days: list[str]
) -> None:
    pacer = Pacer(3.0, clock=clock.clock, sleep=clock.sleep)
    server.clock = clock.clock
    stores = [await Store.open(tmp_path / f"s{i}.db") for i in range(2)]
    try:
        settings = settings_for(server)
        results = await asyncio.gather(
            *(
                run_refresh(
                    s,
                    settings,
                    sources=["arxiv"],
                    today=TODAY,
                    policy=POLICY,
                    sleep=clock.sleep,
                    arxiv_pacer=pacer,
                )
                for s in stores
            )
        )
        assert all(r[0].ok and r[0].new == 100 for r in results)
        reqs = server.requests("arxiv")
        assert len(reqs) == 16 and server.max_in_flight["arxiv"] == 1
        assert min(b.at - a.at for a, b in itertools.pairwise(reqs)) >= 3.0
    finally:
        for s in stores:
            await s.close()


async def test_arxiv_is_not_due_again_within_hours(
    store: Store, server: FakeSources, clock: FakeTime, arxiv_days: list[str]
) -> None:
    settings = settings_for(server, refresh_arxiv=True)
    first = await refresh(store, server, clock, settings=settings, due_only=True)
    assert [r.source for r in first] == ["hf", "arxiv"] and all(r.ok for r in first)
    server.log.clear()
    second = await refresh(store, server, clock, settings=settings, due_only=True)
    hf, arxiv = second
    assert hf.skipped is None and arxiv.skipped and "6 h" in arxiv.skipped
    assert server.requests("arxiv") == []
    # By hand (not due_only) it runs whatever the time.
    (manual,) = await refresh(store, server, clock, settings=settings, sources=["arxiv"])
    assert manual.skipped is None and manual.requests > 0
    assert set(await store.refresh.last_success()) == {"hf", "arxiv"}


async def test_arxiv_error_feed_is_a_failed_day(
    store: Store, server: FakeSources, clock: FakeTime, arxiv_days: list[str]
) -> None:
    error_feed = (
        b'<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        b"<entry><id>http://arxiv.org/api/errors#incorrect_id_format</id><title>Error</title>"
        b"<summary>incorrect id format</summary></entry></feed>"
    )
    server.fail(
        "garbage", body=error_feed, match=lambda r: "20260324" in r.query.get("search_query", "")
    )
    (report,) = await refresh(store, server, clock, sources=["arxiv"])
    assert not report.ok and report.failed_days == 1
    assert report.new == 40  # 03-25 still stored
    assert await store.refresh.cursor("arxiv") == date(2026, 3, 23)


# -- selection and planning -------------------------------------------------------------------


def test_sources_follow_the_switches_unless_named() -> None:
    assert select_sources(Settings(), None) == ["hf"]
    assert select_sources(Settings(refresh_hf=False), None) == []
    assert select_sources(Settings(refresh_arxiv=True), None) == ["hf", "arxiv"]
    assert select_sources(Settings(refresh_arxiv=False), ["arxiv"]) == ["arxiv"]
    with pytest.raises(ValueError, match="unknown source"):
        select_sources(Settings(), ["reddit"])


async def test_bad_since_is_a_value_error(store: Store) -> None:
    with pytest.raises(ValueError, match="--since must be a date"):
        await run_refresh(store, Settings(), since="last week")


def test_plan_days() -> None:
    d = date(2026, 3, 25)
    assert plan_days(d, None, recent_days=3) == [date(2026, 3, 23), date(2026, 3, 24), d]
    # Cursor yesterday: still the 3 recent days.
    assert plan_days(d, date(2026, 3, 24), recent_days=3)[0] == date(2026, 3, 23)
    # Cursor a week back: from the day after it.
    assert plan_days(d, date(2026, 3, 18), recent_days=3)[0] == date(2026, 3, 19)
    # After a long outage: not more than MAX_CATCHUP_DAYS back...
    assert plan_days(d, date(2025, 1, 1), recent_days=3)[0] == d - timedelta(days=MAX_CATCHUP_DAYS)
    # ...unless asked.
    assert plan_days(d, None, recent_days=3, since=date(2026, 1, 1))[0] == date(2026, 1, 1)
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\d", x.isoformat()) for x in plan_days(d, None, recent_days=1)
    )


async def test_withdrawn_papers_are_removed(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    await refresh(store, server, clock)
    assert await store.papers.get(HF_IDS[0]) is not None
    items = hf_items()
    items[0]["paper"]["withdrawnAt"] = "2026-03-24T10:00:00.000Z"
    server.hf_days[FEATURED] = items
    (report,) = await refresh(store, server, clock)
    assert report.ok and report.withdrawn == 1 and "1 withdrawn" in report.summary()
    assert await store.papers.get(HF_IDS[0]) is None
    assert await store.papers.count() == 4


async def test_one_run_per_source_across_processes(
    tmp_path: Path, server: FakeSources, clock: FakeTime
) -> None:
    # Two connections to one database stand for the bot and `python -m bot fetch`.
    db = tmp_path / "shared.db"
    bot_side, cli_side = await Store.open(db), await Store.open(db)
    try:
        server.fail("slow", delay=0.3)  # keep the first run busy for a moment
        first = asyncio.create_task(refresh(bot_side, server, clock))
        await asyncio.sleep(0.1)
        (second,) = await refresh(cli_side, server, clock)
        assert second.skipped == "another refresh of this source is running"
        ((done,),) = [await first]
        assert done.ok and done.new == 5
        # The lease is released: the next run goes ahead.
        (third,) = await refresh(cli_side, server, clock)
        assert third.skipped is None and third.ok
        # A lease left behind by a crashed run expires.
        past = datetime.now(UTC) - timedelta(minutes=1)
        assert await cli_side.refresh.acquire("hf", "crashed", past)
        (fourth,) = await refresh(cli_side, server, clock)
        assert fourth.skipped is None
    finally:
        await bot_side.close()
        await cli_side.close()


def _lease_owner(db: Path, source: str) -> str | None:
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT running_owner FROM refresh_state WHERE source = ?", (source,)
            ).fetchone()
    except sqlite3.Error:  # not made yet
        return None
    return None if row is None else row[0]


async def test_a_lease_left_by_a_killed_fetch_is_taken_over_but_a_live_ones_is_not(
    tmp_path: Path, server: FakeSources, clock: FakeTime
) -> None:
    # A real `python -m bot fetch hf` holds the lease of hf, stuck on a slow answer.
    db = tmp_path / "shared.db"
    (tmp_path / "empty.env").touch()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "DISCORD_"))}
    env.update(
        PAPERBOT_DATABASE=str(db),
        PAPERBOT_DATA_DIR=str(tmp_path),
        PAPERBOT_HF_API=server.base,
        PAPERBOT_SEMANTIC="false",
        PAPERBOT_CONTACT="ops@example.org",
    )
    slow = server.fail("slow", delay=60.0, times=100)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--env-file",
        str(tmp_path / "empty.env"),
        "fetch",
        "hf",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if _lease_owner(db, "hf") and server.requests("hf"):
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the fetch never took the lease")
        slow.times = 0
        async with await Store.open(db) as store:
            # Alive: its lease is respected.
            (report,) = await refresh(store, server, clock)
            assert report.skipped == "another refresh of this source is running"
            # Killed mid-run (SIGKILL: no clean-up): the restart runs at once, not in 30 min.
            child.send_signal(signal.SIGKILL)
            await child.wait()
            (report,) = await refresh(store, server, clock)
            assert report.skipped is None, "a dead process's lease blocked the refresh"
            assert report.ok and report.new == 5
            assert _lease_owner(db, "hf") is None
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


# -- bad records and bad days never stall the refresh -----------------------------------------


async def test_an_out_of_range_value_skips_that_record_not_the_run(
    store: Store, server: FakeSources, clock: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    # One paper with more upvotes than SQLite's integers hold used to abort the whole run,
    # every run, so the cursor never moved for 14 days.
    server.hf_days[FEATURED] = with_upvotes(hf_items(), [10, 20, 10_000_000_000_000_000_000])
    server.hf_days["2026-03-24"] = hf_items()[:1]
    with caplog.at_level("WARNING", logger="bot.fetch"):
        (report,) = await refresh(store, server, clock)
    assert report.ok, report.errors
    assert (report.new, report.rejected, report.failed_days) == (4, 1, 0)
    assert await store.papers.get(HF_IDS[2]) is None
    assert (await store.papers.get(HF_IDS[1])).upvotes == 20  # type: ignore[union-attr]
    assert await store.refresh.cursor("hf") == TODAY
    state = await store.refresh.state("hf")
    assert state is not None and state.last_failed == 1 and state.last_error is None
    assert "1 failed" in report.summary()
    warned = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert any(
        FEATURED in m and HF_IDS[2] in m and "'paper.upvotes'" in m and "out of range" in m
        for m in warned
    ), warned


async def test_a_day_that_cannot_be_stored_never_blocks_the_others(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    server.hf_days = {
        "2026-03-23": hf_items()[:2],
        "2026-03-24": hf_items()[2:4],
        "2026-03-25": hf_items()[4:],
    }
    # A real SQLite failure (not a parse error) for one paper of 03-24.
    poisoned = hf_items()[2]["paper"]["id"]
    await store.db.execute(
        f"CREATE TRIGGER poison BEFORE INSERT ON papers WHEN NEW.id = '{poisoned}' "
        "BEGIN SELECT RAISE(ABORT, 'the disk is on fire'); END"
    )
    (first,) = await refresh(store, server, clock)
    assert not first.ok and first.failed_days == 1
    assert "2026-03-24" in first.errors[0] and "the disk is on fire" in first.errors[0]
    assert first.days == [date(2026, 3, 23), date(2026, 3, 25)]  # the days after it still ran
    assert first.new == 3 and await store.papers.count() == 3
    # The cursor stays before the bad day, so the next run reads it again...
    assert await store.refresh.cursor("hf") == date(2026, 3, 23)
    # ...and once the cause is gone, it is imported and the cursor catches up.
    await store.db.execute("DROP TRIGGER poison")
    server.log.clear()
    (second,) = await refresh(store, server, clock)
    assert second.ok and second.new == 2
    assert "2026-03-24" in hf_dates(server)
    assert await store.refresh.cursor("hf") == TODAY
    assert await store.papers.count() == 5


async def test_a_bad_day_is_retried_until_it_leaves_the_catch_up_window(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    bad = "2026-03-20"
    server.hf_days[bad] = hf_items()[:1]
    server.fail("html", times=1000, match=lambda r: r.query.get("date") == bad)
    (report,) = await refresh(store, server, clock, since="2026-03-19")
    assert report.failed_days == 1 and await store.refresh.cursor("hf") == date(2026, 3, 19)
    # Every run while it is within MAX_CATCHUP_DAYS reads it again (and the days after it).
    later = date.fromisoformat(bad) + timedelta(days=MAX_CATCHUP_DAYS)
    server.log.clear()
    (again,) = await refresh(store, server, clock, today=later)
    assert bad in hf_dates(server) and again.failed_days == 1
    # Past the window it is given up: the run starts after it and the cursor moves on.
    server.log.clear()
    (past,) = await refresh(store, server, clock, today=later + timedelta(days=1))
    assert bad not in hf_dates(server) and past.ok
    assert await store.refresh.cursor("hf") == later + timedelta(days=1)


async def test_a_day_read_again_replaces_that_days_ranks_only(
    store: Store, server: FakeSources, clock: FakeTime
) -> None:
    server.hf_days["2026-03-24"] = hf_items()[:1]  # the first paper is on two days' lists
    await refresh(store, server, clock)
    ranked = await store.db.fetchall(
        "SELECT id, source_rank, rank_list FROM papers WHERE source_rank IS NOT NULL"
    )
    assert len(ranked) == 5
    # Later the same day, the 23rd's list holds only its last two papers, in a new order.
    server.hf_days[FEATURED] = with_upvotes(list(reversed(hf_items()[3:])), [5, 6])
    await refresh(store, server, clock)
    now = {
        r["id"]: (r["source_rank"], r["rank_list"])
        for r in await store.db.fetchall(
            "SELECT id, source_rank, rank_list FROM papers WHERE source_rank IS NOT NULL"
        )
    }
    assert now == {
        HF_IDS[4]: (1, f"hf:{FEATURED}"),
        HF_IDS[3]: (2, f"hf:{FEATURED}"),
        HF_IDS[0]: (1, "hf:2026-03-24"),  # on the 24th's list: its rank stays
    }
    assert await store.papers.count() == 5  # unranked, not removed
