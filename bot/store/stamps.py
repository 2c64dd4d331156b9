"""Timestamps as the store writes them: UTC, ISO 8601, the one place that says how."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current moment, in UTC (every datetime in the store carries its zone)."""
    return datetime.now(UTC)


def stamp(moment: datetime | None = None, *, precise: bool = False) -> str:
    """*moment* (default: now) as stored: ISO 8601 in UTC, to the second, or with *precise*
    to the millisecond (paper rows: an import's undo and the vector backfill tell writes
    apart by it)."""
    moment = (moment or now()).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds" if precise else "seconds")
