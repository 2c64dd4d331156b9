"""A local stand-in for Hugging Face's and arXiv's APIs (aiohttp on 127.0.0.1).

It serves the recorded samples in tests/fixtures/ and can be told to misbehave: fail with a
status (500, 429 + Retry-After), answer slowly, send HTML, cut the body short. It honours
ETag / If-None-Match like a real server, logs every request, and counts how many requests
to one API are in flight at once.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.config import Secret, Settings

FIXTURES = Path(__file__).parent / "fixtures"
# A token of the right shape; the fake Discord accepts any.
TOKEN = "MTA0OTk5OTk5OTk5OTk5OTk5OQ.GhJkLm.abcdefghijklmnopqrstuvwxyz0123456789AB"
HF_SAMPLE = FIXTURES / "daily_papers.sample.json"
ARXIV_SAMPLE = FIXTURES / "arxiv-api" / "q_testing_s0_m100_cfe7536492ca.xml"
ARXIV_ID_ANSWERS = sorted((FIXTURES / "arxiv-api").glob("id_*.xml"))  # recorded id_list answers


def hf_items() -> list[dict[str, Any]]:
    """The recorded daily_papers items (5 papers)."""
    data: list[dict[str, Any]] = json.loads(HF_SAMPLE.read_text())
    return data


def with_upvotes(items: list[dict[str, Any]], votes: list[int]) -> list[dict[str, Any]]:
    out = copy.deepcopy(items)
    for item, v in zip(out, votes, strict=False):
        item["paper"]["upvotes"] = v
    return out


class ArxivSample:
    """The recorded arXiv answer (100 entries) cut into feeds of any size."""

    def __init__(self, path: Path = ARXIV_SAMPLE) -> None:
        text = path.read_text()
        first = text.index("<entry>")
        self.head = text[:first]
        self.entries = re.findall(r"<entry>.*?</entry>", text, re.S)

    def feed(self, entries: list[str], *, total: int, start: int, per_page: int) -> bytes:
        head = re.sub(
            r"<opensearch:totalResults>\d+<", f"<opensearch:totalResults>{total}<", self.head
        )
        head = re.sub(r"<opensearch:startIndex>\d+<", f"<opensearch:startIndex>{start}<", head)
        head = re.sub(
            r"<opensearch:itemsPerPage>\d+<", f"<opensearch:itemsPerPage>{per_page}<", head
        )
        return (head + "\n".join(entries) + "\n</feed>\n").encode()

    def by_id(self, extra: list[Path] = ARXIV_ID_ANSWERS) -> dict[str, str]:
        """Every recorded entry (the sample's and those of the recorded id_list answers) by
        its version-less id: what the fake answers an ``id_list`` query from."""
        entries = list(self.entries)
        for path in extra:
            entries += re.findall(r"<entry>.*?</entry>", path.read_text(), re.S)
        return dict(zip(self.ids(entries), entries, strict=True))

    def ids(self, entries: list[str]) -> list[str]:
        return [
            re.search(r"<id>https?://arxiv\.org/abs/([^<]+?)(v\d+)?</id>", e).group(1)
            for e in entries
        ]  # type: ignore[union-attr]


@dataclass
class Fault:
    """One scripted misbehaviour, used for the next matching request(s)."""

    kind: str  # "status", "slow", "html", "truncate", "garbage"
    times: int = 1
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b""
    match: Callable[[web.Request], bool] | None = None


@dataclass
class Logged:
    api: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    at: float  # the injected clock's time at arrival


class FakeSources:
    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or (lambda: 0.0)
        self.hf_days: dict[str, list[dict[str, Any]]] = {}
        self.arxiv = ArxivSample()
        self.arxiv_days: dict[str, list[str]] = {}
        self.arxiv_by_id = self.arxiv.by_id()  # what id_list queries are answered from
        self.faults: list[Fault] = []
        self.log: list[Logged] = []
        self.etags = True
        self.in_flight: dict[str, int] = {"hf": 0, "arxiv": 0}
        self.max_in_flight: dict[str, int] = {"hf": 0, "arxiv": 0}
        self.runner: web.AppRunner | None = None
        self.base = ""

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> FakeSources:
        app = web.Application()
        app.router.add_get("/api/daily_papers", self._hf)
        app.router.add_get("/api/query", self._arxiv)
        self.runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.2
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # -- scripting -----------------------------------------------------------------------

    def settings(self, folder: Path, **changes: Any) -> Settings:
        """The bot's settings fetching from these sources, its store and data in *folder*."""
        return Settings(
            token=Secret(TOKEN),
            database=folder / "paperbot.db",
            data_dir=folder,
            hf_api_base=self.base,
            arxiv_api_base=self.base,
            **changes,
        )

    def fail(self, kind: str = "status", **kw: Any) -> Fault:
        fault = Fault(kind, **kw)
        self.faults.append(fault)
        return fault

    def requests(self, api: str) -> list[Logged]:
        return [r for r in self.log if r.api == api]

    # -- handlers --------------------------------------------------------------------------

    def _fault_for(self, request: web.Request) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and (fault.match is None or fault.match(request)):
                fault.times -= 1
                return fault
        return None

    async def _respond(
        self, api: str, request: web.Request, body: bytes, ctype: str, status: int = 200
    ) -> web.StreamResponse:
        self.in_flight[api] += 1
        self.max_in_flight[api] = max(self.max_in_flight[api], self.in_flight[api])
        logged = Logged(
            api, request.path, dict(request.query), dict(request.headers), status, self.clock()
        )
        self.log.append(logged)
        try:
            await asyncio.sleep(0.01)  # let a concurrent request show up, if any
            fault = self._fault_for(request)
            if fault is not None:
                if fault.kind == "slow":
                    await asyncio.sleep(fault.delay)
                elif fault.kind == "status":
                    logged.status = fault.status
                    return web.Response(status=fault.status, headers=fault.headers, text="error")
                elif fault.kind == "html":
                    return web.Response(
                        body=b"<!DOCTYPE html><html><body>Service unavailable</body></html>",
                        content_type="text/html",
                    )
                elif fault.kind == "garbage":
                    return web.Response(
                        body=fault.body or body[: len(body) // 2], content_type=ctype.split(";")[0]
                    )
                elif fault.kind == "truncate":
                    resp = web.StreamResponse(headers={"Content-Type": ctype})
                    resp.content_length = len(body)
                    await resp.prepare(request)
                    await resp.write(body[: len(body) // 3])
                    assert request.transport is not None
                    request.transport.close()
                    return resp
            if status != 200:
                return web.Response(status=status, text="not found")
            tag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            if self.etags and request.headers.get("If-None-Match") == tag:
                logged.status = 304
                return web.Response(status=304, headers={"ETag": tag})
            headers = {"ETag": tag} if self.etags else {}
            return web.Response(body=body, content_type=ctype.split(";")[0], headers=headers)
        finally:
            self.in_flight[api] -= 1

    async def _hf(self, request: web.Request) -> web.StreamResponse:
        # Without a date the API answers with the latest list (what doctor asks for).
        day = request.query.get("date") or max(self.hf_days, default="")
        limit = int(request.query.get("limit", "50"))
        page = int(request.query.get("p", "0"))
        if "date" not in request.query and not self.hf_days:
            return await self._respond("hf", request, b"[]", "application/json")
        if day not in self.hf_days:
            return await self._respond("hf", request, b"", "application/json", status=404)
        items = self.hf_days[day][page * limit : (page + 1) * limit]
        return await self._respond("hf", request, json.dumps(items).encode(), "application/json")

    async def _arxiv(self, request: web.Request) -> web.StreamResponse:
        query = request.query.get("search_query", "")
        start = int(request.query.get("start", "0"))
        per_page = int(request.query.get("max_results", "10"))
        if request.query.get("id_list"):
            # Like arXiv: the known papers, in the order asked; an unknown id is left out.
            ids = [i.strip() for i in request.query["id_list"].split(",")]
            found = [self.arxiv_by_id[i] for i in ids if i in self.arxiv_by_id]
            page = found[start : start + per_page]
            body = self.arxiv.feed(page, total=len(found), start=start, per_page=per_page)
            return await self._respond("arxiv", request, body, "application/atom+xml")
        m = re.search(r"submittedDate:\[(\d{8})0000 TO (\d{8})2359\]", query)
        if m:
            day = date(int(m.group(1)[:4]), int(m.group(1)[4:6]), int(m.group(1)[6:]))
            entries = self.arxiv_days.get(day.isoformat(), [])
        else:
            entries = self.arxiv.entries
        page = entries[start : start + per_page]
        body = self.arxiv.feed(page, total=len(entries), start=start, per_page=per_page)
        return await self._respond("arxiv", request, body, "application/atom+xml; charset=utf-8")


class FakeTime:
    """An injected clock and sleep: sleeping advances the clock at once."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@pytest.fixture
async def todays_sources(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeSources]:
    """A running :class:`FakeSources` whose Hugging Face list for today holds the sample
    papers, published today: the refresher's "recent days" window picks them up and alerts
    find them fresh whatever the date the tests run. The courtesy pause between Hugging Face
    requests is off (it only slows tests down)."""
    monkeypatch.setattr("bot.fetch.refresh.HF_INTERVAL", 0.0)
    fake = await FakeSources().start()
    today = datetime.now(UTC).date().isoformat()
    items = hf_items()
    for item in items:
        item["paper"]["publishedAt"] = f"{today}T08:00:00.000Z"
    fake.hf_days[today] = items
    yield fake
    await fake.stop()
