"""Test doubles for the daily-post core: a fake clock, a fake Poster, a paper helper.

The fake Poster stands in for the Discord side of the injected boundary (it is not a mock of
our own code): it keeps the messages "posted" per channel, can fail on demand, dedupes by
nonce within a window the way Discord does with ``enforce_nonce``, and answers the
reconciliation query from its own message log.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.models import Paper
from bot.schedule import timecalc
from bot.schedule.picker import DailyPicker
from bot.schedule.runner import (
    DailyRunner,
    PostReceipt,
    PostRequest,
    TransientPostError,
)
from bot.schedule.service import ScheduleService
from bot.store.database import Database
from bot.store.papers import PaperRepo
from bot.store.schedules import Schedule, ScheduleRepo
from bot.store.signals import SignalRepo
from bot.store.social import SocialRepo
from bot.trending import Trending


class SteppedClock:
    """Time set by the test; ``sleep`` yields briefly in real time (the loop keeps polling).
    For end-to-end tests, where the bot's own tasks must get to run between steps."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(min(max(seconds, 0.0), 0.01))


class FakeClock:
    """A clock that only moves when told to; ``sleep`` advances it instantly."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        assert when.tzinfo is not None
        self._now = when.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._now += timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(0)


@dataclass
class Posted:
    channel_id: int
    message_id: int
    nonce: str
    paper_id: str | None
    text: str | None
    role_id: int | None
    thread_id: int | None
    at: datetime
    context: str
    paper_ids: tuple[str, ...] = ()  # a list post's papers, in order


@dataclass
class FakePoster:
    clock: FakeClock
    nonce_window: timedelta = timedelta(minutes=5)
    messages: list[Posted] = field(default_factory=list)
    # channel -> exceptions raised by the next sends, in order
    failures: dict[int, list[BaseException]] = field(default_factory=lambda: defaultdict(list))
    # channels whose send hangs forever (simulating a process that dies mid-call)
    hang_before: set[int] = field(default_factory=set)
    hang_after: set[int] = field(default_factory=set)
    # channels whose history cannot be read
    calls: list[tuple[str, int]] = field(default_factory=list)
    on_send: Callable[[PostRequest], None] | None = None
    hanging: asyncio.Event = field(default_factory=asyncio.Event)  # set when a send hangs
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def in_channel(self, channel_id: int) -> list[Posted]:
        return [m for m in self.messages if m.channel_id == channel_id]

    async def send(self, request: PostRequest, /) -> PostReceipt:
        self.calls.append(("send", request.channel_id))
        if self.on_send is not None:
            self.on_send(request)
        queue = self.failures.get(request.channel_id)
        if queue:
            raise queue.pop(0)
        if request.channel_id in self.hang_before:
            self.hanging.set()
            await asyncio.Event().wait()
        now = self.clock.now()
        for m in self.messages:  # Discord's enforce_nonce: same nonce soon after -> same message
            if m.nonce == request.nonce and now - m.at <= self.nonce_window:
                return PostReceipt(m.message_id, m.thread_id)
        message_id = next(self._ids)
        thread_id = next(self._ids) if request.thread and request.paper else None
        self.messages.append(
            Posted(
                channel_id=request.channel_id,
                message_id=message_id,
                nonce=request.nonce,
                paper_id=request.paper.id if request.paper else None,
                text=request.text,
                role_id=request.role_id,
                thread_id=thread_id,
                at=now,
                context=request.context,
                paper_ids=tuple(p.id for p in request.papers),
            )
        )
        if request.channel_id in self.hang_after:
            self.hanging.set()
            await asyncio.Event().wait()
        return PostReceipt(message_id, thread_id)

    async def find_sent(self, request: PostRequest, since: datetime, /) -> PostReceipt | None:
        self.calls.append(("find", request.channel_id))
        for m in self.in_channel(request.channel_id):
            if m.at < since:
                continue
            if request.paper is not None and m.paper_id == request.paper.id:
                return PostReceipt(m.message_id, m.thread_id)
            if request.paper is None and m.paper_id is None and m.text == request.text:
                return PostReceipt(m.message_id)
        return None


def transient(reason: str = "503 Service Unavailable", **kw: object) -> TransientPostError:
    return TransientPostError(reason, **kw)  # type: ignore[arg-type]


# -- papers ---------------------------------------------------------------------------------


async def add_paper(
    db: Database,
    paper_id: str,
    title: str,
    *,
    rank: int | None = None,
    upvotes: int | None = None,
    published: date | None = None,
    abstract: str = "",
) -> int:
    """Store one paper through the real PaperRepo (FTS kept in sync); returns its pid."""
    repo = PaperRepo(db)
    paper = Paper.create(
        title=title,
        arxiv_id=paper_id,
        abstract=abstract,
        source_rank=rank,
        upvotes=upvotes,
        published=published,
        source="hf-page",
    )
    await repo.upsert_many([paper], "hf-page")
    pid = await repo.get_pid(paper.id)
    assert pid is not None
    return pid


async def add_ranked(db: Database, count: int, prefix: str = "2405.0") -> list[str]:
    """*count* papers on a trending list (ranks 1..count), like the default store."""
    papers = [
        Paper.create(
            title=f"Paper number {i}", arxiv_id=f"{prefix}{i:04d}", source_rank=i, source="hf-page"
        )
        for i in range(1, count + 1)
    ]
    await PaperRepo(db).upsert_many(papers, "hf-page")
    return [p.id for p in papers]


# -- a complete harness ------------------------------------------------------------------------


class Harness:
    def __init__(self, db: Database, clock: FakeClock, poster: FakePoster, **runner_kw: object):
        self.db = db
        self.clock = clock
        self.poster = poster
        self.repo = ScheduleRepo(db)
        self.picker = DailyPicker(Trending(SignalRepo(db), SocialRepo(db), self._match), self.repo)
        self.runner = DailyRunner(
            self.repo,
            self.picker,
            PaperRepo(db),
            poster,
            clock,
            **runner_kw,  # type: ignore[arg-type]
        )
        self.service = ScheduleService(self.repo, self.runner, self._match)

    async def _match(self, topic: str, limit: int) -> list[str]:
        rows = await self.db.fetchall(
            "SELECT papers.id FROM papers_fts JOIN papers ON papers.pid = papers_fts.rowid "
            "WHERE papers_fts MATCH ? LIMIT ?",
            (topic, limit),
        )
        return [str(r[0]) for r in rows]

    async def set(
        self,
        channel_id: int,
        hhmm: str,
        tz: str,
        *,
        guild_id: int = 1,
        topic: str | None = None,
        thread: bool = False,
        role_id: int | None = None,
        weekday: int | None = None,  # given: a weekly schedule on that day (0 = Monday)
    ) -> Schedule:
        zone = ZoneInfo(tz)
        now = self.clock.now()
        at: time = timecalc.parse_hhmm(hhmm)
        weekly = weekday is not None
        return await self.repo.upsert(
            channel_id=channel_id,
            guild_id=guild_id,
            local_time=hhmm,
            tz=tz,
            topic=topic,
            thread=thread,
            role_id=role_id,
            next_run=timecalc.next_run(at, zone, now, weekday),
            created_by=42,
            today_key=timecalc.today_key(tz, now, weekly=weekly),
            now=now,
            cadence="weekly" if weekly else "daily",
            weekday=weekday,
        )

    async def tick_at(self, when: datetime) -> int:
        self.clock.set(when)
        return await self.runner.tick()

    async def tick_every(self, start: datetime, end: datetime, step: timedelta) -> None:
        t = start
        while t <= end:
            await self.tick_at(t)
            t += step


def turn_off_while_picking(h: Harness, channel_id: int) -> list[int]:
    """Make the picker run /daily off for *channel_id* on its first call: the admin turns the
    schedule off after the run checked it is still on, before its pick is recorded."""
    picks = h.picker.pick_many
    calls: list[int] = []

    async def pick_many(**kw: Any) -> Any:
        if not calls:
            assert await h.service.turn_off(channel_id)
        calls.append(1)
        return await picks(**kw)

    h.picker.pick_many = pick_many  # type: ignore[method-assign]
    return calls
