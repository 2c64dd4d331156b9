"""The live sources, each read one day at a time.

* ``hf``: Hugging Face daily papers, ``GET {hf_api_base}/api/daily_papers?date=D&limit=100&p=N``
  (the trending list: upvotes, AI summaries). Upvotes move for a few days, so the last
  :attr:`HfDailySource.recent_days` days are read again on every run (cheaply, when the server
  answers 304 to our validators).
* ``arxiv``: the arXiv API for the configured categories, one submission day at a time
  (``submittedDate:[D0000 TO D2359]``), paged by 100, through the shared 3-second pacer.
  arXiv announces a paper up to a few days after its submission day (weekends), so the last
  :attr:`ArxivSource.recent_days` days are read again, at most every :attr:`min_interval`.

A source returns a :class:`DayBatch`; the refresher (``bot.fetch.refresh``) stores it in one
transaction and moves the source's cursor.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

from bot.fetch.http import Fetcher, Pacer, Response, build_url
from bot.ingest import IngestError, RecordError, arxiv_atom, hf_daily
from bot.models import SOURCE_ARXIV_API, SOURCE_HF_DAILY, Paper
from bot.store.refresh import Validators

log = logging.getLogger(__name__)


class RunLimitReached(Exception):
    """The source made as many requests as one run may; the next run continues."""


MAX_PROBLEMS = 5  # rejected records described per day (all are counted)


@dataclass(slots=True)
class DayBatch:
    """What one day of a source held. A malformed record (a number out of range...) is
    skipped, counted in ``rejected`` and described in ``problems``; the rest of the day is
    stored."""

    day: date
    papers: list[Paper] = field(default_factory=list)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)  # the first MAX_PROBLEMS, for the log
    pages: int = 0
    not_modified: int = 0  # pages answered 304: nothing to store for them
    partial: bool = False  # a page holding papers was answered 304: not the whole list
    withdrawn: list[str] = field(default_factory=list)  # ids the source says were withdrawn
    validators: dict[str, Validators] = field(default_factory=dict)

    def reject(self, record: RecordError, where: str) -> None:
        self.rejected += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{record.paper_id or where}: {record.reason}")


class LiveSource(Protocol):
    name: str  # the CLI and refresh_state name: "hf", "arxiv"
    paper_source: str  # the models.SOURCE_* given to PaperRepo.upsert_many
    recent_days: int  # days (today included) read again on every run
    min_interval: timedelta  # for scheduled runs: no sooner after a success

    async def fetch_day(self, day: date) -> DayBatch: ...


ValidatorLookup = Callable[[str], Awaitable[Validators | None]]


def _reject_html(resp: Response, what: str) -> None:
    if "html" in resp.content_type.lower():
        raise IngestError(f"{what}: the server answered with an HTML page, not data")


class HfDailySource:
    name = "hf"
    paper_source = SOURCE_HF_DAILY
    recent_days = 3
    min_interval = timedelta(0)
    page_size = 100
    max_pages = 10

    def __init__(
        self,
        base: str,
        fetcher: Fetcher,
        *,
        validators: ValidatorLookup,
        pacer: Pacer | None = None,
    ) -> None:
        self.base = base
        self.fetcher = fetcher
        self.cached = validators
        self.pacer = pacer

    def url(self, day: date, page: int) -> str:
        params: dict[str, str | int] = {"date": day.isoformat(), "limit": self.page_size, "p": page}
        return build_url(self.base, "/api/daily_papers", params)

    async def fetch_day(self, day: date) -> DayBatch:
        batch = DayBatch(day)
        seen: set[str] = set()
        for page in range(self.max_pages):
            url = self.url(day, page)
            before = await self.cached(url)
            resp = await self.fetcher.get(
                url, validators=before, pacer=self.pacer, accept="application/json"
            )
            batch.pages += 1
            if resp.not_found:
                # No list for that day (a weekend, a day not published yet): nothing to add.
                break
            if resp.not_modified:
                batch.not_modified += 1
                if before is None or not before.items:
                    break
                batch.partial = True
                continue
            what = f"Hugging Face daily papers for {day.isoformat()} (page {page + 1})"
            _reject_html(resp, what)
            try:
                records = hf_daily.parse_bytes(resp.body)
            except IngestError as exc:
                raise IngestError(f"{what}: {exc}") from exc
            fresh = 0
            for record in records:
                if isinstance(record, Paper):
                    if record.id in seen:
                        continue
                    seen.add(record.id)
                    if page and record.source_rank is not None:
                        record.source_rank += page * self.page_size
                    batch.papers.append(record)
                    fresh += 1
                elif record.paper_id and record.reason.startswith("withdrawn"):
                    batch.withdrawn.append(record.paper_id)
                else:
                    batch.reject(record, f"page {page + 1}, line {record.line}")
            batch.validators[url] = Validators(
                resp.validators.etag, resp.validators.last_modified, len(records)
            )
            # Page on until a page brings nothing new: empty (the end), or the same papers
            # again (the server ignores paging). A short page is not trusted to be the last:
            # the server may cap ``limit`` below what we asked for.
            if not fresh:
                break
        return batch


class ArxivSource:
    name = "arxiv"
    paper_source = SOURCE_ARXIV_API
    recent_days = 5
    min_interval = timedelta(hours=6)
    page_size = 100
    max_requests = 100  # per run: 100 x 3 s = 5 minutes, then the next run continues

    def __init__(
        self,
        base: str,
        categories: Sequence[str],
        fetcher: Fetcher,
        *,
        validators: ValidatorLookup,
        pacer: Pacer,
    ) -> None:
        if not categories:
            raise ValueError("arXiv refresh needs at least one category")
        self.base = base
        self.categories = tuple(categories)
        self.fetcher = fetcher
        self.cached = validators
        self.pacer = pacer
        self._requests = 0

    def query(self, day: date) -> str:
        cats = " OR ".join(f"cat:{c}" for c in self.categories)
        if len(self.categories) > 1:
            cats = f"({cats})"
        stamp = day.strftime("%Y%m%d")
        return f"{cats} AND submittedDate:[{stamp}0000 TO {stamp}2359]"

    def url(self, day: date, start: int) -> str:
        params: dict[str, str | int] = {
            "search_query": self.query(day),
            "sortBy": "submittedDate",
            "sortOrder": "ascending",
            "start": start,
            "max_results": self.page_size,
        }
        return build_url(self.base, "/api/query", params)

    async def fetch_day(self, day: date) -> DayBatch:
        batch = DayBatch(day)
        start = 0
        while True:
            if self._requests >= self.max_requests:
                raise RunLimitReached(
                    f"stopped after {self._requests} arXiv requests; the next run continues"
                )
            url = self.url(day, start)
            before = await self.cached(url)
            self._requests += 1
            resp = await self.fetcher.get(
                url, validators=before, pacer=self.pacer, accept="application/atom+xml"
            )
            batch.pages += 1
            what = f"arXiv listing for {day.isoformat()} (from {start})"
            if resp.not_found:
                raise IngestError(f"{what}: the API answered 404")
            if resp.not_modified:
                batch.not_modified += 1
                count = before.items if before and before.items is not None else 0
                if count < self.page_size:
                    break
                start += count
                continue
            _reject_html(resp, what)
            try:
                info, records = arxiv_atom.parse_feed(resp.body)
                total = info.total_results
            except IngestError as exc:
                raise IngestError(f"{what}: {exc}") from exc
            for record in records:
                if isinstance(record, Paper):
                    batch.papers.append(record)
                else:
                    batch.reject(record, f"entry at line {record.line} (from {start})")
            batch.validators[url] = Validators(
                resp.validators.etag, resp.validators.last_modified, len(records)
            )
            start += len(records)
            if total is None:
                if len(records) < self.page_size:
                    break
                continue
            if start >= total:
                break
            if not records:
                # arXiv sometimes answers an empty page mid-listing; try the day again later.
                raise IngestError(f"{what}: empty page before the end ({start} of {total})")
        return batch
