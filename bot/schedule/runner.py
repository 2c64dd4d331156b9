"""The daily-post loop: claims due schedules, picks a paper (a weekly schedule: the week's top
papers), hands it to a Poster, records it.

Nothing here imports discord. Time comes from an injected :class:`Clock`, the Discord side
from an injected :class:`Poster` (``bot/cogs/daily/`` implements it with discord.py), so
the whole behaviour is testable with a fake clock and a fake poster.

Exactly once per channel per local day: :class:`DailyRunner` is a
:class:`bot.schedule.leased.LeasedRunner` (claim, lease, ``sending`` with the pick and the
run's nonce before Discord is called, reconcile a run that may have gone out) over the runs of
:class:`bot.store.schedules.ScheduleRepo`. A run's message is a :class:`PostRequest`: one
paper's card, a weekly list, or the "nothing left" notice. The poster reconciles by looking at
the channel's messages since the first attempt for our card of that paper. A paper is never
posted twice to a channel (unique index on ``(channel, paper)``).

Weekly schedules run the same machine once a week: the run is keyed by the ISO week, its papers
(up to :data:`WEEKLY_COUNT`, one message) are written to ``run_papers`` with ``sending``, and a
paper is never in two posts of a channel, daily or weekly.

Several processes (``PAPERBOT_SHARDS``), one database: each runner claims, leases and
releases only the runs of servers on its own shards (``shards``), so a channel's post always
goes out from the process whose gateway cache holds that channel, and a process starting up
never takes over the runs another live process is sending. Steps 1-6 still guard every run
in the database, whichever process holds it.

Failures: 403/404 pause the schedule (``ChannelUnavailable``; the reason shows in
``/daily status``; re-setting or resuming the schedule picks the day's post up again);
transient errors (5xx, network, 429, timeouts) are retried with backoff until the local day
ends. Every run is processed in isolation: one channel failing never blocks the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, Unpack

from bot.models import Paper
from bot.schedule.leased import (
    Clock,
    LeasedRunner,
    LoopOptions,
    Outcome,
    Recipient,
    Transient,
    Unreachable,
    nonce,
)
from bot.schedule.picker import DailyPicker
from bot.store.schedules import Run, RunPaper, Schedule, ScheduleRepo
from bot.text import one_line, readable

log = logging.getLogger(__name__)

CONTEXT = "📈 Trending today"
WEEKLY_CONTEXT = "🗓️ This week's top papers"
WEEKLY_COUNT = 5
MANUAL_DEADLINE = timedelta(hours=1)


# -- the injected boundaries ---------------------------------------------------------------


@dataclass(slots=True)
class GonePaper(Paper):
    """A stand-in for a paper of a run that left the store: its id and title, enough to
    recognise a post already made (a run that did not post it starts over)."""


class PaperSource(Protocol):
    async def get(self, paper_id: str, /) -> Paper | None: ...


@dataclass(frozen=True, slots=True)
class PostRequest:
    """One message for the Poster: a paper card, a list of papers (``papers``, a weekly post;
    ``paper`` is the first), or (``paper`` None) the "nothing left" notice."""

    channel_id: int
    guild_id: int
    run_key: str
    nonce: str
    paper: Paper | None
    text: str | None  # the notice text when paper is None
    context: str  # the card's "Trending today" line
    role_id: int | None  # mention this role (the only mention the bot ever makes)
    thread: bool  # open a discussion thread on the message
    manual: bool
    papers: tuple[Paper, ...] = ()  # a list post: these papers, in order, in one message


@dataclass(frozen=True, slots=True)
class PostReceipt:
    message_id: int
    thread_id: int | None = None
    note: str | None = None  # a non-fatal problem, e.g. the thread could not be opened


class Poster(Protocol):
    async def send(self, request: PostRequest, /) -> PostReceipt:
        """Post the message (and thread). Raises a :class:`PostError` on failure."""
        ...

    async def find_sent(self, request: PostRequest, since: datetime, /) -> PostReceipt | None:
        """Our message for *request* in the channel after *since*, if it is there."""
        ...


class PostError(Exception):
    pass


class ChannelUnavailable(PostError, Unreachable):
    """Discord refused the channel for good (403 Forbidden, 404 deleted): pause it."""


class TransientPostError(PostError, Transient):
    """Worth retrying later (5xx, network, 429). ``maybe_sent``: the message may exist."""


# -- pure helpers ----------------------------------------------------------------------------


def make_nonce(channel_id: int, run_key: str) -> str:
    """The nonce of a run: same run, same nonce, across restarts."""
    return nonce("pb", f"paperbot-daily:{channel_id}:{run_key}")


def notice_text(topic: str | None, *, weekly: bool = False) -> str:
    if topic:
        what = f"every paper matching “{topic}”"
        fix = "widen the topic with `/daily set` or load more papers"
    else:
        what = "every paper in my library"
        fix = "load more papers (`python -m bot load`)"
    when = "No top papers this week" if weekly else "No trending paper today"
    return (
        f"📭 {when}: I have already posted {what} here. "
        f"An admin can {fix}; I'll post again as soon as there is something new."
    )


def context_text(topic: str | None, *, weekly: bool = False) -> str:
    head = WEEKLY_CONTEXT if weekly else CONTEXT
    return f"{head} · {topic}" if topic else head


# -- the runner ------------------------------------------------------------------------------


class DailyRunner(LeasedRunner[Run, Schedule, PostRequest, PostReceipt]):
    """The channels' daily (and weekly) posts; the loop and the protocol are the base's."""

    turned_off = "the schedule was turned off"

    name = "daily scheduler"
    plural = "daily post(s)"

    def __init__(
        self,
        repo: ScheduleRepo,
        picker: DailyPicker,
        papers: PaperSource,
        poster: Poster,
        clock: Clock | None = None,
        *,
        post_timeout: float = 120.0,
        **options: Unpack[LoopOptions],
    ) -> None:
        options.setdefault("concurrency", 50)
        super().__init__(repo, clock, timeout=post_timeout, **options)
        self.repo = repo
        self.picker = picker
        self.papers = papers
        self.poster = poster

    # -- the base's hooks -----------------------------------------------------------------------

    def _who(self, key: int) -> str:
        return f"channel {key}"

    def _recipient(self, parent: Schedule) -> Recipient:
        p = parent
        return Recipient(
            p.channel_id, p.next_run, p.local_time, p.tz, p.weekly, p.weekday, p.guild_id
        )

    def _nonce(self, key: int, run_key: str) -> str:
        return make_nonce(key, run_key)

    async def _bad_timing(self, parent: Schedule, now: datetime) -> None:
        await self.repo.pause(
            parent.channel_id,
            reason=f"the time zone {parent.tz} or time {parent.local_time} is no longer "
            "valid; set the schedule again",
            now=now,
        )

    async def _parent(self, run: Run) -> Schedule | None:
        return await self.repo.get(run.channel_id)

    async def _resume(self, run: Run, parent: Schedule | None) -> tuple[PostRequest, bool]:
        request = await self._request_for(run, parent)
        complete = not any(isinstance(p, GonePaper) for p in request.papers or [request.paper])
        return request, complete

    async def _restart(self, run: Run, now: datetime) -> Run:
        return await self.repo.restart_run(run, now=now)

    async def _end_early(self, run: Run, parent: Schedule | None, now: datetime) -> Outcome | None:
        if now >= run.deadline:
            return await self._give_up(run, now)
        if parent is None or (parent.paused_reason and not run.manual):
            # Turned off (or paused) since the run was made: do not post.
            await self.repo.mark_skipped(run, now=now)
            return Outcome("skipped", detail="the schedule was turned off")
        return None

    async def _find_sent(self, message: PostRequest, since: datetime) -> PostReceipt | None:
        return await self.poster.find_sent(message, since)

    async def _send(self, message: PostRequest) -> PostReceipt:
        return await self.poster.send(message)

    async def _blocked(
        self, run: Run, parent: Schedule | None, exc: Unreachable, reconciling: bool
    ) -> Outcome:
        log.warning("channel %s unavailable, pausing its schedule: %s", run.channel_id, exc.reason)
        # Refused on sending: nothing went out. Refused while looking: it may have.
        await self.repo.mark_blocked(
            run, reason=exc.reason, verify=reconciling, now=self.clock.now()
        )
        return Outcome("blocked", detail=exc.reason)

    # -- the message --------------------------------------------------------------------------

    async def _request_for(self, run: Run, schedule: Schedule | None) -> PostRequest:
        topic = schedule.topic if schedule else None
        weekly = bool(schedule and schedule.weekly)
        if run.paper_id is None:
            # The notice's words as first sent (kept in the run), whatever the topic is now.
            text = run.title or notice_text(topic, weekly=weekly)
            return self._request(run, schedule, None, text)
        listed = await self.repo.run_papers(run)
        if listed:
            papers = [await self._paper_or_stand_in(p.paper_id, p.title) for p in listed]
            return self._request(run, schedule, None, None, papers=papers)
        paper = await self._paper_or_stand_in(run.paper_id, run.title or "")
        return self._request(run, schedule, paper, None)

    async def _paper_or_stand_in(self, paper_id: str, title: str) -> Paper:
        paper = await self.papers.get(paper_id)
        if paper is None:
            # Gone from the store: enough of it to recognise a post already made.
            paper = GonePaper(id=paper_id, title=title)
        return paper

    def _request(
        self,
        run: Run,
        schedule: Schedule | None,
        paper: Paper | None,
        text: str | None,
        *,
        papers: Sequence[Paper] = (),
    ) -> PostRequest:
        topic = schedule.topic if schedule else None
        if papers:
            paper = papers[0]
        return PostRequest(
            channel_id=run.channel_id,
            guild_id=run.guild_id,
            run_key=run.run_key,
            nonce=run.nonce,
            paper=paper,
            text=text,
            context=context_text(topic, weekly=bool(papers)),
            # A manual post (testing the set-up) never pings the role.
            role_id=schedule.role_id if schedule and paper and not run.manual else None,
            thread=bool(schedule and schedule.thread and paper),
            manual=run.manual,
            papers=tuple(papers),
        )

    async def _prepare(self, run: Run, schedule: Schedule, now: datetime) -> PostRequest | Outcome:
        """Pick the paper (a weekly schedule: the week's top papers) and write ``sending``
        with it (before Discord is called)."""
        weekly = schedule.weekly
        if weekly:
            await self.repo.clear_run_papers(run)  # an earlier attempt's picks, not sent
        for _ in range(5):
            picked = await self.picker.pick_many(
                guild_id=schedule.guild_id,
                channel_id=schedule.channel_id,
                topic=schedule.topic,
                now=now,
                count=WEEKLY_COUNT if weekly else 1,
            )
            if not picked:
                return await self._nothing_left(run, schedule, now)
            papers = [p for p in await self.papers_for([s.id for s in picked]) if p is not None]
            if len(papers) < len(picked):
                log.info("a picked paper is gone from the store; picking again")
                self.picker.invalidate()
                continue
            if weekly:
                rows = [
                    RunPaper(i, s.pid, p.id, p.title)
                    for i, (s, p) in enumerate(zip(picked, papers, strict=True), 1)
                ]
                title = f"{len(rows)} papers: {papers[0].title}"
                reserved = await self.repo.begin_send_list(run, rows, title=title, now=now)
            else:
                first = papers[0]
                reserved = await self.repo.begin_send(
                    run, pid=picked[0].pid, paper_id=first.id, title=first.title, now=now
                )
            if reserved:
                return self._request(
                    run, schedule, papers[0], None, papers=papers if weekly else ()
                )
            log.info("a paper was just taken in channel %s; picking again", run.channel_id)
        raise RuntimeError("could not reserve the papers after 5 picks")

    async def papers_for(self, ids: Sequence[str]) -> list[Paper | None]:
        return [await self.papers.get(i) for i in ids]

    async def _nothing_left(
        self, run: Run, schedule: Schedule, now: datetime
    ) -> PostRequest | Outcome:
        topic = f" matching “{schedule.topic}”" if schedule.topic else ""
        status = f"nothing left to post{topic}"
        if run.manual or schedule.exhausted_at is not None:
            # Said once in the channel already (or an admin asked; they are told privately).
            await self.repo.mark_exhausted_quietly(run, status=status, now=now)
            return Outcome("exhausted", detail=status)
        text = notice_text(schedule.topic, weekly=schedule.weekly)
        await self.repo.begin_notice(run, text=text, now=now)
        return self._request(run, schedule, None, text)

    async def _sent(self, run: Run, request: PostRequest, receipt: PostReceipt) -> Outcome:
        now = self.clock.now()
        told = False
        if request.paper is None:
            status = "nothing left to post: told the channel"
            title = None
            # Said for the schedule as it is now? (An admin who changed the topic or cadence
            # since the notice was made gets a notice of the new one when it runs dry too.)
            schedule = await self.repo.get(run.channel_id)
            told = schedule is not None and request.text == notice_text(
                schedule.topic, weekly=schedule.weekly
            )
        else:
            title = readable(request.paper.title)  # for people: LaTeX as Unicode
            status = f"posted “{one_line(title, 80)}”"
            if request.papers:
                status = f"posted {len(request.papers)} papers, first “{one_line(title, 80)}”"
        if receipt.note:
            status += f" ({receipt.note})"
        await self.repo.mark_sent(
            run,
            message_id=receipt.message_id,
            thread_id=receipt.thread_id,
            status=status,
            note=receipt.note,
            notice=request.paper is None,
            told=told,
            now=now,
        )
        return Outcome(
            "sent" if request.paper else "exhausted",
            message_id=receipt.message_id,
            paper_id=request.paper.id if request.paper else None,
            title=title,
            detail=receipt.note,
            papers=len(request.papers) or (1 if request.paper else 0),
        )

    async def _give_up(self, run: Run, now: datetime) -> Outcome:
        error = run.error or "the day ended before it could go out (was the bot offline?)"
        log.warning("channel %s: giving up on %s: %s", run.channel_id, run.run_key, error)
        label = "the manual post" if run.manual else run.run_key
        await self.repo.mark_failed(
            run, error=error, status=f"could not post {label}: {error}", now=now
        )
        return Outcome("failed", detail=error)

    # -- admin actions ----------------------------------------------------------------------

    async def post_now(self, schedule: Schedule, key: str) -> Outcome:
        """Post the channel's next pick right away (``/daily post-now``), exactly once per *key*."""
        now = self.clock.now()
        run_key = f"now:{key}"
        run, created = await self.repo.create_run(
            channel_id=schedule.channel_id,
            guild_id=schedule.guild_id,
            run_key=run_key,
            nonce=make_nonce(schedule.channel_id, run_key),
            deadline=now + MANUAL_DEADLINE,
            owner=self.owner,
            leased_until=now + self.lease,
            now=now,
        )
        if not created:
            return Outcome("skipped", detail="already handled")
        return await self.process(run)

    async def preview(self, schedule: Schedule) -> Paper | None:
        """The paper the channel would get at its next post (nothing is recorded)."""
        papers = await self.preview_list(schedule, count=1)
        return papers[0] if papers else None

    async def preview_list(self, schedule: Schedule, count: int | None = None) -> list[Paper]:
        """The papers the channel would get at its next post (one; a weekly schedule's
        list), nothing recorded."""
        when = max(schedule.next_run, self.clock.now())
        count = count or (WEEKLY_COUNT if schedule.weekly else 1)
        picked = await self.picker.pick_many(
            guild_id=schedule.guild_id,
            channel_id=schedule.channel_id,
            topic=schedule.topic,
            now=when,
            count=count,
        )
        return [p for p in await self.papers_for([s.id for s in picked]) if p is not None]
