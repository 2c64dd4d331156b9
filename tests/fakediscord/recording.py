"""What the fake saw: every REST request as a :class:`RecordedRequest`, waiting for one,
and failure injection (answers queued for the next matching requests).

The methods live on :class:`~tests.fakediscord.server.FakeDiscord` (``server.requests``,
``server.wait_for_request(...)``, ``server.inject(...)``).
"""

# The wait helpers deliberately take `timeout=` (their documented API).
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import payloads
from .ratelimit import FakeResponse, Injection, RoutePattern, rate_limited, server_error

JSON = dict[str, Any]


@dataclass
class RecordedFile:
    field_name: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One REST request as the fake saw it, plus the answer it gave."""

    index: int
    method: str
    #: Path relative to the API base, e.g. ``/channels/1/messages`` (decoded).
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    #: Parsed JSON body, or the ``payload_json`` part of a multipart body.
    json: Any = None
    files: list[RecordedFile] = field(default_factory=list)
    #: Other multipart fields.
    form: dict[str, str] = field(default_factory=dict)
    #: ``"POST /channels/{channel_id}/messages"`` or None for an unknown route.
    route: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    api_version: int = 10
    time: float = 0.0
    #: Filled once the response is decided (0 while in flight).
    status: int = 0
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)
    injected: bool = False
    rate_limited: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/form-data")

    def __repr__(self) -> str:
        return f"<RecordedRequest #{self.index} {self.method} {self.path} -> {self.status}>"


class RequestLog:
    """Recorded requests, waiters and injections (a part of ``FakeDiscord``)."""

    requests: list[RecordedRequest]
    injections: list[Injection]
    _waiters: list[tuple[Callable[[RecordedRequest], bool], asyncio.Future[RecordedRequest]]]

    def requests_for(self, method: str, path: str | re.Pattern[str]) -> list[RecordedRequest]:
        """Recorded requests matching ``method`` (``*`` = any) and a path pattern."""
        pattern = RoutePattern(method, path)
        return [r for r in self.requests if pattern.matches(r.method, r.path)]

    @property
    def unhandled_requests(self) -> list[RecordedRequest]:
        """Requests to routes the fake does not implement (answered 404/405)."""
        return [r for r in self.requests if r.route is None]

    def assert_no_unhandled_requests(self) -> None:
        bad = self.unhandled_requests
        assert not bad, f"client called routes the fake does not implement: {bad}"

    def mark(self) -> int:
        """Current request count; pass as ``since=`` to only wait for newer requests."""
        return len(self.requests)

    async def wait_for_request(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        timeout: float = 5.0,
        since: int = 0,
        predicate: Callable[[RecordedRequest], bool] | None = None,
    ) -> RecordedRequest:
        """First answered request matching the pattern with index >= ``since``."""
        pattern = RoutePattern(method, path)

        def match(r: RecordedRequest) -> bool:
            return (
                r.index >= since
                and r.status != 0
                and pattern.matches(r.method, r.path)
                and (predicate is None or predicate(r))
            )

        for r in self.requests[since:]:
            if match(r):
                return r
        fut: asyncio.Future[RecordedRequest] = asyncio.get_running_loop().create_future()
        self._waiters.append((match, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            seen = [f"{r.method} {r.path} -> {r.status}" for r in self.requests[since:]]
            raise TimeoutError(
                f"no {method} {path!s} request within {timeout}s; saw: {seen}"
            ) from None

    async def wait_for_requests(
        self,
        method: str,
        path: str | re.Pattern[str],
        count: int,
        *,
        timeout: float = 5.0,
        since: int = 0,
    ) -> list[RecordedRequest]:
        """Wait until ``count`` matching requests have been answered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found: list[RecordedRequest] = []
        cursor = since
        while len(found) < count:
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(f"only {len(found)}/{count} {method} {path!s} requests")
            r = await self.wait_for_request(method, path, timeout=left, since=cursor)
            found.append(r)
            cursor = r.index + 1
        return found

    def _notify(self, req: RecordedRequest) -> None:
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(req):
                fut.set_result(req)
        self._waiters = [(p, f) for p, f in self._waiters if not f.done()]

    # ------------------------------------------------------------ injection
    def inject(
        self,
        method: str,
        path: str | re.Pattern[str],
        *responses: FakeResponse,
        times: int = 1,
        predicate: Callable[[RecordedRequest], bool] | None = None,
    ) -> Injection:
        """Answer the next matching request(s) with ``responses`` (each repeated ``times``)."""
        queue: deque[FakeResponse] = deque()
        for resp in responses:
            queue.extend([resp] * times)
        injection = Injection(RoutePattern(method, path), queue, predicate)
        self.injections.append(injection)
        return injection

    def rate_limit_next(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        retry_after: float = 0.05,
        times: int = 1,
        is_global: bool = False,
        scope: str = "user",
    ) -> Injection:
        return self.inject(
            method,
            path,
            rate_limited(retry_after, is_global=is_global, scope=scope),
            times=times,
        )

    def fail_next(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        status: int = 500,
        times: int = 1,
        code: int | None = None,
        message: str | None = None,
    ) -> Injection:
        """Queue an error: 5xx use Discord/edge bodies; others need ``code``/``message``."""
        if code is None and status >= 500:
            resp = server_error(status)
        else:
            resp = FakeResponse(
                status,
                payloads.error_body(code or 0, message or f"{status}: Injected error"),
            )
        return self.inject(method, path, resp, times=times)

    def _take_injection(self, req: RecordedRequest) -> FakeResponse | None:
        for inj in self.injections:
            if inj.responses and inj.pattern.matches(req.method, req.path):
                if inj.predicate is not None and not inj.predicate(req):
                    continue
                inj.hits.append(req)
                return inj.responses.popleft()
        return None
