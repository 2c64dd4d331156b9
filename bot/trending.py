"""The trending ranking, cached: which papers top the trending score (:mod:`bot.ranking`) now.

One :class:`Trending` per process serves ``/trending``, ``/paper``'s suggestions, the web site,
For you's cold start and the daily pick (:mod:`bot.schedule.picker`). The expensive part, a
ranked pool of candidates, is built from the store and kept for a few minutes per topic
(``None``: every paper); what differs per server, its own recent votes, is kept apart and
applied per call. Without votes the order of two papers does not change with time (both
decay at the same rate), so a cached order stays right; papers with votes are scored afresh
at the time asked. Both caches are bounded: the most recently used pools and servers stay.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import ranking
from bot.store.signals import PaperSignals, SignalRepo
from bot.store.social import SocialRepo

log = logging.getLogger(__name__)

# topic -> ids (str) or pids (int) of the papers matching it, at most `limit`, best first.
TopicMatcher = Callable[[str, int], Awaitable[Sequence[str | int]]]
# pid -> when each of a server's recent votes was cast
Votes = dict[int, list[datetime]]
NO_SERVER = 0
"""The server id that stands for no server: the web site, DMs, a server without the bot.
Nobody's votes count there. Discord ids are never 0, but an older PaperBot stored the 👍
votes cast in DMs under it; those count for no server's trending list either."""


@dataclass(slots=True)
class Pool:
    """Candidates ranked without votes, best first, and their signals."""

    built: datetime
    ranked: list[ranking.Candidate]
    by_pid: dict[int, PaperSignals]
    complete: bool  # the pool holds every candidate there is (no fallback query needed)
    limit: int


def candidate(s: PaperSignals, votes: Sequence[datetime] = ()) -> ranking.Candidate:
    """The ranking's view of a paper, with the votes it got."""
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


def _ranked(signals: Iterable[PaperSignals], now: datetime, complete: bool, limit: int) -> Pool:
    by_pid = {s.pid: s for s in signals}
    ranked = ranking.rank((candidate(s) for s in by_pid.values()), now)
    return Pool(now, ranked, by_pid, complete, limit)


class Trending:
    """The cached ranking over the store (and a topic matcher from bot.search)."""

    def __init__(
        self,
        signals: SignalRepo,
        social: SocialRepo,
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
        self.signals = signals
        self.social = social
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
        self._pools: OrderedDict[str | None, Pool] = OrderedDict()
        # Each server's recent votes, loaded when first needed and kept vote_ttl; only the
        # max_vote_guilds most recently used servers are kept (a process may serve 10,000s).
        self.max_vote_guilds = max(1, max_vote_guilds)
        self._votes: OrderedDict[int, tuple[datetime, Votes]] = OrderedDict()

    @property
    def vote_guild_count(self) -> int:
        """How many servers' votes are cached (at most ``max_vote_guilds``)."""
        return len(self._votes)

    @property
    def pool_count(self) -> int:
        """How many candidate pools are cached (at most ``max_pools``)."""
        return len(self._pools)

    def invalidate(self) -> None:
        """Forget cached pools and votes (call after loading papers)."""
        self._pools.clear()
        self._votes.clear()

    # -- pools ------------------------------------------------------------------------------

    def _keep(self, topic: str | None, pool: Pool) -> None:
        self._pools[topic] = pool
        self._pools.move_to_end(topic)
        while len(self._pools) > self.max_pools:
            self._pools.popitem(last=False)

    async def pool(self, topic: str | None, now: datetime) -> Pool:
        """The ranked pool of *topic* (None: every paper), cached for ``ttl``."""
        cached = self._pools.get(topic)
        if cached is not None and now - cached.built < self.ttl and cached.built <= now:
            self._pools.move_to_end(topic)
            return cached
        if topic is None:
            found = await self.signals.pool(self.pool_per_signal)
            pool = _ranked(found, now, False, self.pool_per_signal)
        else:
            pool = await self._topic_pool(topic, now, self.topic_limit)
        self._keep(topic, pool)
        return pool

    async def deeper(self, topic: str, now: datetime, pool: Pool) -> Pool:
        """*topic*'s pool from further down its list of matches (its first were not enough),
        kept in the cache in place of *pool*."""
        deeper = await self._topic_pool(topic, now, pool.limit * 4)
        self._keep(topic, deeper)
        return deeper

    async def unposted_pool(self, channel_id: int, now: datetime) -> Pool:
        """Every paper's pool among those never posted to *channel_id* (not cached)."""
        found = await self.signals.unposted_pool(channel_id, self.pool_per_signal)
        return _ranked(found, now, True, len(found))

    async def _topic_pool(self, topic: str, now: datetime, limit: int) -> Pool:
        limit = min(limit, self.topic_limit_max)
        if self.topic_matcher is None:
            raise RuntimeError("a topic was given but no topic matcher is configured")
        found = list(await self.topic_matcher(topic, limit))
        pool = _ranked(
            await self.signals.of(found),
            now,
            len(found) < limit or limit >= self.topic_limit_max,
            limit,
        )
        log.debug("topic %r: %d candidate(s) (limit %d)", topic, len(pool.by_pid), limit)
        return pool

    # -- votes ------------------------------------------------------------------------------

    async def votes(self, guild_id: int, now: datetime) -> Votes:
        """The server's votes of the last ``vote_window``, cached for ``vote_ttl``; none for
        :data:`NO_SERVER`."""
        if guild_id == NO_SERVER:
            return {}
        cached = self._votes.get(guild_id)
        if cached is not None and timedelta(0) <= now - cached[0] < self.vote_ttl:
            self._votes.move_to_end(guild_id)
            return cached[1]
        votes = await self.social.guild_votes(guild_id, now - self.vote_window)
        self._votes[guild_id] = (now, votes)
        self._votes.move_to_end(guild_id)
        while len(self._votes) > self.max_vote_guilds:
            self._votes.popitem(last=False)
        return votes

    async def voted_outside(
        self, pool: Pool, votes: Votes, skip: Iterable[int] = ()
    ) -> list[PaperSignals]:
        """Signals of the voted papers that *pool* lacks (a vote can lift any paper), but
        those in *skip*."""
        left_out = set(skip)
        extra = [pid for pid in votes if pid not in pool.by_pid and pid not in left_out]
        return await self.signals.of(extra) if extra else []

    # -- the ranking ------------------------------------------------------------------------

    async def ranked_for_guild(
        self, guild_id: int, now: datetime, limit: int
    ) -> list[PaperSignals]:
        """The top *limit* papers for a server right now (its votes count), best first."""
        votes = await self.votes(guild_id, now)
        pool = await self.pool(None, now)
        by_pid = dict(pool.by_pid)
        by_pid.update((s.pid, s) for s in await self.voted_outside(pool, votes))
        ranked = ranking.rank((candidate(s, votes.get(s.pid, ())) for s in by_pid.values()), now)
        return [by_pid[c.pid] for c in ranked[:limit]]
