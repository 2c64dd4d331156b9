"""The For you digest: a member's top new picks by DM, once a day (or a week), exactly once.

The machine of the daily posts (:mod:`bot.schedule.runner`), for one DM per member:

1. *Claim* (one transaction): a member whose ``next_run`` has come gets a run keyed by their
   local date (weekly: the ISO week) and their ``next_run`` moves on. The key makes a second
   digest for the same day impossible; a due time from an earlier local day (the bot was down)
   only moves ``next_run`` on: missed days are not flooded.
2. *Lease*: ready runs are leased to this runner until ``now + lease``.
3. *Before Discord is called* the picks are written to ``rec_shown`` with the run, and the run
   enters ``sending`` with ``verify = 1``, in one transaction. A paper written there is never
   picked again for that member (by a digest or ``/foryou``): a digest never repeats a paper.
4. The DM is sent with the run's nonce (the same for every attempt; discord.py sets
   ``enforce_nonce``, so Discord drops a repeat within its window).
5. Success: ``sent``. A member whose DMs are closed: the run is ``blocked``, its papers are
   released (they never went out), the digest is paused and the member is told once where they
   turned it on (like alerts); ``/foryou digest on`` resumes it. Transient errors (5xx, 429,
   network, timeouts) are retried with backoff until the local day ends.
6. A run found ``sending`` with ``verify = 1`` (a crash between 3 and 5, a timeout, a 5xx) is
   *reconciled* first: the sender looks in the member's DMs for our digest since the attempt.
   Found: recorded as sent, nothing is resent. Not found: sent again, same papers, same nonce.

No Discord here: the DM is an injected :class:`DigestSender` (``bot/cogs/foryou.py``), the
time an injected clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.models import Paper
from bot.recs.recommender import COLD, PERSONAL, Pick, Recommender
from bot.schedule import timecalc
from bot.schedule.runner import Clock, SystemClock, retry_delay
from bot.store.recs import SENDING, DigestRun, Member, NewDigest, RecsRepo

log = logging.getLogger(__name__)

T = TypeVar("T")

DIGEST_COUNT = 5
RECONCILE_MARGIN = timedelta(minutes=2)


def make_nonce(user_id: int, run_key: str) -> str:
    """The nonce of a digest: same run, same nonce, across restarts (Discord allows 25)."""
    digest = hashlib.sha256(f"paperbot-foryou:{user_id}:{run_key}".encode()).hexdigest()
    return "pf" + digest[:23]


@dataclass(frozen=True, slots=True)
class Digest:
    """One DM: the member's picks (a cold start's trending papers when ``kind`` says so)."""

    user_id: int
    run_key: str
    nonce: str
    weekly: bool
    kind: str  # bot.recs.recommender PERSONAL, COLD or UNAVAILABLE
    papers: tuple[Paper, ...]
    picks: tuple[Pick, ...]  # the same order as papers


class DigestBlocked(Exception):
    """The member cannot be sent DMs (they closed them, or left every shared server)."""


class TransientDigestError(Exception):
    """Worth trying again later. ``maybe_sent``: the DM may exist."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, maybe_sent: bool = True
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


class DigestSender(Protocol):
    async def send(self, digest: Digest, /) -> int:
        """Send the DM; returns its message id. Raises :class:`DigestBlocked` or
        :class:`TransientDigestError`."""
        ...

    async def find_sent(self, digest: Digest, since: datetime, /) -> int | None:
        """Our DM for *digest* after *since*, if the member's DMs hold it."""
        ...

    async def notify_blocked(self, member: Member, /) -> None:
        """Tell the member (where they turned the digest on) that their DMs are closed."""
        ...


class PaperSource(Protocol):
    async def get_by_pids(self, pids: Iterable[int], /) -> list[Paper]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    status: Literal["sent", "empty", "blocked", "retry", "failed"]
    message_id: int | None = None
    papers: int = 0
    detail: str | None = None


class DigestRunner:
    def __init__(
        self,
        repo: RecsRepo,
        recommender: Recommender,
        papers: PaperSource,
        sender: DigestSender,
        clock: Clock | None = None,
        *,
        count: int = DIGEST_COUNT,
        lease: timedelta = timedelta(minutes=10),
        send_timeout: float = 60.0,
        claim_batch: int = 500,
        concurrency: int = 5,
        max_idle: float = 60.0,
        owner: str | None = None,
    ) -> None:
        self.repo = repo
        self.recommender = recommender
        self.papers = papers
        self.sender = sender
        self.clock: Clock = clock or SystemClock()
        self.count = count
        self.lease = lease
        self.send_timeout = send_timeout
        self.claim_batch = claim_batch
        self.concurrency = concurrency
        self.max_idle = max_idle
        self.owner = owner or uuid.uuid4().hex
        self.ticks = 0
        self._released = False
        self._stopped = False
        self._wake = asyncio.Event()

    # -- loop -------------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    def stopping(self) -> bool:
        return self._stopped

    async def run_forever(self, wait_ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Tick until stopped; a failing tick is logged and the loop carries on."""
        if wait_ready is not None:
            await wait_ready()
        failures = 0
        while not self.stopping():
            try:
                await self.tick()
                failures = 0
                delay = await self._idle_seconds()
            except asyncio.CancelledError:
                raise
            except Exception:
                if self.stopping():
                    break
                failures += 1
                delay = min(300.0, 2.0**failures)
                log.exception("digest tick failed (%d in a row); again in %.0f s", failures, delay)
            await self._wait(delay)

    async def _wait(self, seconds: float) -> None:
        if self._wake.is_set() or self.stopping():
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        # Real time, whatever the clock: a test's stepped clock belongs to the daily runner
        # (each sleep on it moves it on); a test ticks this loop with wake() instead.
        sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, sleeper):
                task.cancel()
            for task in (waiter, sleeper):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _idle_seconds(self) -> float:
        upcoming = await self.repo.next_wakeup()
        if upcoming is None:
            return self.max_idle
        return min(self.max_idle, max(0.5, (upcoming - self.clock.now()).total_seconds()))

    async def tick(self) -> int:
        """One pass: claim due digests, process every ready run. Returns runs processed."""
        self._wake.clear()
        now = self.clock.now()
        if not self._released:
            released = await self.repo.release_stale(self.owner, now)
            if released:
                log.info("reconciling %d digest(s) left open by the previous run", released)
            self._released = True
        await self._claim(now)
        processed = 0
        slots = asyncio.Semaphore(self.concurrency)

        async def one(run: DigestRun) -> None:
            async with slots:
                await self.process(run)

        while True:
            batch = await self.repo.lease(
                self.clock.now(), owner=self.owner, lease=self.lease, limit=self.claim_batch
            )
            if not batch:
                break
            await asyncio.gather(*(one(run) for run in batch))
            processed += len(batch)
        self.ticks += 1
        return processed

    async def _claim(self, now: datetime) -> int:
        created = 0
        while True:
            due = await self.repo.due(now, self.claim_batch)
            if not due:
                return created
            items = [item for m in due if (item := await self._decide(m, now)) is not None]
            created += await self.repo.open_runs(items, now)
            if len(due) < self.claim_batch:
                return created

    async def _decide(self, member: Member, now: datetime) -> NewDigest | None:
        assert member.next_run is not None
        try:
            tz = ZoneInfo(member.tz or "UTC")
            at = timecalc.parse_hhmm(member.local_time or "")
        except (ZoneInfoNotFoundError, ValueError):
            log.warning(
                "the digest of user %s has a bad time or zone; turning it off", member.user_id
            )
            await self.repo.digest_off(member.user_id, now)
            return None
        weekday = (member.weekday or 0) if member.weekly else None
        decision = timecalc.run_for(at, tz, now, weekday)
        if decision.run_date is None:
            return NewDigest(member.user_id, member.next_run, decision.next_run)
        key = (
            timecalc.week_key(decision.run_date) if member.weekly else decision.run_date.isoformat()
        )
        return NewDigest(
            member.user_id,
            member.next_run,
            decision.next_run,
            run_key=key,
            nonce=make_nonce(member.user_id, key),
            deadline=timecalc.end_of_local_day(decision.run_date, tz),
        )

    # -- one run ----------------------------------------------------------------------------

    async def process(self, run: DigestRun) -> Outcome:
        """Take one leased run as far as it can go now. Never raises (but cancellation)."""
        try:
            return await self._process(run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("the digest of user %s (%s) failed", run.user_id, run.run_key)
            now = self.clock.now()
            with contextlib.suppress(Exception):
                await self.repo.mark_retry(
                    run,
                    next_attempt=now + timedelta(seconds=retry_delay(run.attempts, None, 0)),
                    error=f"internal error: {type(exc).__name__}",
                    verify=True,  # unknown how far it got: look before sending again
                    now=now,
                )
            return Outcome("retry", detail="internal error")

    async def _process(self, run: DigestRun) -> Outcome:
        now = self.clock.now()
        member = await self.repo.member(run.user_id)
        digest: Digest | None = None
        reconciling = False
        try:
            if run.state == SENDING:
                digest, complete = await self._resume(run, member)
                if run.verify:
                    reconciling = True
                    since = (run.attempt_at or now) - RECONCILE_MARGIN
                    found = await self._call(self.sender.find_sent(digest, since))
                    if found is not None:
                        log.info(
                            "the digest of user %s (%s) was already sent; not resending",
                            run.user_id,
                            run.run_key,
                        )
                        await self.repo.mark_sent(run, found, self.clock.now())
                        return Outcome("sent", found, len(digest.papers))
                    reconciling = False
                if not complete:
                    # A paper left the store (and the DM did not go out): pick again.
                    run = await self.repo.restart_run(run, now)
                    digest = None
            on = member is not None and member.digest and member.paused_reason is None
            if now >= run.deadline or not on:
                why = "turned off" if not on else "the day ended before it could go out"
                await self.repo.mark_failed(run, error=why, release=True, now=now)
                return Outcome("failed", detail=why)
            if digest is None:
                assert member is not None
                prepared = await self._prepare(run, member, now)
                if isinstance(prepared, Outcome):
                    return prepared
                digest = prepared
            else:
                await self.repo.begin_attempt(run, now)
            message_id = await self._call(self.sender.send(digest))
        except DigestBlocked as exc:
            log.info("user %s does not accept DMs: pausing their digest (%s)", run.user_id, exc)
            paused = await self.repo.mark_blocked(run, reason=str(exc), now=self.clock.now())
            if paused and member is not None:
                try:
                    await self.sender.notify_blocked(member)
                except Exception:
                    log.warning(
                        "could not tell user %s about their digest", run.user_id, exc_info=True
                    )
            return Outcome("blocked", detail=str(exc))
        except TransientDigestError as exc:
            now = self.clock.now()
            delay = retry_delay(run.attempts + 1, exc.retry_after, run.user_id)
            log.warning(
                "the digest of user %s failed (%s); again in %.0f s", run.user_id, exc.reason, delay
            )
            await self.repo.mark_retry(
                run,
                next_attempt=now + timedelta(seconds=delay),
                error=exc.reason,
                verify=exc.maybe_sent or reconciling,
                now=now,
            )
            return Outcome("retry", detail=exc.reason)
        await self.repo.mark_sent(run, message_id, self.clock.now())
        log.info(
            "digest of %d paper(s) sent to user %s (%s)",
            len(digest.papers),
            run.user_id,
            run.run_key,
        )
        return Outcome("sent", message_id, len(digest.papers))

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.send_timeout):
                return await awaitable
        except TimeoutError:
            raise TransientDigestError("Discord did not answer in time") from None

    async def _prepare(self, run: DigestRun, member: Member, now: datetime) -> Digest | Outcome:
        """Pick the papers and write ``sending`` (before Discord is called)."""
        for _ in range(3):
            found = await self.recommender.feed(run.user_id, self.count)
            if not found.picks:
                await self.repo.mark_empty(run, now)
                return Outcome("empty")
            papers = await self.papers.get_by_pids([p.pid for p in found.picks])
            have = {p.id for p in papers}
            picks = [p for p in found.picks if p.paper_id in have]
            if picks and await self.repo.begin_send(run, [p.pid for p in picks], now):
                return Digest(
                    run.user_id,
                    run.run_key,
                    run.nonce,
                    member.weekly,
                    found.kind,
                    tuple(papers),
                    tuple(picks),
                )
            log.info("a digest paper of user %s went meanwhile; picking again", run.user_id)
        raise RuntimeError("could not reserve the digest's papers after 3 picks")

    async def _resume(self, run: DigestRun, member: Member | None) -> tuple[Digest, bool]:
        """The digest of a run already ``sending`` (its reserved papers, in order), and
        whether every one of them is still in the store."""
        pids = await self.repo.run_pids(run)
        papers = await self.papers.get_by_pids(pids)
        have = {p.id for p in papers}
        picks = [p for p in await self.recommender.reasons(run.user_id, pids) if p.paper_id in have]
        digest = Digest(
            run.user_id,
            run.run_key,
            run.nonce,
            bool(member and member.weekly),
            PERSONAL if any(p.because_id for p in picks) else COLD,
            tuple(papers),
            tuple(picks),
        )
        return digest, bool(pids) and len(papers) == len(pids) == len(picks)
