"""The refresher's HTTP layer against a real local server: retries, back-off, Retry-After,
timeouts, truncated bodies, conditional requests, pacing and the User-Agent."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest

from bot.config import Settings
from bot.fetch.http import (
    Fetcher,
    FetchError,
    Pacer,
    RetryPolicy,
    build_url,
    retry_after_seconds,
    user_agent,
)
from bot.store.refresh import Validators
from tests.fakesources import FakeSources, FakeTime, hf_items

FAST = RetryPolicy(timeout=2.0, attempts=3, backoff=2.0)


@pytest.fixture
async def server() -> AsyncIterator[FakeSources]:
    fake = await FakeSources().start()
    fake.hf_days["2026-03-23"] = hf_items()
    yield fake
    await fake.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def url(server: FakeSources, day: str = "2026-03-23") -> str:
    return build_url(server.base, "/api/daily_papers", {"date": day, "limit": 100, "p": 0})


async def test_200_returns_body_and_validators(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    fetcher = Fetcher(session, agent="PaperBot/test", policy=FAST)
    resp = await fetcher.get(url(server))
    assert resp.status == 200
    assert b"Effective Strategies for Asynchronous" in resp.body
    assert resp.validators.etag and resp.validators.etag.startswith('"')
    assert fetcher.requests == 1
    assert server.log[0].headers["User-Agent"] == "PaperBot/test"


async def test_etag_gives_304_without_body(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    fetcher = Fetcher(session, agent="t", policy=FAST)
    first = await fetcher.get(url(server))
    second = await fetcher.get(url(server), validators=first.validators)
    assert second.not_modified and second.body == b""
    assert server.log[1].headers["If-None-Match"] == first.validators.etag
    assert fetcher.not_modified == 1
    # A stale validator gets the full answer again.
    third = await fetcher.get(url(server), validators=Validators(etag='"old"'))
    assert third.status == 200 and third.body == first.body


async def test_500_then_200_is_retried_with_backoff(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    clock = FakeTime()
    server.fail("status", status=500, times=2)
    fetcher = Fetcher(session, agent="t", policy=FAST, sleep=clock.sleep, rand=lambda: 1.0)
    resp = await fetcher.get(url(server))
    assert resp.status == 200
    assert [r.status for r in server.log] == [500, 500, 200]
    assert clock.sleeps == [2.0, 4.0]  # exponential (the top of each jitter range)


async def test_gives_up_after_the_last_attempt(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    clock = FakeTime()
    server.fail("status", status=503, times=10)
    fetcher = Fetcher(session, agent="t", policy=FAST, sleep=clock.sleep)
    with pytest.raises(FetchError) as info:
        await fetcher.get(url(server))
    assert info.value.status == 503
    assert "after 3 attempts" in info.value.reason
    assert len(server.log) == 3


async def test_429_honours_retry_after(server: FakeSources, session: aiohttp.ClientSession) -> None:
    clock = FakeTime()
    server.fail("status", status=429, headers={"Retry-After": "7"})
    fetcher = Fetcher(session, agent="t", policy=FAST, sleep=clock.sleep, rand=lambda: 0.0)
    resp = await fetcher.get(url(server))
    assert resp.status == 200
    assert clock.sleeps == [7.0]


async def test_429_asking_for_too_long_a_pause_ends_the_run(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    clock = FakeTime()
    server.fail("status", status=429, headers={"Retry-After": "3600"})
    fetcher = Fetcher(session, agent="t", policy=FAST, sleep=clock.sleep)
    with pytest.raises(FetchError, match="asked to wait 3600 s"):
        await fetcher.get(url(server))
    assert clock.sleeps == [] and len(server.log) == 1


async def test_404_is_an_answer_not_an_error(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    fetcher = Fetcher(session, agent="t", policy=FAST)
    resp = await fetcher.get(url(server, "2026-03-21"))
    assert resp.not_found and len(server.log) == 1


async def test_other_4xx_fails_at_once(server: FakeSources, session: aiohttp.ClientSession) -> None:
    server.fail("status", status=403)
    fetcher = Fetcher(session, agent="t", policy=FAST)
    with pytest.raises(FetchError) as info:
        await fetcher.get(url(server))
    assert info.value.status == 403 and len(server.log) == 1


async def test_slow_answer_times_out_then_retries(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    clock = FakeTime()
    server.fail("slow", delay=5.0)
    policy = RetryPolicy(timeout=0.3, attempts=2, backoff=1.0)
    fetcher = Fetcher(session, agent="t", policy=policy, sleep=clock.sleep)
    started = asyncio.get_running_loop().time()
    resp = await fetcher.get(url(server))
    elapsed = asyncio.get_running_loop().time() - started
    assert resp.status == 200
    assert clock.sleeps == [1.0]
    assert elapsed < 2.0  # the timeout cut the 5 s answer short


async def test_slow_every_time_fails_with_a_timeout(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    clock = FakeTime()
    server.fail("slow", delay=5.0, times=5)
    policy = RetryPolicy(timeout=0.2, attempts=2, backoff=1.0)
    fetcher = Fetcher(session, agent="t", policy=policy, sleep=clock.sleep)
    with pytest.raises(FetchError, match=r"no answer within 0\.2 s"):
        await fetcher.get(url(server))


async def test_truncated_body_is_retried(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    clock = FakeTime()
    server.fail("truncate")
    fetcher = Fetcher(session, agent="t", policy=FAST, sleep=clock.sleep, rand=lambda: 1.0)
    resp = await fetcher.get(url(server))
    assert resp.status == 200 and resp.body.rstrip().endswith(b"]")
    assert len(server.log) == 2 and clock.sleeps == [2.0]


async def test_oversized_answer_is_refused(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    fetcher = Fetcher(session, agent="t", policy=replace(FAST, max_bytes=100))
    with pytest.raises(FetchError, match="too large"):
        await fetcher.get(url(server))


async def test_pacer_spaces_requests_and_allows_one_at_a_time(
    session: aiohttp.ClientSession,
) -> None:
    clock = FakeTime()
    server = await FakeSources(clock=clock.clock).start()
    try:
        pacer = Pacer(3.0, clock=clock.clock, sleep=clock.sleep)
        fetcher = Fetcher(session, agent="t", policy=FAST, sleep=clock.sleep)
        target = build_url(
            server.base, "/api/query", {"search_query": "all:testing", "max_results": 5}
        )
        await asyncio.gather(*(fetcher.get(target, pacer=pacer) for _ in range(4)))
        times = [r.at for r in server.requests("arxiv")]
        assert len(times) == 4
        assert all(b - a >= 3.0 for a, b in itertools.pairwise(times))
        assert server.max_in_flight["arxiv"] == 1
    finally:
        await server.stop()


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("120") == 120.0
    assert (
        retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now)
        == 90.0
    )
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_user_agent_identifies_the_bot_and_its_operator() -> None:
    assert user_agent(Settings()).startswith("PaperBot/0.1.0 (+https://")
    agent = user_agent(Settings(contact="ops@example.org"))
    assert agent.endswith("; mailto:ops@example.org)")
    assert "https://example.org/bot" in user_agent(Settings(contact="https://example.org/bot"))


def test_build_url_is_stable_and_readable() -> None:
    got = build_url(
        "http://h/",
        "/api/query",
        {"search_query": "cat:cs.LG AND submittedDate:[202601010000 TO 202601012359]", "start": 0},
    )
    assert (
        got
        == "http://h/api/query?search_query=cat:cs.LG+AND+submittedDate:[202601010000+TO+202601012359]&start=0"
    )


# -- Retry-After and back-off: floored, capped, jittered ---------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("2.5", 2.5),
        ("nan", None),
        ("NaN", None),
        ("inf", math.inf),
        ("-inf", 0.0),
        ("1e400", math.inf),
        ("9" * 400, math.inf),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past
        ("Wed, 01 Apr 2026 12:01:30 GMT", 90.0),
        ("Wed, 01 Apr 2026 12:01:30", 90.0),  # no zone: GMT, as HTTP dates are
        ("Wed, 01 Apr 99999 12:01:30 GMT", None),
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_every_form(header: str, seconds: float | None) -> None:
    now = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(header, now=now) == seconds


def test_backoff_is_fully_jittered_between_a_floor_and_a_cap() -> None:
    policy = RetryPolicy(backoff=2.0, backoff_max=60.0, min_delay=1.0)
    low, high = (lambda: 0.0), (lambda: 1.0)
    # Full jitter: anywhere from the floor up to the exponential ceiling, which is capped.
    assert [policy.delay(n, rand=high) for n in (1, 2, 3, 4, 5, 6, 7)] == [
        2.0,
        4.0,
        8.0,
        16.0,
        32.0,
        60.0,
        60.0,
    ]
    assert [policy.delay(n, rand=low) for n in (1, 2, 6)] == [1.0, 1.0, 1.0]
    assert policy.delay(3, rand=lambda: 0.5) == 1.0 + 0.5 * (8.0 - 1.0)
    assert policy.delay(10_000, rand=high) == 60.0  # no overflow on a silly attempt count
    # A tiny backoff still waits the floor.
    assert RetryPolicy(backoff=0.01, min_delay=1.0).delay(1, rand=low) == 1.0


def test_retry_after_is_a_lower_bound_with_jitter_on_top() -> None:
    policy = RetryPolicy(min_delay=1.0, max_retry_after=300.0)
    assert policy.delay(1, retry_after=7.0, rand=lambda: 0.0) == 7.0
    assert policy.delay(1, retry_after=7.0, rand=lambda: 1.0) == pytest.approx(7.7)
    assert policy.delay(1, retry_after=0.0, rand=lambda: 0.0) == 1.0  # "Retry-After: 0"
    assert policy.delay(1, retry_after=299.0, rand=lambda: 1.0) == 300.0  # capped


def test_many_clients_spread_their_retries() -> None:
    policy = RetryPolicy(backoff=2.0, backoff_max=60.0, min_delay=1.0)
    rng = random.Random(9)
    waits = [policy.delay(4, rand=rng.random) for _ in range(200)]
    assert all(1.0 <= w <= 16.0 for w in waits)
    assert max(waits) - min(waits) > 10.0  # not in lockstep
    assert len({round(w, 3) for w in waits}) > 150


@pytest.mark.parametrize("header", ["0", "-3", "nan", "Wed, 21 Oct 2015 07:28:00 GMT"])
async def test_a_retry_after_of_zero_or_nonsense_never_hammers(
    server: FakeSources, session: aiohttp.ClientSession, header: str
) -> None:
    clock = FakeTime()
    server.fail("status", status=503, times=2, headers={"Retry-After": header})
    fetcher = Fetcher(session, agent="t", policy=FAST, sleep=clock.sleep, rand=lambda: 0.0)
    resp = await fetcher.get(url(server))
    assert resp.status == 200 and len(server.log) == 3
    assert len(clock.sleeps) == 2 and all(s >= 1.0 for s in clock.sleeps), clock.sleeps


async def test_retry_after_infinity_ends_the_run(
    server: FakeSources, session: aiohttp.ClientSession
) -> None:
    clock = FakeTime()
    server.fail("status", status=429, headers={"Retry-After": "inf"})
    fetcher = Fetcher(session, agent="t", policy=FAST, sleep=clock.sleep)
    with pytest.raises(FetchError, match="asked to wait"):
        await fetcher.get(url(server))
    assert clock.sleeps == [] and len(server.log) == 1
