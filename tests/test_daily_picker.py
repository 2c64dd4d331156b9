"""The daily pick: best trending score among papers matching the topic, never repeated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.schedule.picker import DailyPicker
from bot.store.database import Database
from bot.store.schedules import ScheduleRepo
from bot.store.signals import SignalRepo
from bot.store.social import SocialRepo
from bot.trending import NO_SERVER, TopicMatcher, Trending
from tests.daily_support import add_paper, add_ranked

NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
CH = 77


def trends(db: Database, matcher: TopicMatcher | None = None, **options: Any) -> Trending:
    return Trending(SignalRepo(db), SocialRepo(db), matcher, **options)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database(tmp_path / "bot.db").open()
    yield database
    await database.close()


async def mark_posted(repo: ScheduleRepo, channel: int, pids: list[int]) -> None:
    for i, pid in enumerate(pids):
        run, _ = await repo.create_run(
            channel_id=channel,
            guild_id=1,
            run_key=f"2024-04-{i + 1:02d}",
            nonce="n",
            deadline=NOW,
            owner=None,
            leased_until=NOW,
            now=NOW,
        )
        assert await repo.begin_send(run, pid=pid, paper_id=str(pid), title="t", now=NOW)


async def test_topic_pool_grows_when_the_first_matches_were_all_posted(db: Database) -> None:
    repo = ScheduleRepo(db)
    matched: list[str] = []
    pids = []
    for i in range(1, 8):
        pids.append(await add_paper(db, f"2404.{i:05d}", f"Graph networks part {i}", rank=i))
        matched.append(f"2404.{i:05d}")
    await add_ranked(db, 3)  # trending, but off-topic

    calls: list[int] = []

    async def matcher(topic: str, limit: int) -> list[str]:
        calls.append(limit)
        return matched[:limit]

    picker = DailyPicker(trends(db, matcher, topic_limit=2), repo)
    await mark_posted(repo, CH, pids[:5])
    picked = await picker.pick(guild_id=1, channel_id=CH, topic="graph", now=NOW)
    assert picked is not None and picked.id == "2404.00006"
    assert calls == [2, 8]  # looked further down the list once
    await mark_posted(repo, CH + 1, [])
    other = await picker.pick(guild_id=1, channel_id=CH + 1, topic="graph", now=NOW)
    assert other is not None and other.id == "2404.00001"


async def test_no_topic_falls_back_to_the_whole_store_beyond_the_shared_pool(
    db: Database,
) -> None:
    repo = ScheduleRepo(db)
    await add_ranked(db, 6)
    picker = DailyPicker(trends(db, pool_per_signal=2), repo)
    pool_ids = {s.id for s in await SignalRepo(db).pool(2)}
    posted = [s.pid for s in await SignalRepo(db).pool(2)]
    await mark_posted(repo, CH, posted)
    picked = await picker.pick(guild_id=1, channel_id=CH, topic=None, now=NOW)
    assert picked is not None and picked.id not in pool_ids
    everything = [int(r[0]) for r in await db.fetchall("SELECT pid FROM papers")]
    await mark_posted(repo, CH + 5, everything)
    assert await picker.pick(guild_id=1, channel_id=CH + 5, topic=None, now=NOW) is None


async def test_recency_and_upvotes_beat_an_old_list_position(db: Database) -> None:
    repo = ScheduleRepo(db)
    await add_paper(db, "2301.00001", "Old top of the list", rank=1, published=date(2023, 1, 1))
    await add_paper(db, "2404.30001", "Fresh and upvoted", upvotes=120, published=date(2024, 4, 30))
    picker = DailyPicker(trends(db), repo)
    picked = await picker.pick(guild_id=1, channel_id=CH, topic=None, now=NOW)
    assert picked is not None and picked.id == "2404.30001"


async def test_ranked_for_guild_counts_that_servers_votes(db: Database) -> None:
    await add_ranked(db, 5)
    pid5 = await db.fetchval("SELECT pid FROM papers WHERE id = '2405.00005'")
    stamp = (NOW - timedelta(hours=1)).isoformat(timespec="seconds")
    for user in range(4):
        await db.execute(
            "INSERT INTO votes(guild_id, user_id, pid, created_at) VALUES (9, ?, ?, ?)",
            (user, pid5, stamp),
        )
    picker = trends(db)
    top_here = await picker.ranked_for_guild(9, NOW, 3)
    top_elsewhere = await picker.ranked_for_guild(10, NOW, 3)
    assert top_here[0].id == "2405.00005"
    assert [s.id for s in top_elsewhere] == ["2405.00001", "2405.00002", "2405.00003"]


async def test_no_servers_list_counts_no_votes(db: Database) -> None:
    """NO_SERVER (the web site, DMs): nobody's votes, not even those an older PaperBot stored
    under guild 0 for 👍 in DMs."""
    await add_ranked(db, 5)
    pid5 = await db.fetchval("SELECT pid FROM papers WHERE id = '2405.00005'")
    stamp = (NOW - timedelta(hours=1)).isoformat(timespec="seconds")
    for user in range(40):
        await db.execute(
            "INSERT INTO votes(guild_id, user_id, pid, created_at) VALUES (?, ?, ?, ?)",
            (NO_SERVER, user, pid5, stamp),
        )
    top = await trends(db).ranked_for_guild(NO_SERVER, NOW, 3)
    assert [s.id for s in top] == ["2405.00001", "2405.00002", "2405.00003"]


async def test_topic_pools_are_a_bounded_lru(db: Database) -> None:
    repo = ScheduleRepo(db)
    await add_paper(db, "2404.00001", "Graph networks", rank=1)
    built: list[str] = []

    async def matcher(topic: str, limit: int) -> list[str]:
        built.append(topic)
        return ["2404.00001"]

    cache = trends(db, matcher, max_pools=8)
    picker = DailyPicker(cache, repo)
    await picker.pick(guild_id=1, channel_id=CH, topic="hot", now=NOW)
    for i in range(200):  # 200 channels with 200 different topics, "hot" picked in between
        await picker.pick(guild_id=1, channel_id=CH, topic=f"topic {i}", now=NOW)
        await picker.pick(guild_id=1, channel_id=CH, topic="hot", now=NOW)
        assert cache.pool_count <= 8
    # The pool used all along stayed cached (built once); the others were evicted in turn.
    assert built.count("hot") == 1
    await picker.pick(guild_id=1, channel_id=CH, topic="topic 0", now=NOW)
    assert built.count("topic 0") == 2


async def test_server_votes_are_a_bounded_lru_and_each_server_keeps_its_own(
    db: Database,
) -> None:
    # A process serving thousands of servers keeps the votes of at most max_vote_guilds of
    # them; an evicted server's votes are read again when it next needs them.
    await add_ranked(db, 30)
    pids = [
        int(r[0]) for r in await db.fetchall("SELECT pid FROM papers ORDER BY source_rank DESC")
    ]
    stamp = (NOW - timedelta(hours=1)).isoformat(timespec="seconds")
    for guild in range(1, 21):  # server g votes for the paper ranked last but g - 1
        for user in range(4):
            await db.execute(
                "INSERT INTO votes(guild_id, user_id, pid, created_at) VALUES (?, ?, ?, ?)",
                (guild, user, pids[guild - 1], stamp),
            )
    picker = trends(db, max_vote_guilds=5)
    for _ in range(2):
        for guild in range(1, 21):
            top = await picker.ranked_for_guild(guild, NOW, 1)
            assert top[0].pid == pids[guild - 1], guild
            assert picker.vote_guild_count <= 5
    assert picker.vote_guild_count == 5
