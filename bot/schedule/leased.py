"""The runner of leased runs, shared by the daily posts and the For you digest.

:class:`LeasedRunner` is the loop and the exactly-once protocol; a subclass says what a run
sends and how (:class:`bot.schedule.runner.DailyRunner`: a channel's post,
:class:`bot.recs.digest.DigestRunner`: a member's DM). The rows are a
:class:`bot.store.runs.RunLedger`'s.

1. *Claim* (one ``BEGIN IMMEDIATE`` transaction): a recipient whose ``next_run`` has come gets
   a run keyed by its local date (or ISO week) and its ``next_run`` moves on. The key makes a
   second run for the same day impossible; a due time from an earlier local day (the bot was
   down) only moves ``next_run`` on: missed days are not flooded.
2. *Lease*: ready runs are leased to this runner until ``now + lease``; a runner that dies
   mid-run loses the lease, and a restarted one releases its predecessor's leases at once.
3. *Before Discord is called* the run is written as ``sending`` with what it sends and
   ``verify = 1`` (the subclass's ``_prepare``).
4. The message is sent with the run's nonce, the same for every attempt (discord.py sets
   ``enforce_nonce``: Discord drops a repeat within its dedupe window).
5. Success is recorded (``_sent``). A recipient that refuses for good (:class:`Unreachable`)
   is the subclass's ``_blocked``; a :class:`Transient` error is retried with backoff until
   the run's deadline (the end of its local day).
6. A run found ``sending`` with ``verify = 1`` (a crash between 3 and 5, a timeout, a 5xx) is
   *reconciled* first: the subclass looks for the message since the attempt. Found: recorded
   as sent, nothing is resent. Not found: sent again, same content, same nonce.

Every run is processed in isolation: one failing never blocks the others, and a failing pass
of the loop is logged and tried again. No Discord here: time is an injected :class:`Clock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, Literal, Protocol, TypedDict, TypeVar, Unpack
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.schedule import timecalc
from bot.shards import ShardSet
from bot.store.runs import SENDING, LeasedRun, NewRun, RunClosed, RunLedger

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", bound=LeasedRun)  # a run
P = TypeVar("P")  # its recipient's settings (a schedule, a member)
M = TypeVar("M")  # the message of a run
Rc = TypeVar("Rc")  # what sending it returns

# Look for an earlier attempt's message from this long before it (clock skew with Discord).
RECONCILE_MARGIN = timedelta(minutes=2)
# A due time passed this recently is still claimed for its own day, even across midnight.
LATE_CLAIM_GRACE = timedelta(minutes=15)


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


class Unreachable(Exception):
    """The recipient refused for good (a channel gone, DMs closed): pause it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(Exception):
    """Worth retrying later (5xx, network, 429). ``maybe_sent``: the message may exist."""

    def __init__(
        self, reason: str, *, retry_after: float | None = None, maybe_sent: bool = True
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.maybe_sent = maybe_sent


@dataclass(frozen=True, slots=True)
class Outcome:
    """What processing a run did now."""

    status: Literal["sent", "exhausted", "empty", "blocked", "retry", "failed", "skipped"]
    message_id: int | None = None
    paper_id: str | None = None
    title: str | None = None
    detail: str | None = None
    papers: int = 0  # papers in the message


@dataclass(frozen=True, slots=True)
class Recipient:
    """A due recipient as the runner sees it: its key, the ``next_run`` read, and when its
    runs are (a local time of day, on *weekday*, 0 = Monday, when weekly, in the zone *tz*)."""

    key: int
    next_run: datetime
    local_time: str
    tz: str
    weekly: bool
    weekday: int | None
    guild_id: int | None = None  # its server, for a ledger of runs by server


def nonce(prefix: str, seed: str) -> str:
    """A run's nonce: *prefix* and a hash of *seed* (say the run: same run, same nonce,
    across restarts); 25 characters, Discord's limit."""
    return prefix + hashlib.sha256(seed.encode()).hexdigest()[: 25 - len(prefix)]


def retry_delay(attempts: int, retry_after: float | None, key: int) -> float:
    """Seconds before the next try: 30 s doubling to 15 min, spread a little per recipient."""
    if retry_after is not None:
        # A 429 says exactly when: wait that long (plus a little), not the whole backoff.
        return retry_after + 1.0 + (key % 997) / 997 * 2.0
    base = min(30.0 * 2.0 ** max(0, attempts - 1), 900.0)
    return base * (1.0 + (key % 997) / 997 * 0.25)


class LoopOptions(TypedDict, total=False):
    """How a runner runs (:class:`LeasedRunner`'s defaults in its ``__init__``)."""

    concurrency: int
    lease: timedelta
    claim_batch: int
    max_idle: float
    owner: str | None  # this runner's id in the leases (default: a random one)
    shards: ShardSet | None


class LeasedRunner(ABC, Generic[R, P, M, Rc]):
    """Claims, leases and processes the runs of a :class:`RunLedger` (module docstring)."""

    name = "runner"  # for the log: "<name> tick failed"
    plural = "run(s)"  # for the log: "reconciling 3 <plural> left open"

    def __init__(
        self,
        ledger: RunLedger[R, P],
        clock: Clock | None,
        *,
        timeout: float,
        **options: Unpack[LoopOptions],
    ) -> None:
        self.ledger = ledger
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout  # seconds Discord has to answer one call
        self.concurrency = options.get("concurrency", 5)  # runs processed at once
        self.lease = options.get("lease", timedelta(minutes=10))
        self.claim_batch = options.get("claim_batch", 500)
        self.max_idle = options.get("max_idle", 60.0)  # seconds between passes, at most
        self.owner = options.get("owner") or uuid.uuid4().hex
        # A process running some of the shards handles the runs of its servers only (their
        # channels are in its cache); None: every server (one process, all shards).
        self.shards = options.get("shards")
        self.last_tick: datetime | None = None
        self.ticks = 0  # completed passes (for health checks and tests)
        self.failures = 0  # failed passes in a row
        self._wake = asyncio.Event()
        self._released = False
        self._stopped = False

    # -- what a subclass says -----------------------------------------------------------------

    turned_off = "turned off"
    """The outcome's detail for a run turned off while it picked (:class:`RunClosed`)."""

    @abstractmethod
    def _who(self, key: int) -> str:
        """The recipient, for the log: ``channel 123``."""

    @abstractmethod
    def _recipient(self, parent: P) -> Recipient: ...

    @abstractmethod
    def _nonce(self, key: int, run_key: str) -> str:
        """The nonce of the recipient's run *run_key* (see :func:`nonce`)."""

    @abstractmethod
    async def _bad_timing(self, parent: P, now: datetime) -> None:
        """The recipient's zone or time is no longer valid: stop its runs."""

    @abstractmethod
    async def _parent(self, run: R) -> P | None:
        """The run's recipient's settings as they are now (None: deleted)."""

    @abstractmethod
    async def _resume(self, run: R, parent: P | None) -> tuple[M, bool]:
        """The message of a run already ``sending``, and whether all of it is still there
        (a paper that left the store: the run starts over)."""

    @abstractmethod
    async def _restart(self, run: R, now: datetime) -> R:
        """Back to before ``sending`` (what it was to send is released)."""

    @abstractmethod
    async def _end_early(self, run: R, parent: P | None, now: datetime) -> Outcome | None:
        """Close the run without sending (past its deadline, turned off), or None to go on."""

    @abstractmethod
    async def _prepare(self, run: R, parent: P, now: datetime) -> M | Outcome:
        """Pick what to send and write ``sending`` (before Discord is called), or close the
        run (nothing to send)."""

    @abstractmethod
    async def _find_sent(self, message: M, since: datetime) -> Rc | None:
        """Our message in Discord after *since*, if it is there."""

    @abstractmethod
    async def _send(self, message: M) -> Rc:
        """Send it. Raises :class:`Unreachable` or :class:`Transient`."""

    @abstractmethod
    async def _sent(self, run: R, message: M, receipt: Rc) -> Outcome:
        """Record the run as sent."""

    @abstractmethod
    async def _blocked(
        self, run: R, parent: P | None, exc: Unreachable, reconciling: bool
    ) -> Outcome:
        """The recipient refused (*reconciling*: while looking for an earlier attempt)."""

    # -- the loop -------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the recipients now (one's settings changed)."""
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
        """Tick until stopped. Any exception is logged and the loop carries on (watchdog)."""
        if wait_ready is not None:
            await wait_ready()
        log.info(
            "%s started (runner %s, %s)",
            self.name,
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
                    "%s tick failed (%d in a row); retrying in %.0f s",
                    self.name,
                    self.failures,
                    delay,
                )
            await self._wait(delay)

    async def _sleep(self, seconds: float) -> None:
        await self.clock.sleep(seconds)

    async def _wait(self, seconds: float) -> None:
        if self._wake.is_set() or self.stopping():
            return
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, sleeper):
                task.cancel()
            for task in (waiter, sleeper):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _idle_seconds(self) -> float:
        upcoming = await self.ledger.next_wakeup(shards=self.shards)
        if upcoming is None:
            return self.max_idle
        seconds = (upcoming - self.clock.now()).total_seconds()
        return min(self.max_idle, max(0.5, seconds))

    async def tick(self) -> int:
        """One pass: claim what is due, process every ready run. Returns runs processed."""
        self._wake.clear()
        now = self.clock.now()
        if not self._released:
            released = await self.ledger.release_stale(self.owner, now, shards=self.shards)
            if released:
                log.info("reconciling %d %s left open by the previous run", released, self.plural)
            self._released = True
        processed = await self._drain()
        self.last_tick = self.clock.now()
        self.ticks += 1
        return processed

    async def _claim(self, now: datetime) -> int:
        created = 0
        while True:
            due = await self.ledger.due(now, self.claim_batch, shards=self.shards)
            if not due:
                return created
            items = [item for p in due if (item := await self._decide(p, now)) is not None]
            created += await self.ledger.open_runs(items, now)
            if len(due) < self.claim_batch:
                return created

    async def _decide(self, parent: P, now: datetime) -> NewRun | None:
        who = self._recipient(parent)
        try:
            tz = ZoneInfo(who.tz)
            at = timecalc.parse_hhmm(who.local_time)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("%s has a bad time or zone", self._who(who.key))
            await self._bad_timing(parent, now)
            return None
        weekday = (who.weekday or 0) if who.weekly else None  # weekly, no day: Mondays
        decision = timecalc.run_for(at, tz, now, weekday)
        item = NewRun(who.key, who.next_run, decision.next_run, guild_id=who.guild_id)
        day = decision.run_date
        deadline = None
        if day is None and now - who.next_run <= LATE_CLAIM_GRACE:
            # Due a moment ago on the previous local day (this pass started late: the one
            # before waited for slow sends): that day's post, not a missed day.
            late = timecalc.local_date_for(who.next_run, tz)
            if timecalc.due_on(late, at, tz) == who.next_run:
                day, deadline = late, now + LATE_CLAIM_GRACE
        if day is None:
            log.info(
                "%s missed its run on an earlier day; next at %s",
                self._who(who.key),
                decision.next_run.isoformat(),
            )
            return item
        run_key = timecalc.week_key(day) if who.weekly else day.isoformat()
        return dataclasses.replace(
            item,
            run_key=run_key,
            nonce=self._nonce(who.key, run_key),
            deadline=deadline or timecalc.end_of_local_day(day, tz),
        )

    async def _drain(self) -> int:
        processed = 0
        slots = asyncio.Semaphore(self.concurrency)
        async with asyncio.TaskGroup() as group:
            while True:
                now = self.clock.now()
                await self._claim(now)
                batch = await self.ledger.lease(
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

    async def _process_slot(self, run: R, slots: asyncio.Semaphore) -> None:
        try:
            await self.process(run)
        finally:
            slots.release()

    # -- one run --------------------------------------------------------------------------------

    def _attempt(self, run: R) -> int:
        """The number of the attempt under way (the ledger counts leases or sends)."""
        return run.attempts if self.ledger.spec.count_leases else run.attempts + 1

    async def process(self, run: R) -> Outcome:
        """Take one leased run as far as it can go now. Never raises (except cancellation)."""
        try:
            return await self._process(run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("%s (%s) failed", self._who(run.key), run.run_key)
            now = self.clock.now()
            try:
                await self.ledger.mark_retry(
                    run,
                    next_attempt=now + timedelta(seconds=retry_delay(run.attempts, None, run.key)),
                    error=f"internal error: {type(exc).__name__}",
                    verify=True,  # unknown how far it got: look before sending again
                    now=now,
                )
            except Exception:
                log.exception("could not record the failure of %s", self._who(run.key))
            return Outcome("retry", detail="internal error")

    async def _process(self, run: R) -> Outcome:
        now = self.clock.now()
        parent = await self._parent(run)
        message: M | None = None
        reconciling = False
        try:
            if run.state == SENDING:
                message, complete = await self._resume(run, parent)
                if run.verify:
                    # The latest attempt may have reached Discord: look before resending.
                    # Every earlier attempt was looked for in the same way before this one.
                    reconciling = True
                    since = (run.attempt_at or now) - RECONCILE_MARGIN
                    found = await self._call(self._find_sent(message, since))
                    if found is not None:
                        log.info(
                            "%s: %s was already sent; not resending",
                            self._who(run.key),
                            run.run_key,
                        )
                        return await self._sent(run, message, found)
                    reconciling = False
                if not complete:
                    # Something it was to send left the store (and it did not go out).
                    run = await self._restart(run, now)
                    message = None
            ended = await self._end_early(run, parent, now)
            if ended is not None:
                return ended
            if message is None:
                assert parent is not None
                try:
                    prepared = await self._prepare(run, parent, now)
                except RunClosed:  # turned off while it picked: nothing was written
                    log.info("%s was turned off while picking; not sending", self._who(run.key))
                    return Outcome("skipped", detail=self.turned_off)
                if isinstance(prepared, Outcome):
                    return prepared
                message = prepared
            else:
                await self.ledger.begin_attempt(run, now)
            receipt = await self._call(self._send(message))
            return await self._sent(run, message, receipt)
        except Unreachable as exc:
            return await self._blocked(run, parent, exc, reconciling)
        except Transient as exc:
            now = self.clock.now()
            delay = retry_delay(self._attempt(run), exc.retry_after, run.key)
            log.warning(
                "%s: sending failed (%s); retry %d in %.0f s",
                self._who(run.key),
                exc.reason,
                self._attempt(run),
                delay,
            )
            await self.ledger.mark_retry(
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
            async with asyncio.timeout(self.timeout):
                return await awaitable
        except TimeoutError:
            raise Transient("Discord did not answer in time", maybe_sent=True) from None
