"""The daily-post loop: claims due schedules, picks a paper (a weekly schedule: the week's top
papers), hands it to a Poster, records it.

Nothing here imports discord. Time comes from an injected :class:`Clock`, the Discord side
from an injected :class:`Poster` (``bot/cogs/daily/`` implements it with discord.py), so
the whole behaviour is testable with a fake clock and a fake poster.

Exactly once per channel per local day
--------------------------------------
1. *Claim* (one ``BEGIN IMMEDIATE`` transaction): a schedule whose ``next_run`` has come
   gets a run row keyed ``(channel, local date)`` and its ``next_run`` moves to the next
   day. The primary key makes a second run for the same day impossible; a restart that
   finds a due time from an earlier local day only moves ``next_run`` on (no flood).
2. *Lease*: ready runs are leased to this runner instance until ``now + lease``; a runner
   that dies mid-run loses the lease, and a restarted bot releases its predecessor's leases
   at once.
3. *Before Discord is called* the run is written as ``sending`` with the chosen paper, the
   deterministic nonce (derived from channel and key) and ``verify = 1``.
4. Discord is called with that nonce (discord.py sets ``enforce_nonce``): a repeat with the
   same nonce within Discord's dedupe window returns the first message, not a second one.
5. Success is written as ``sent``. A definite refusal (429, 400) resets ``verify`` to 0.
6. Any run found in ``sending`` with ``verify = 1`` (crash between steps 3 and 5, a timeout,
   a 5xx) is *reconciled* first: the Poster looks at the channel's messages since the first
   attempt for our card of that paper. Found: recorded as sent, nothing is resent.
   Not found: sent again with the same nonce. A paper is never posted twice to a channel
   (unique index on ``(channel, paper)``).

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

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.models import Paper
from bot.schedule import timecalc
from bot.schedule.picker import DailyPicker
from bot.shards import ShardSet
from bot.store.schedules import (
    SENDING,
    NewRun,
    Run,
    RunPaper,
    Schedule,
    ScheduleRepo,
)
from bot.text import one_line, readable

log = logging.getLogger(__name__)

T = TypeVar("T")

CONTEXT = "📈 Trending today"
WEEKLY_CONTEXT = "🗓️ This week's top papers"
WEEKLY_COUNT = 5
MANUAL_DEADLINE = timedelta(hours=1)
# Look for an earlier attempt's message from this long before it (clock skew with Discord).
RECONCILE_MARGIN = timedelta(minutes=2)


# -- the injected boundaries ---------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


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


class ChannelUnavailable(PostError):
    """Discord refused the channel for good (403 Forbidden, 404 deleted): pause it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientPostError(PostError):
    """Worth retrying later (5xx, network, 429). ``maybe_sent``: the message may exist."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, maybe_sent: bool = True
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


# -- pure helpers ----------------------------------------------------------------------------


def make_nonce(channel_id: int, run_key: str) -> str:
    """The nonce of a run: same run, same nonce, across restarts (Discord allows 25 chars)."""
    digest = hashlib.sha256(f"paperbot-daily:{channel_id}:{run_key}".encode()).hexdigest()
    return "pb" + digest[:23]


def retry_delay(attempts: int, retry_after: float | None, channel_id: int) -> float:
    """Seconds before the next try: 30 s doubling to 15 min, spread a little per channel."""
    base = min(30.0 * 2.0 ** max(0, attempts - 1), 900.0)
    spread = 1.0 + (channel_id % 997) / 997 * 0.25
    delay = base * spread
    if retry_after is not None:
        # A 429 says exactly when: wait that long (plus a little), not the whole backoff.
        return retry_after + 1.0 + (channel_id % 997) / 997 * 2.0
    return delay


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


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["sent", "exhausted", "blocked", "retry", "failed", "skipped"]
    message_id: int | None = None
    paper_id: str | None = None
    title: str | None = None
    detail: str | None = None
    papers: int = 0  # papers in the message (a weekly list: up to WEEKLY_COUNT)


# -- the runner ------------------------------------------------------------------------------


class DailyRunner:
    def __init__(
        self,
        repo: ScheduleRepo,
        picker: DailyPicker,
        papers: PaperSource,
        poster: Poster,
        clock: Clock | None = None,
        *,
        concurrency: int = 50,
        lease: timedelta = timedelta(minutes=10),
        post_timeout: float = 120.0,
        claim_batch: int = 500,
        max_idle: float = 60.0,
        owner: str | None = None,
        shards: ShardSet | None = None,
    ) -> None:
        self.repo = repo
        # A process running some of the shards claims the schedules of its servers only
        # (their channels are in its cache); None: every server (one process, all shards).
        self.shards = shards
        self.picker = picker
        self.papers = papers
        self.poster = poster
        self.clock: Clock = clock or SystemClock()
        self.concurrency = concurrency
        self.lease = lease
        self.post_timeout = post_timeout
        self.claim_batch = claim_batch
        self.max_idle = max_idle
        self.owner = owner or uuid.uuid4().hex
        self.last_tick: datetime | None = None
        self.ticks = 0  # completed passes (for health checks and tests)
        self.failures = 0
        self._wake = asyncio.Event()
        self._released = False
        self._stopped = False

    # -- loop -------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the schedules now (an admin changed one)."""
        self._wake.set()

    def stop(self) -> None:
        """Make :meth:`run_forever` return at its next step.

        Belt and braces beside cancelling its task: asyncio can lose a cancellation that meets
        a failing child of a TaskGroup or ``wait_for`` (seen on Python 3.11), and a loop that
        misses it would keep its cog from unloading.
        """
        self._stopped = True
        self._wake.set()

    def stopping(self) -> bool:
        return self._stopped

    async def run_forever(self, wait_ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Tick until cancelled. Any exception is logged and the loop carries on (watchdog)."""
        if wait_ready is not None:
            await wait_ready()
        log.info(
            "daily scheduler started (runner %s, %s)",
            self.owner[:8],
            self.shards.label if self.shards else "every server",
        )
        while not self.stopping():
            try:
                await self.tick()
                self.failures = 0
                delay = await self._idle_seconds()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self.stopping():
                    break
                self.failures += 1
                delay = min(300.0, 2.0**self.failures)
                log.exception(
                    "daily scheduler tick failed (%d in a row); retrying in %.0f s",
                    self.failures,
                    delay,
                )
            await self._wait(delay)

    async def _wait(self, seconds: float) -> None:
        if self._wake.is_set() or self.stopping():
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, sleeper):
                task.cancel()
            for task in (waiter, sleeper):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _idle_seconds(self) -> float:
        upcoming = await self.repo.next_wakeup(shards=self.shards)
        if upcoming is None:
            return self.max_idle
        seconds = (upcoming - self.clock.now()).total_seconds()
        return min(self.max_idle, max(0.5, seconds))

    async def tick(self) -> int:
        """One pass: claim what is due, process every ready run. Returns runs processed."""
        self._wake.clear()
        now = self.clock.now()
        if not self._released:
            released = await self.repo.release_stale(self.owner, now, shards=self.shards)
            if released:
                log.info("reconciling %d daily post(s) left open by the previous run", released)
            self._released = True
        processed = await self._drain()
        self.last_tick = self.clock.now()
        self.ticks += 1
        return processed

    async def _claim(self, now: datetime) -> int:
        created = 0
        while True:
            due = await self.repo.due(now, self.claim_batch, shards=self.shards)
            if not due:
                return created
            items: list[NewRun] = []
            for schedule in due:
                item = await self._decide(schedule, now)
                if item is not None:
                    items.append(item)
            created += await self.repo.open_runs(items, now)
            if len(due) < self.claim_batch:
                return created

    async def _decide(self, schedule: Schedule, now: datetime) -> NewRun | None:
        try:
            tz = ZoneInfo(schedule.tz)
            at = timecalc.parse_hhmm(schedule.local_time)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("schedule of channel %s has a bad time or zone", schedule.channel_id)
            await self.repo.pause(
                schedule.channel_id,
                reason=f"the time zone {schedule.tz} or time {schedule.local_time} is no longer "
                "valid; set the schedule again",
                now=now,
            )
            return None
        weekday = schedule.weekday if schedule.weekly else None
        if schedule.weekly and weekday is None:
            weekday = 0  # (set without a day: Mondays)
        decision = timecalc.run_for(at, tz, now, weekday)
        if decision.run_date is None:
            log.info(
                "channel %s missed its post on an earlier day; next at %s",
                schedule.channel_id,
                decision.next_run.isoformat(),
            )
            return NewRun(
                schedule.channel_id, schedule.guild_id, schedule.next_run, decision.next_run
            )
        key = (
            timecalc.week_key(decision.run_date)
            if schedule.weekly
            else decision.run_date.isoformat()
        )
        return NewRun(
            channel_id=schedule.channel_id,
            guild_id=schedule.guild_id,
            expected_next_run=schedule.next_run,
            next_run=decision.next_run,
            run_key=key,
            nonce=make_nonce(schedule.channel_id, key),
            deadline=timecalc.end_of_local_day(decision.run_date, tz),
        )

    async def _drain(self) -> int:
        processed = 0
        slots = asyncio.Semaphore(self.concurrency)
        async with asyncio.TaskGroup() as group:
            while True:
                now = self.clock.now()
                await self._claim(now)
                batch = await self.repo.lease(
                    now,
                    owner=self.owner,
                    lease=self.lease,
                    limit=self.concurrency,
                    shards=self.shards,
                )
                if not batch:
                    break
                for run in batch:
                    await slots.acquire()
                    group.create_task(self._process_slot(run, slots))
                    processed += 1
        return processed

    async def _process_slot(self, run: Run, slots: asyncio.Semaphore) -> None:
        try:
            await self.process(run)
        finally:
            slots.release()

    # -- one run ----------------------------------------------------------------------------

    async def process(self, run: Run) -> Outcome:
        """Take one leased run as far as it can go now. Never raises (except cancellation)."""
        try:
            return await self._process(run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("daily post for channel %s (%s) failed", run.channel_id, run.run_key)
            now = self.clock.now()
            try:
                await self.repo.mark_retry(
                    run,
                    next_attempt=now
                    + timedelta(seconds=retry_delay(run.attempts, None, run.channel_id)),
                    error=f"internal error: {type(exc).__name__}",
                    verify=True,  # unknown how far it got: look before sending again
                    now=now,
                )
            except Exception:
                log.exception("could not record the failure of channel %s", run.channel_id)
            return Outcome("retry", detail="internal error")

    async def _process(self, run: Run) -> Outcome:
        now = self.clock.now()
        schedule = await self.repo.get(run.channel_id)
        request: PostRequest | None = None
        reconciling = False
        try:
            if run.state == SENDING:
                request = await self._request_for(run, schedule)
                if run.verify:
                    # The latest attempt may have reached Discord: look before resending.
                    # Every earlier attempt was looked for in the same way before this one.
                    reconciling = True
                    since = (run.attempt_at or now) - RECONCILE_MARGIN
                    found = await self._call(self.poster.find_sent(request, since))
                    if found is not None:
                        log.info(
                            "channel %s: %s was already posted (message %s); not resending",
                            run.channel_id,
                            run.run_key,
                            found.message_id,
                        )
                        return await self._sent(run, request, found)
                    reconciling = False
                if any(isinstance(p, GonePaper) for p in request.papers or [request.paper]):
                    # a paper left the store (and was not posted): start the run over
                    run = await self.repo.restart_run(run, now=now)
                    request = None
            if now >= run.deadline:
                return await self._give_up(run, now)
            if schedule is None or (schedule.paused_reason and not run.manual):
                # Turned off (or paused) since the run was made: do not post.
                await self.repo.mark_skipped(run, now=now)
                return Outcome("skipped", detail="the schedule was turned off")
            if request is None:
                prepared = await self._prepare(run, schedule, now)
                if isinstance(prepared, Outcome):
                    return prepared
                request = prepared
            else:
                await self.repo.begin_attempt(run, now=now)
            receipt = await self._call(self.poster.send(request))
            return await self._sent(run, request, receipt)
        except ChannelUnavailable as exc:
            log.warning(
                "channel %s unavailable, pausing its schedule: %s", run.channel_id, exc.reason
            )
            # Refused on sending: nothing went out. Refused while looking: it may have.
            await self.repo.mark_blocked(
                run, reason=exc.reason, verify=reconciling, now=self.clock.now()
            )
            return Outcome("blocked", detail=exc.reason)
        except TransientPostError as exc:
            now = self.clock.now()
            delay = retry_delay(run.attempts, exc.retry_after, run.channel_id)
            log.warning(
                "channel %s: posting failed (%s); retry %d in %.0f s",
                run.channel_id,
                exc.reason,
                run.attempts,
                delay,
            )
            await self.repo.mark_retry(
                run,
                next_attempt=now + timedelta(seconds=delay),
                error=exc.reason,
                # Failing to look keeps the need to look; a definite refusal of a send clears it.
                verify=exc.maybe_sent or reconciling,
                now=now,
            )
            return Outcome("retry", detail=exc.reason)

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.post_timeout):
                return await awaitable
        except TimeoutError:
            raise TransientPostError("Discord did not answer in time", maybe_sent=True) from None

    async def _request_for(self, run: Run, schedule: Schedule | None) -> PostRequest:
        topic = schedule.topic if schedule else None
        weekly = bool(schedule and schedule.weekly)
        if run.paper_id is None:
            return self._request(run, schedule, None, notice_text(topic, weekly=weekly))
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
        """Pick the paper and write ``sending`` (before Discord is called)."""
        if schedule.weekly:
            return await self._prepare_list(run, schedule, now)
        for _ in range(5):
            picked = await self.picker.pick(
                guild_id=schedule.guild_id,
                channel_id=schedule.channel_id,
                topic=schedule.topic,
                now=now,
            )
            if picked is None:
                return await self._nothing_left(run, schedule, now)
            paper = await self.papers.get(picked.id)
            if paper is None:
                log.info("picked paper %s is gone from the store; picking again", picked.id)
                self.picker.invalidate()
                continue
            if await self.repo.begin_send(
                run, pid=picked.pid, paper_id=paper.id, title=paper.title, now=now
            ):
                return self._request(run, schedule, paper, None)
            log.info(
                "paper %s was just taken in channel %s; picking again", paper.id, run.channel_id
            )
        raise RuntimeError("could not reserve a paper after 5 picks")

    async def _prepare_list(
        self, run: Run, schedule: Schedule, now: datetime
    ) -> PostRequest | Outcome:
        """Pick the week's top papers and write them with ``sending`` (before Discord)."""
        await self.repo.clear_run_papers(run)  # an earlier attempt's picks, not sent
        for _ in range(5):
            picked = await self.picker.pick_many(
                guild_id=schedule.guild_id,
                channel_id=schedule.channel_id,
                topic=schedule.topic,
                now=now,
                count=WEEKLY_COUNT,
            )
            if not picked:
                return await self._nothing_left(run, schedule, now)
            papers = [p for p in await self.papers_for([s.id for s in picked]) if p is not None]
            if len(papers) < len(picked):
                log.info("a picked paper is gone from the store; picking again")
                self.picker.invalidate()
                continue
            rows = [
                RunPaper(i, s.pid, p.id, p.title)
                for i, (s, p) in enumerate(zip(picked, papers, strict=True), 1)
            ]
            title = f"{len(rows)} papers: {papers[0].title}"
            if await self.repo.begin_send_list(run, rows, title=title, now=now):
                return self._request(run, schedule, None, None, papers=papers)
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
        await self.repo.begin_notice(run, now=now)
        return self._request(
            run, schedule, None, notice_text(schedule.topic, weekly=schedule.weekly)
        )

    async def _sent(self, run: Run, request: PostRequest, receipt: PostReceipt) -> Outcome:
        now = self.clock.now()
        if request.paper is None:
            status = "nothing left to post: told the channel"
            title = None
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
