"""Rate-limit buckets, the global limit, and failure injection for the fake REST API."""

from __future__ import annotations

import hashlib
import math
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .recording import RecordedRequest


# ------------------------------------------------------------------ patterns
_PLACEHOLDER = re.compile(r"\{[^/{}]+\}")


class RoutePattern:
    """Matches ``METHOD /path``; ``{name}`` matches one path segment, ``*`` any method.

    ``path`` may be a template (``/channels/{channel_id}/messages``), a concrete path
    (``/channels/123/messages``), or a compiled regex matched against the API path.
    A leading ``/api/v10`` (or v9) is ignored.
    """

    def __init__(self, method: str, path: str | re.Pattern[str]) -> None:
        self.method = method.upper()
        self.source = path
        if isinstance(path, re.Pattern):
            self.regex = path
        else:
            path = re.sub(r"^/api/v\d+", "", path)
            parts = _PLACEHOLDER.split(path)
            holes = len(parts) - 1
            regex = "".join(
                re.escape(part) + ("[^/]+" if i < holes else "") for i, part in enumerate(parts)
            )
            self.regex = re.compile(f"^{regex}$")

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        return self.regex.match(path) is not None

    def __repr__(self) -> str:
        return f"RoutePattern({self.method} {self.source})"


# -------------------------------------------------------------- fake replies
@dataclass
class FakeResponse:
    """A canned response. ``body`` dicts/lists are sent as ``application/json``.

    ``passthrough=True`` runs the real handler first (the side effect happens, e.g. the
    message is created) and then answers with this status/body — like a 502 from a proxy
    after Discord already processed the request.
    """

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    passthrough: bool = False
    content_type: str | None = None


def rate_limited(
    retry_after: float = 0.05,
    *,
    scope: str = "user",
    is_global: bool = False,
    limit: int = 5,
    bucket: str | None = None,
    via: bool = True,
) -> FakeResponse:
    """A Discord 429 (JSON body with ``retry_after``, ``Retry-After`` and X-RateLimit headers)."""
    headers = {
        "Retry-After": str(max(1, math.ceil(retry_after))),
        "X-RateLimit-Scope": "global" if is_global else scope,
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    else:
        headers.update(
            {
                "X-RateLimit-Limit": str(limit),
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                "X-RateLimit-Bucket": bucket or "injected0000000000000000000000000",
            }
        )
    if not via:
        headers["X-No-Via"] = "1"
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
        "code": 0,
    }
    return FakeResponse(429, body, headers)


def cloudflare_ban() -> FakeResponse:
    """A Cloudflare 429 (HTML, no ``Via`` header): discord.py raises instead of retrying."""
    return FakeResponse(
        429,
        "<html><body>error code: 1015</body></html>",
        {"X-No-Via": "1"},
        content_type="text/html",
    )


def server_error(status: int = 500) -> FakeResponse:
    """500 has a Discord JSON body; 502/503/504 come from the edge as HTML."""
    if status == 500:
        return FakeResponse(500, {"message": "500: Internal Server Error", "code": 0})
    reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(
        status, "Error"
    )
    return FakeResponse(
        status,
        f"<html><head><title>{status} {reason}</title></head><body>{reason}</body></html>",
        content_type="text/html",
    )


def discord_error(
    status: int, code: int, message: str, errors: dict[str, Any] | None = None
) -> FakeResponse:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return FakeResponse(status, body)


@dataclass
class Injection:
    """Queued fake responses for requests matching ``pattern`` (consumed FIFO)."""

    pattern: RoutePattern
    responses: deque[FakeResponse]
    predicate: Callable[[RecordedRequest], bool] | None = None
    hits: list[RecordedRequest] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        return len(self.responses)

    @property
    def exhausted(self) -> bool:
        return not self.responses


# ---------------------------------------------------------------- rate limits
@dataclass(frozen=True)
class BucketSpec:
    limit: int
    per: float


#: Shapes close to what Discord reports for common bot routes (opt in via RateLimitConfig).
DISCORD_LIKE_BUCKETS: dict[str, BucketSpec] = {
    "POST /channels/{channel_id}/messages": BucketSpec(5, 5.0),
    "POST /webhooks/{webhook_id}/{webhook_token}": BucketSpec(5, 2.0),
    "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}": BucketSpec(5, 2.0),
    "PUT /applications/{application_id}/commands": BucketSpec(2, 20.0),
    "PUT /applications/{application_id}/guilds/{guild_id}/commands": BucketSpec(2, 20.0),
}


@dataclass
class RateLimitConfig:
    """Per-route buckets (fixed windows keyed by route + major parameter) and the global limit.

    Defaults are generous so ordinary tests never wait; every response still carries real
    ``X-RateLimit-*`` headers computed from the bucket state. Set ``buckets`` (e.g. to
    :data:`DISCORD_LIKE_BUCKETS`) and ``global_limit=50`` for realistic pressure.
    """

    default_bucket: BucketSpec = BucketSpec(limit=50, per=1.0)
    buckets: dict[str, BucketSpec] = field(default_factory=dict)
    #: Answer 429 when a bucket overflows (else only count the violation).
    enforce_buckets: bool = True
    #: Requests per second across all routes (interaction callbacks exempt); None = off.
    global_limit: int | None = None
    #: Answer 429 (global) on overflow; False = only count violations (benchmarks).
    enforce_global: bool = False


@dataclass
class RateLimitStats:
    requests: int = 0
    bucket_violations: int = 0
    global_violations: int = 0
    #: 429 responses sent (bucket, global or injected).
    rate_limited_responses: int = 0
    #: Highest number of requests observed in any one-second global window.
    peak_requests_per_second: int = 0


@dataclass
class Decision:
    headers: dict[str, str]
    limited: bool = False
    retry_after: float = 0.0
    is_global: bool = False


@dataclass
class _Window:
    start: float
    count: int = 0


def bucket_hash(route_key: str) -> str:
    return hashlib.md5(route_key.encode(), usedforsecurity=False).hexdigest()


def _ceil3(value: float) -> float:
    return math.ceil(max(value, 0.0) * 1000) / 1000


class RateLimiter:
    def __init__(self, config: RateLimitConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.stats = RateLimitStats()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global = _Window(start=-1e9)

    def spec(self, route_key: str) -> BucketSpec:
        return self.config.buckets.get(route_key, self.config.default_bucket)

    def check(self, route_key: str, major: str, *, global_exempt: bool) -> Decision:
        now = self.clock()
        self.stats.requests += 1
        if not global_exempt:
            g = self._global
            if now >= g.start + 1.0:
                self._global = g = _Window(start=now)
            g.count += 1
            self.stats.peak_requests_per_second = max(self.stats.peak_requests_per_second, g.count)
            limit = self.config.global_limit
            if limit is not None and g.count > limit:
                self.stats.global_violations += 1
                if self.config.enforce_global:
                    retry = _ceil3(g.start + 1.0 - now)
                    self.stats.rate_limited_responses += 1
                    return Decision(
                        headers={
                            "X-RateLimit-Global": "true",
                            "X-RateLimit-Scope": "global",
                            "Retry-After": str(max(1, math.ceil(retry))),
                        },
                        limited=True,
                        retry_after=retry,
                        is_global=True,
                    )
        spec = self.spec(route_key)
        key = (route_key, major)
        w = self._windows.get(key)
        if w is None or now >= w.start + spec.per:
            w = self._windows[key] = _Window(start=now)
        w.count += 1
        reset_after = _ceil3(w.start + spec.per - now)
        headers = {
            "X-RateLimit-Limit": str(spec.limit),
            "X-RateLimit-Remaining": str(max(0, spec.limit - w.count)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash(route_key),
        }
        if w.count > spec.limit:
            self.stats.bucket_violations += 1
            if self.config.enforce_buckets:
                w.count -= 1  # rejected requests do not consume the bucket
                self.stats.rate_limited_responses += 1
                headers["X-RateLimit-Scope"] = "user"
                headers["Retry-After"] = str(max(1, math.ceil(reset_after)))
                return Decision(headers=headers, limited=True, retry_after=reset_after)
        return Decision(headers=headers)
