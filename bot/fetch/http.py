"""HTTP for the live sources: polite, conditional, patient with flaky servers.

One :class:`Fetcher` per run wraps an ``aiohttp.ClientSession``: every request carries an
identifying User-Agent and a timeout, sends the validators stored for its URL (ETag,
Last-Modified) so an unchanged answer costs a 304, and is retried on network errors, timeouts,
truncated bodies, 5xx and 429: after a pause with "full jitter" (anywhere between a floor and an
exponential ceiling, so many clients never retry in lockstep), or, when the server sends
``Retry-After``, at least that long (never less than the floor: ``0``, negative and past dates
do not mean "hammer me"; ``nan`` is ignored; a pause past ``max_retry_after`` ends the run).
A :class:`Pacer` keeps requests to one host one at a time and a minimum interval apart (arXiv
asks for 3 s); its clock and sleep are injectable so tests never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from bot import __version__
from bot.config import PROJECT_URL, Settings
from bot.store.refresh import Validators

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
Rand = Callable[[], float]  # uniform in [0, 1]: random.random, or a fixed value in tests

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


class FetchError(Exception):
    """A request that failed for good (after retries, or at once for a 4xx)."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"{reason} ({url})")
        self.url = url
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait for an answer, and how often to try again."""

    timeout: float = 30.0  # whole request, body included
    connect_timeout: float = 10.0
    attempts: int = 4  # first try included
    backoff: float = 2.0  # the most to wait before the 2nd try; doubles after each failure
    backoff_max: float = 60.0  # the ceiling never grows past this
    min_delay: float = 1.0  # every pause is at least this long, Retry-After: 0 included
    max_retry_after: float = 300.0  # a server asking for a longer pause ends the run instead
    retry_after_jitter: float = 0.1  # up to this share of a Retry-After pause is added
    max_bytes: int = 50 * 1024 * 1024

    def delay(
        self, attempt: int, *, retry_after: float | None = None, rand: Rand = random.random
    ) -> float:
        """The pause after failed attempt number *attempt* (1-based).

        Without *retry_after*: full jitter, uniform between :attr:`min_delay` and
        ``backoff * 2 ** (attempt - 1)`` capped at :attr:`backoff_max`. With it (seconds the
        server asked for, already known to be at most :attr:`max_retry_after`): that long but
        at least the floor, plus up to :attr:`retry_after_jitter` of it, capped at
        :attr:`max_retry_after`.
        """
        if retry_after is not None:
            base = max(retry_after, self.min_delay)
            return min(base * (1.0 + self.retry_after_jitter * rand()), self.max_retry_after)
        ceiling = min(self.backoff * 2.0 ** min(attempt - 1, 64), self.backoff_max)
        return self.min_delay + rand() * max(ceiling - self.min_delay, 0.0)


@dataclass(frozen=True, slots=True)
class Response:
    url: str
    status: int  # 200, 304 (validators matched) or 404
    body: bytes
    content_type: str
    validators: Validators

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def not_found(self) -> bool:
        return self.status == 404


def user_agent(settings: Settings) -> str:
    """``PaperBot/0.1.0 (+https://...; mailto:ops@example.org)``: who is asking, and how to
    reach them (arXiv asks automated clients to identify themselves)."""
    parts = [f"+{PROJECT_URL}"]
    contact = settings.contact.strip()
    if contact:
        is_mail = "@" in contact and "://" not in contact and not contact.startswith("mailto:")
        parts.append(f"mailto:{contact}" if is_mail else contact)
    return f"PaperBot/{__version__} ({'; '.join(parts)})"


def build_url(base: str, path: str, params: Mapping[str, str | int] | None = None) -> str:
    """A stable URL string (the key of stored validators) with readable query values."""
    url = base.rstrip("/") + path
    if params:
        url += "?" + urlencode({k: str(v) for k, v in params.items()}, safe=":,[]")
    return url


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date).

    Never negative (a past date is 0); ``inf`` or an absurd number is ``inf`` (the caller
    gives up); None for anything unusable, ``nan`` included (the caller uses its back-off).
    The floor under the pause is the caller's (:meth:`RetryPolicy.delay`).
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


class Pacer:
    """One request at a time, each starting at least *interval* seconds after the previous
    one finished. Share one instance per host (see :func:`shared_pacer`)."""

    def __init__(
        self, interval: float, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._lock = asyncio.Lock()
        self._last: float | None = None

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._lock:
            if self._last is not None:
                wait = self._last + self.interval - self.clock()
                if wait > 0:
                    await self.sleep(wait)
            try:
                yield
            finally:
                self._last = self.clock()


_SHARED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Pacer]] = (
    weakref.WeakKeyDictionary()
)


def shared_pacer(key: str, interval: float) -> Pacer:
    """The process-wide pacer for *key* (e.g. the arXiv API base URL) on the running loop, so
    the refresher and ``doctor`` never talk to arXiv at the same time."""
    loop = asyncio.get_running_loop()
    pacers = _SHARED.setdefault(loop, {})
    pacer = pacers.get(key)
    if pacer is None:
        pacer = pacers[key] = Pacer(interval)
    return pacer


class Fetcher:
    """GET with validators, timeouts and retries. Counts what it did for the run report."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        agent: str,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Rand = random.random,
    ) -> None:
        self.session = session
        self.agent = agent
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.rand = rand
        self.requests = 0
        self.not_modified = 0

    async def get(
        self,
        url: str,
        *,
        validators: Validators | None = None,
        pacer: Pacer | None = None,
        accept: str = "*/*",
    ) -> Response:
        """GET *url*; returns 200, 304 or 404 answers, raises :class:`FetchError` otherwise."""
        policy = self.policy
        headers = {"User-Agent": self.agent, "Accept": accept}
        if validators is not None:
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
        timeout = aiohttp.ClientTimeout(total=policy.timeout, sock_connect=policy.connect_timeout)
        attempt = 0
        while True:
            attempt += 1
            reason: str
            status: int | None = None
            retry_after: float | None = None
            try:
                async with pacer.slot() if pacer else contextlib.nullcontext():
                    self.requests += 1
                    async with self.session.get(
                        URL(url, encoded=True),
                        headers=headers,
                        timeout=timeout,
                        allow_redirects=True,
                    ) as resp:
                        status = resp.status
                        if status in (200, 304, 404):
                            body = await self._read(resp, url) if status == 200 else b""
                            if status == 304:
                                self.not_modified += 1
                            return Response(
                                url=url,
                                status=status,
                                body=body,
                                content_type=resp.headers.get("Content-Type", ""),
                                validators=Validators(
                                    etag=resp.headers.get("ETag"),
                                    last_modified=resp.headers.get("Last-Modified"),
                                ),
                            )
                        reason = f"HTTP {status} {resp.reason or ''}".strip()
                        retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
                        if status not in RETRY_STATUSES:
                            raise FetchError(url, reason, status=status)
            except TimeoutError:
                reason = f"no answer within {policy.timeout:g} s"
            except aiohttp.ClientPayloadError as exc:
                reason = f"truncated answer ({exc.__class__.__name__})"
            except aiohttp.ClientError as exc:
                reason = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            if retry_after is not None and retry_after > policy.max_retry_after:
                raise FetchError(
                    url,
                    f"{reason}, asked to wait {retry_after:.0f} s; trying next run",
                    status=status,
                )
            if attempt >= policy.attempts:
                tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise FetchError(url, reason + tries, status=status)
            delay = policy.delay(attempt, retry_after=retry_after, rand=self.rand)
            log.info("GET %s failed: %s; retrying in %.1f s", url, reason, delay)
            await self.sleep(delay)

    async def _read(self, resp: aiohttp.ClientResponse, url: str) -> bytes:
        limit = self.policy.max_bytes
        if resp.content_length is not None and resp.content_length > limit:
            raise FetchError(url, f"answer too large ({resp.content_length} bytes)")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(1 << 16):
            size += len(chunk)
            if size > limit:
                raise FetchError(url, f"answer too large (over {limit} bytes)")
            chunks.append(chunk)
        return b"".join(chunks)


def new_session(*, limit_per_host: int = 2) -> aiohttp.ClientSession:
    """A session for the refresher or ``doctor`` when the caller has none."""
    connector = aiohttp.TCPConnector(limit=8, limit_per_host=limit_per_host)
    return aiohttp.ClientSession(connector=connector, raise_for_status=False)
