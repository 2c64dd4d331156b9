"""Papers looked up by id on the arXiv API, on demand (the "Find papers" message action).

One request for all the ids (``id_list``), through the same pacer as the refresher (one
request at a time to arXiv, 3 s apart, with PaperBot's User-Agent), with a short timeout and
one retry: a member is waiting. What arXiv returns is stored like any arXiv import; an id
arXiv does not know is reported missing. Never raises for the source's failures: the result
says what went wrong in words a member can read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from bot.config import Settings
from bot.fetch.http import (
    Fetcher,
    FetchError,
    Pacer,
    RetryPolicy,
    Sleep,
    build_url,
    shared_pacer,
    user_agent,
)
from bot.fetch.refresh import ARXIV_INTERVAL
from bot.ingest import IngestError, arxiv_atom
from bot.models import SOURCE_ARXIV_API, Paper
from bot.store import Store

log = logging.getLogger(__name__)

MAX_IDS = 50  # per request; a message never yields more than bot.references.MAX_REFERENCES
LOOKUP_POLICY = RetryPolicy(timeout=15.0, connect_timeout=5.0, attempts=2, backoff=2.0)


@dataclass(slots=True)
class Lookup:
    """What one lookup found: papers in the order asked, ids arXiv does not know, and why
    the rest is unknown when arXiv could not answer (then ``missing`` is empty)."""

    papers: list[Paper] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    error: str | None = None


def lookup_url(base: str, ids: Sequence[str]) -> str:
    params: dict[str, str | int] = {"id_list": ",".join(ids), "max_results": len(ids)}
    return build_url(base, "/api/query", params)


async def lookup_arxiv(
    store: Store,
    settings: Settings,
    ids: Sequence[str],
    *,
    session: aiohttp.ClientSession,
    pacer: Pacer | None = None,
    policy: RetryPolicy | None = None,
    sleep: Sleep | None = None,
) -> Lookup:
    """Ask arXiv for *ids* (normalised, version-less) in one request and store what it has.

    *pacer*: the arXiv pacer (default: the process-wide one the refresher uses)."""
    wanted = list(dict.fromkeys(ids))[:MAX_IDS]
    if not wanted:
        return Lookup()
    url = lookup_url(settings.arxiv_api_base, wanted)
    fetcher = Fetcher(
        session,
        agent=user_agent(settings),
        policy=policy or LOOKUP_POLICY,
        sleep=sleep or asyncio.sleep,
    )
    pacer = pacer or shared_pacer(settings.arxiv_api_base, ARXIV_INTERVAL)
    try:
        resp = await fetcher.get(url, pacer=pacer, accept="application/atom+xml")
        if resp.not_found or "html" in resp.content_type.lower():
            raise IngestError(f"unexpected answer (HTTP {resp.status}, {resp.content_type})")
        _, records = arxiv_atom.parse_feed(resp.body)
    except FetchError as exc:
        log.warning("arXiv lookup of %d id(s) failed: %s", len(wanted), exc)
        return Lookup(unanswered=wanted, error="arXiv could not be reached; try again later")
    except IngestError as exc:
        log.warning("arXiv lookup of %d id(s) gave an unusable answer: %s", len(wanted), exc)
        return Lookup(unanswered=wanted, error="arXiv gave an answer PaperBot could not read")
    found = {r.id: r for r in records if isinstance(r, Paper) and r.id in wanted}
    skipped = [r for r in records if not isinstance(r, Paper)]
    if skipped:
        log.info("arXiv lookup: %d record(s) skipped: %s", len(skipped), skipped[0])
    if found:
        counts = await store.papers.upsert_many(list(found.values()), SOURCE_ARXIV_API)
        log.info("arXiv lookup of %d id(s): %d found (%d new)", len(wanted), len(found), counts.new)
    stored = await store.papers.get_many([i for i in wanted if i in found])
    return Lookup(papers=stored, missing=[i for i in wanted if i not in found])
