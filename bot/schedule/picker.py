"""Which paper a channel gets today (or which papers this week): the best trending scores
among papers that match its topic and were never posted there.

Scoring is :mod:`bot.ranking`. With many channels due in the same minute the expensive
part (the candidate pool and its order) is shared: it is cached per topic for a few
minutes, while what differs per channel (papers already posted there, the server's own
votes) is applied per pick. Without votes the order of two papers does not change with
time (both decay at the same rate), so a cached order stays right; papers with votes are
scored afresh at the pick time.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot import ranking
from bot.store.schedules import PaperSignals, ScheduleRepo

log = logging.getLogger(__name__)

# topic -> ids (str) or pids (int) of the papers matching it, at most `limit`, best first.
TopicMatcher = Callable[[str, int], Awaitable[Sequence[str | int]]]


class Picker(Protocol):
    async def pick(
        self,
        *,
        guild_id: int,
        channel_id: int,
        topic: str | None,
        now: datetime,
        exclude: Collection[int] = (),
    ) -> PaperSignals | None: ...

    async def pick_many(
        self, *, guild_id: int, channel_id: int, topic: str | None, now: datetime, count: int
    ) -> list[PaperSignals]: ...


@dataclass(slots=True)
class _Pool:
    built: datetime
    ranked: list[ranking.Candidate]
    by_pid: dict[int, PaperSignals]
    complete: bool  # the pool holds every candidate there is (no fallback query needed)
    limit: int


def _candidate(s: PaperSignals, votes: Sequence[datetime] = ()) -> ranking.Candidate:
    return ranking.Candidate(
        pid=s.pid,
        id=s.id,
        signals=ranking.Signals(
            source_rank=s.source_rank,
            upvotes=s.upvotes,
            published=s.published,
            added_at=s.added_at,
            votes=tuple(votes),
        ),
    )


class TrendingPicker:
    """The default :class:`Picker` over the store (and a topic matcher from bot.search)."""

    def __init__(
        self,
        repo: ScheduleRepo,
        topic_matcher: TopicMatcher | None = None,
        *,
        pool_per_signal: int = 300,
        topic_limit: int = 1000,
        topic_limit_max: int = 50_000,
        ttl: timedelta = timedelta(minutes=5),
        vote_window: timedelta = timedelta(days=30),
        vote_ttl: timedelta = timedelta(seconds=60),
        max_pools: int = 64,
        max_vote_guilds: int = 2048,
    ) -> None:
        self.repo = repo
        self.topic_matcher = topic_matcher
        self.pool_per_signal = pool_per_signal
        self.topic_limit = topic_limit
        self.topic_limit_max = topic_limit_max
        self.ttl = ttl
        self.vote_window = vote_window
        self.vote_ttl = vote_ttl
        # The most recently used pools, at most max_pools (each holds up to topic_limit_max
        # candidates): every distinct topic of every server would otherwise stay forever.
        self.max_pools = max(1, max_pools)
        self._pools: OrderedDict[str | None, _Pool] = OrderedDict()
        # Each server's recent votes, loaded when first needed and kept vote_ttl; only the
        # max_vote_guilds most recently used servers are kept (a process may serve 10,000s).
        self.max_vote_guilds = max(1, max_vote_guilds)
        self._votes: OrderedDict[int, tuple[datetime, dict[int, list[datetime]]]] = OrderedDict()

    @property
    def vote_guild_count(self) -> int:
        """How many servers' votes are cached (at most ``max_vote_guilds``)."""
        return len(self._votes)

    @property
    def pool_count(self) -> int:
        """How many candidate pools are cached (at most ``max_pools``)."""
        return len(self._pools)

    def _keep(self, topic: str | None, pool: _Pool) -> None:
        self._pools[topic] = pool
        self._pools.move_to_end(topic)
        while len(self._pools) > self.max_pools:
            self._pools.popitem(last=False)

    def invalidate(self) -> None:
        """Forget cached pools (call after loading papers)."""
        self._pools.clear()
        self._votes.clear()

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
        posted = await self.repo.posted_pids(channel_id) | set(exclude)
        votes = await self._guild_votes(guild_id, now)
        pool = await self._pool(topic, now)
        if topic is None:
            extra = [pid for pid in votes if pid not in pool.by_pid and pid not in posted]
            if extra:
                for s in await self.repo.signals_for_pids(extra):
                    pool.by_pid[s.pid] = s
        while True:
            best = self._best(pool, posted, votes, now)
            if best is not None:
                return best
            if pool.complete:
                return None
            if topic is None:
                # Everything in the shared pool was posted here: ask the store directly.
                fresh = await self.repo.unposted_pool(channel_id, self.pool_per_signal)
                if not fresh:
                    return None
                ranked = ranking.rank((_candidate(s) for s in fresh), now)
                pool = _Pool(now, ranked, {s.pid: s for s in fresh}, True, len(fresh))
                continue
            # A topic whose first matches were all posted here: look further down the list.
            pool = await self._build_topic_pool(topic, now, pool.limit * 4)
            self._keep(topic, pool)

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

    def _best(
        self,
        pool: _Pool,
        posted: set[int],
        votes: dict[int, list[datetime]],
        now: datetime,
    ) -> PaperSignals | None:
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
                contenders.append(_candidate(signals, cast))
        if not contenders:
            return None
        winner = ranking.rank(contenders, now)[0]
        return pool.by_pid[winner.pid]

    async def _pool(self, topic: str | None, now: datetime) -> _Pool:
        cached = self._pools.get(topic)
        if cached is not None and now - cached.built < self.ttl and cached.built <= now:
            self._pools.move_to_end(topic)
            return cached
        if topic is None:
            signals = await self.repo.trending_pool(self.pool_per_signal)
            ranked = ranking.rank((_candidate(s) for s in signals), now)
            pool = _Pool(now, ranked, {s.pid: s for s in signals}, False, self.pool_per_signal)
        else:
            pool = await self._build_topic_pool(topic, now, self.topic_limit)
        self._keep(topic, pool)
        return pool

    async def _build_topic_pool(self, topic: str, now: datetime, limit: int) -> _Pool:
        limit = min(limit, self.topic_limit_max)
        if self.topic_matcher is None:
            raise RuntimeError("a topic was given but no topic matcher is configured")
        found = list(await self.topic_matcher(topic, limit))
        ids = [x for x in found if isinstance(x, str)]
        pids = [x for x in found if isinstance(x, int)]
        signals: list[PaperSignals] = []
        if ids:
            signals.extend(await self.repo.signals_for_ids(ids))
        if pids:
            signals.extend(await self.repo.signals_for_pids(pids))
        by_pid = {s.pid: s for s in signals}
        ranked = ranking.rank((_candidate(s) for s in by_pid.values()), now)
        complete = len(found) < limit or limit >= self.topic_limit_max
        log.debug("topic %r: %d candidate(s) (limit %d)", topic, len(by_pid), limit)
        return _Pool(now, ranked, by_pid, complete, limit)

    async def _guild_votes(self, guild_id: int, now: datetime) -> dict[int, list[datetime]]:
        cached = self._votes.get(guild_id)
        if cached is not None and timedelta(0) <= now - cached[0] < self.vote_ttl:
            self._votes.move_to_end(guild_id)
            return cached[1]
        votes = await self.repo.guild_votes(guild_id, now - self.vote_window)
        self._votes[guild_id] = (now, votes)
        self._votes.move_to_end(guild_id)
        while len(self._votes) > self.max_vote_guilds:
            self._votes.popitem(last=False)
        return votes

    async def ranked_for_guild(
        self, guild_id: int, now: datetime, limit: int
    ) -> list[PaperSignals]:
        """The top *limit* papers for a server right now (its votes count), best first."""
        votes = await self._guild_votes(guild_id, now)
        pool = await self._pool(None, now)
        extra = [pid for pid in votes if pid not in pool.by_pid]
        by_pid = dict(pool.by_pid)
        if extra:
            for s in await self.repo.signals_for_pids(extra):
                by_pid[s.pid] = s
        ranked = ranking.rank((_candidate(s, votes.get(s.pid, ())) for s in by_pid.values()), now)
        return [by_pid[c.pid] for c in ranked[:limit]]
