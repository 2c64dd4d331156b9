"""bot.interactions.read_failure: the one reading of a failed Discord request, on the real
discord.py exceptions (built from a response the way discord.py's HTTP client builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field

import discord
import pytest

from bot.interactions import DiscordFailure, read_failure


@dataclass
class Response:
    """What discord.py reads from an aiohttp response to build its exceptions."""

    status: int
    reason: str = "error"
    headers: dict[str, str] = field(default_factory=dict)


def http_error(
    status: int, code: int = 0, headers: dict[str, str] | None = None
) -> discord.HTTPException:
    response = Response(status, headers=headers or {})
    body = {"code": code, "message": "nope"}
    kind = {403: discord.Forbidden, 404: discord.NotFound}.get(status, discord.HTTPException)
    if status >= 500:
        kind = discord.DiscordServerError
    return kind(response, body)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "refused", "maybe_sent", "reason"),
    [
        (403, True, False, "Discord refused the post (403, code 50013)"),
        (404, True, False, "Discord refused the post (404, code 50013)"),
        (400, False, False, "Discord refused the post (400, code 50013)"),
        (429, False, False, "rate limited by Discord (429)"),
        (500, False, True, "Discord error 500"),
        (503, False, True, "Discord error 503"),
    ],
)
def test_status_decides_refused_maybe_sent_and_reason(
    status: int, refused: bool, maybe_sent: bool, reason: str
) -> None:
    failure = read_failure(http_error(status, 50013))
    assert (failure.status, failure.code) == (status, 50013)
    assert failure.refused is refused
    assert failure.rate_limited is (status == 429)
    assert failure.maybe_sent(True) is maybe_sent
    assert failure.maybe_sent(False) is False  # a request that creates nothing sent nothing
    assert failure.reason == reason


def test_a_429_carries_its_retry_after_and_whether_it_is_global() -> None:
    route = read_failure(http_error(429, headers={"Retry-After": "2.5"}))
    assert (route.retry_after, route.is_global) == (2.5, False)
    whole_bot = read_failure(
        http_error(429, headers={"Retry-After": "7", "X-RateLimit-Global": "true"})
    )
    assert (whole_bot.retry_after, whole_bot.is_global) == (7.0, True)
    assert read_failure(http_error(429, headers={"Retry-After": "soon"})).retry_after is None
    assert read_failure(http_error(429)).retry_after is None


def test_retry_after_is_only_read_from_a_rate_limit() -> None:
    assert read_failure(http_error(503, headers={"Retry-After": "30"})).retry_after is None


def test_a_rate_limit_discord_py_would_not_wait_out() -> None:
    failure = read_failure(discord.RateLimited(42.0))
    assert failure == DiscordFailure(429, 0, retry_after=42.0)
    assert failure.rate_limited and not failure.refused and not failure.maybe_sent(True)
