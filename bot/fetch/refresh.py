"""One refresh run: read each enabled live source day by day and store what is new.

Each day's papers are stored in one transaction together with the source's cursor and the
HTTP validators of the answers they came from, so a run that fails half-way leaves the store
as it was after the last complete day, and the next run resumes there. A source
that is down, slow or answering garbage is reported (and logged) and never raises out of
:func:`run_refresh`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import aiohttp

from bot.config import Settings
from bot.fetch.http import (
    Clock,
    Fetcher,
    FetchError,
    Pacer,
    RetryPolicy,
    Sleep,
    new_session,
    shared_pacer,
    user_agent,
)
from bot.fetch.sources import ArxivSource, DayBatch, HfDailySource, LiveSource, RunLimitReached
from bot.ingest import IngestError
from bot.store import Store
from bot.store.leases import process_owner
from bot.store.papers import UpsertCounts
from bot.store.refresh import SourceState

log = logging.getLogger(__name__)

SOURCE_NAMES: tuple[str, ...] = ("hf", "arxiv")
ARXIV_INTERVAL = 3.0  # seconds between arXiv API requests (arXiv's terms of use)
HF_INTERVAL = 0.5  # a courtesy pause between Hugging Face requests
MAX_CATCHUP_DAYS = 14  # after a long outage, scheduled runs go back at most this far
LEASE = timedelta(minutes=30)  # longest a run may hold a source before another may take over


@dataclass(slots=True)
class RefreshReport:
    """What one source's run did. ``ok`` is False when a day could not be read."""

    source: str
    started_at: datetime
    seconds: float = 0.0
    days: list[date] = field(default_factory=list)  # days read and stored
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0  # malformed records skipped (the rest of the day was stored)
    withdrawn: int = 0  # papers the source marks withdrawn, removed from the store
    failed_days: int = 0
    requests: int = 0
    not_modified: int = 0
    cursor: date | None = None
    errors: list[str] = field(default_factory=list)
    note: str | None = None  # e.g. stopped at the per-run request limit
    skipped: str | None = None  # why the source did not run (not due)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def failed(self) -> int:
        return self.rejected + self.failed_days

    def summary(self) -> str:
        """One line for the log and the CLI."""
        if self.skipped:
            return f"{self.source}: skipped ({self.skipped})"
        text = (
            f"{self.source}: {self.new} new, {self.updated} updated, {self.failed} failed "
            f"({self.unchanged} unchanged; {len(self.days)} day(s), {self.requests} request(s), "
            f"{self.not_modified} not modified; cursor {self.cursor or 'none'}; "
            f"{self.seconds:.1f} s)"
        )
        if self.withdrawn:
            text += f"; {self.withdrawn} withdrawn paper(s) removed"
        if self.note:
            text += f"; {self.note}"
        if self.errors:
            text += "; errors: " + "; ".join(self.errors)
        return text


def parse_since(value: date | str | None) -> date | None:
    """``--since`` as a date. Raises ValueError with a readable message."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"--since must be a date like 2026-04-12, not {value!r}") from None


def select_sources(settings: Settings, sources: Sequence[str] | None) -> list[str]:
    """The sources to run: those named (even if switched off in .env), else the enabled ones."""
    if sources is None:
        return [
            name
            for name, on in (("hf", settings.refresh_hf), ("arxiv", settings.refresh_arxiv))
            if on
        ]
    unknown = [s for s in sources if s not in SOURCE_NAMES]
    if unknown:
        raise ValueError(
            f"unknown source(s) {', '.join(unknown)}; choose from {', '.join(SOURCE_NAMES)}"
        )
    return list(dict.fromkeys(sources))


def plan_days(
    today: date,
    cursor: date | None,
    *,
    recent_days: int,
    since: date | None = None,
    max_catchup: int = MAX_CATCHUP_DAYS,
) -> list[date]:
    """The days a run reads, oldest first: from the day after the cursor (or *since*), always
    including the last *recent_days* days, never more than *max_catchup* back unless *since*
    asks for it."""
    window_start = today - timedelta(days=recent_days - 1)
    if since is not None:
        start = min(since, window_start)
    else:
        start = window_start if cursor is None else min(cursor + timedelta(days=1), window_start)
        start = max(start, today - timedelta(days=max_catchup))
    return [start + timedelta(days=i) for i in range((today - start).days + 1)]


def is_due(source: LiveSource, state: SourceState | None, now: datetime) -> bool:
    if state is None or state.last_success_at is None or not source.min_interval:
        return True
    return now - state.last_success_at >= source.min_interval


async def run_refresh(
    store: Store,
    settings: Settings,
    *,
    sources: Sequence[str] | None = None,
    since: date | str | None = None,
    session: aiohttp.ClientSession | None = None,
    due_only: bool = False,
    today: date | None = None,
    policy: RetryPolicy | None = None,
    sleep: Sleep | None = None,
    clock: Clock | None = None,
    arxiv_pacer: Pacer | None = None,
) -> list[RefreshReport]:
    """Import new papers from the live sources into *store*; one report per source.

    *sources*: names from :data:`SOURCE_NAMES` (default: those enabled in settings).
    *since*: first day to read (default: the day after each source's cursor).
    *due_only*: skip sources refreshed too recently (the background loop sets it).
    *sleep*/*clock*: injected into back-off and pacing (tests); by default the real ones.
    *arxiv_pacer*: the pacer for arXiv requests; by default the process-wide one (3 s apart,
    one at a time), or a private one built on *sleep*/*clock* when those are given.
    Raises ValueError only for bad arguments; source failures are in the reports.
    """
    names = select_sources(settings, sources)
    first_day = parse_since(since)
    if first_day is not None:
        # A day ahead is fine (time zones east of UTC); later is a typo, not a backfill.
        utc_today = today or datetime.now(UTC).date()
        if first_day > utc_today + timedelta(days=1):
            raise ValueError(
                f"--since {first_day.isoformat()} is in the future (today is "
                f"{utc_today.isoformat()} UTC); give the first day to fetch"
            )
    own_session = session is None
    http = session or new_session()
    try:
        reports = []
        for name in names:
            reports.append(
                await _run_source(
                    name,
                    store,
                    settings,
                    http,
                    since=first_day,
                    due_only=due_only,
                    today=today,
                    policy=policy,
                    sleep=sleep,
                    clock=clock,
                    arxiv_pacer=arxiv_pacer,
                )
            )
        return reports
    finally:
        if own_session:
            await http.close()


def _make_source(
    name: str,
    store: Store,
    settings: Settings,
    fetcher: Fetcher,
    *,
    sleep: Sleep | None,
    clock: Clock | None,
    arxiv_pacer: Pacer | None,
) -> LiveSource:
    custom = sleep is not None or clock is not None
    if name == "hf":
        pacer = Pacer(HF_INTERVAL, clock=clock or time.monotonic, sleep=sleep or asyncio.sleep)
        return HfDailySource(
            settings.hf_api_base, fetcher, validators=store.refresh.get_validators, pacer=pacer
        )
    if arxiv_pacer is None:
        arxiv_pacer = (
            Pacer(ARXIV_INTERVAL, clock=clock or time.monotonic, sleep=sleep or asyncio.sleep)
            if custom
            else shared_pacer(settings.arxiv_api_base, ARXIV_INTERVAL)
        )
    return ArxivSource(
        settings.arxiv_api_base,
        settings.arxiv_categories,
        fetcher,
        validators=store.refresh.get_validators,
        pacer=arxiv_pacer,
    )


async def _run_source(
    name: str,
    store: Store,
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    since: date | None,
    due_only: bool,
    today: date | None,
    policy: RetryPolicy | None,
    sleep: Sleep | None,
    clock: Clock | None,
    arxiv_pacer: Pacer | None,
) -> RefreshReport:
    now = datetime.now(UTC)
    report = RefreshReport(source=name, started_at=now)
    began = time.monotonic()
    fetcher = Fetcher(
        session, agent=user_agent(settings), policy=policy, sleep=sleep or asyncio.sleep
    )
    try:
        source = _make_source(
            name, store, settings, fetcher, sleep=sleep, clock=clock, arxiv_pacer=arxiv_pacer
        )
        state = await store.refresh.state(name)
        report.cursor = state.cursor if state else None
        if due_only and since is None and not is_due(source, state, now):
            report.skipped = "refreshed less than " + _hours(source.min_interval) + " ago"
            log.debug("refresh %s", report.summary())
            return report
        owner = process_owner(f"{id(report):x}")
        if not await store.refresh.acquire(name, owner, now + LEASE):
            report.skipped = "another refresh of this source is running"
            log.info("refresh %s", report.summary())
            return report
        try:
            await _run_days(source, store, report, since=since, today=today or now.date())
        finally:
            await store.refresh.release(name, owner)
    except Exception as exc:  # a bug or a database problem: report it, never crash the bot
        log.exception("refresh %s failed", name)
        report.errors.append(f"{exc.__class__.__name__}: {exc}")
    finally:
        report.requests = fetcher.requests
        report.not_modified = fetcher.not_modified
        report.seconds = time.monotonic() - began
    await _record(store, report)
    return report


async def _run_days(
    source: LiveSource, store: Store, report: RefreshReport, *, since: date | None, today: date
) -> None:
    """Read and store *source*'s days in order. A bad record is skipped (``rejected``); a day
    that cannot be used at all (garbage, or any error storing it) is a failed day, and the
    days after it are still read and stored, but the cursor stays before the failed day: the
    next run reads it again (the days after it too, cheaply, with validators), for as long as
    it is within :data:`MAX_CATCHUP_DAYS`. Only the source being unreachable ends the run."""
    days = plan_days(today, report.cursor, recent_days=source.recent_days, since=since)
    contiguous = True
    for day in days:
        try:
            batch = await source.fetch_day(day)
            await _store_day(store, source, batch, report, advance=contiguous)
        except RunLimitReached as exc:
            report.note = str(exc)
            break
        except FetchError as exc:
            # The source is down or refusing us: stop, the next run starts from this day.
            report.errors.append(f"{day.isoformat()}: {exc.reason}")
            report.failed_days += 1
            break
        except Exception as exc:
            # This day only (garbage, or the store refusing it): keep going, cursor stays.
            if isinstance(exc, IngestError):
                report.errors.append(str(exc))
            else:
                log.warning("refresh %s %s failed", source.name, day, exc_info=True)
                reason = " ".join(str(exc).split())[:300]
                report.errors.append(f"{day.isoformat()}: {type(exc).__name__}: {reason}")
            report.failed_days += 1
            contiguous = False


async def _store_day(
    store: Store, source: LiveSource, batch: DayBatch, report: RefreshReport, *, advance: bool
) -> None:
    # The day's papers, the cursor and the validators commit together, or not at all.
    counts = UpsertCounts()
    # Each day's list is a trending list of its own; a day read whole again replaces it (a
    # day with pages answered "not modified" is only part of the list: nothing is replaced).
    rank_list = f"{source.name}:{batch.day.isoformat()}"
    async with store.unit_of_work() as work:
        if batch.papers:
            counts = await work.upsert_papers(
                batch.papers, source.paper_source, rank_list=rank_list
            )
            if counts.ranked and not batch.partial:
                await work.replace_ranks(rank_list, counts.ranked)
        await work.advance_refresh(source.name, batch.day if advance else None, batch.validators)
    report.new += counts.new
    report.updated += counts.updated
    report.unchanged += counts.unchanged
    report.rejected += batch.rejected
    if batch.rejected:
        log.warning(
            "refresh %s %s: skipped %d bad record(s): %s",
            source.name,
            batch.day,
            batch.rejected,
            "; ".join(batch.problems),
        )
    for paper_id in batch.withdrawn:
        if await store.papers.delete(paper_id):
            report.withdrawn += 1
            log.info("removed %s: withdrawn according to %s", paper_id, source.name)
    if advance and (report.cursor is None or batch.day > report.cursor):
        report.cursor = batch.day
    report.days.append(batch.day)
    log.debug(
        "refresh %s %s: %d paper(s), %d page(s), %d not modified",
        source.name,
        batch.day,
        len(batch.papers),
        batch.pages,
        batch.not_modified,
    )


async def _record(store: Store, report: RefreshReport) -> None:
    if report.skipped:
        return
    level = logging.INFO if report.ok else logging.WARNING
    log.log(level, "refresh %s", report.summary())
    try:
        await store.refresh.record_run(
            report.source,
            ok=report.ok,
            new=report.new,
            updated=report.updated,
            failed=report.failed,
            error="; ".join(report.errors)[:1000] or None,
            at=report.started_at,
        )
    except Exception:
        log.exception("could not record the refresh run of %s", report.source)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:g} h"
