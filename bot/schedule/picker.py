"""Which paper a channel gets today (or which papers this week): the best trending scores
(:mod:`bot.trending`) among papers that match its topic and were never posted there.

With many channels due in the same minute the expensive part (the ranked pool) is shared
through the cache of :class:`~bot.trending.Trending`; what differs per channel (papers
already posted there, the server's own votes) is applied per pick.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from bot import ranking
from bot.store.schedules import ScheduleRepo
from bot.store.signals import PaperSignals
from bot.trending import Pool, Trending, Votes, candidate

log = logging.getLogger(__name__)


class DailyPicker:
    """Picks for the daily runner: *trending* ranks, *schedules* knows what was posted."""

    def __init__(self, trending: Trending, schedules: ScheduleRepo) -> None:
        self.trending = trending
        self.schedules = schedules

    def invalidate(self) -> None:
        """Forget the cached ranking (a picked paper left the store)."""
        self.trending.invalidate()

    async def pick(
        self,
        *,
        guild_id: int,
        channel_id: int,
        topic: str | None,
        now: datetime,
        exclude: Collection[int] = (),
    ) -> PaperSignals | None:
        """The best paper for the channel now, never one posted there (nor in *exclude*)."""
        topic = topic.strip() if topic else None
        posted = await self.schedules.posted_pids(channel_id) | set(exclude)
        votes = await self.trending.votes(guild_id, now)
        pool = await self.trending.pool(topic, now)
        if topic is None:
            pool.by_pid.update(
                (s.pid, s) for s in await self.trending.voted_outside(pool, votes, posted)
            )
        while True:
            best = _best(pool, posted, votes, now)
            if best is not None:
                return best
            if pool.complete:
                return None
            if topic is None:
                # Everything in the shared pool was posted here: ask the store directly.
                pool = await self.trending.unposted_pool(channel_id, now)
                if not pool.by_pid:
                    return None
                continue
            # A topic whose first matches were all posted here: look further down the list.
            pool = await self.trending.deeper(topic, now, pool)

    async def pick_many(
        self, *, guild_id: int, channel_id: int, topic: str | None, now: datetime, count: int
    ) -> list[PaperSignals]:
        """The *count* best papers for the channel now (fewer when fewer are left), best
        first: the week's top papers of a weekly post."""
        picked: list[PaperSignals] = []
        while len(picked) < count:
            best = await self.pick(
                guild_id=guild_id,
                channel_id=channel_id,
                topic=topic,
                now=now,
                exclude={p.pid for p in picked},
            )
            if best is None:
                break
            picked.append(best)
        return picked


def _best(pool: Pool, posted: set[int], votes: Votes, now: datetime) -> PaperSignals | None:
    # Papers without votes keep their cached order: the first one not posted is the best
    # of them. Papers with votes here are scored at *now* with their votes.
    contenders: list[ranking.Candidate] = []
    for cand in pool.ranked:
        if cand.pid not in posted and cand.pid not in votes:
            contenders.append(cand)
            break
    for pid, cast in votes.items():
        signals = pool.by_pid.get(pid)
        if signals is not None and pid not in posted:
            contenders.append(candidate(signals, cast))
    if not contenders:
        return None
    winner = ranking.rank(contenders, now)[0]
    return pool.by_pid[winner.pid]
