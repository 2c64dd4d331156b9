"""Timestamps as the store writes them: UTC, ISO 8601, the one place that says how."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """The current moment, in UTC (every datetime in the store carries its zone)."""
    return datetime.now(UTC)


def stamp(moment: datetime | None = None, *, precise: bool = False) -> str:
    """*moment* (default: now) as stored: ISO 8601 in UTC, to the second, or with *precise*
    to the millisecond (paper rows: an import's undo and the vector backfill tell writes
    apart by it)."""
    moment = (moment or now()).astimezone(UTC)
    return moment.isoformat(timespec="milliseconds" if precise else "seconds")


def ts(value: datetime) -> str:
    """A UTC ISO string (second precision, rounded up) for an aware datetime."""
    if value.tzinfo is None:
        raise ValueError("datetimes stored must be timezone-aware")
    value = value.astimezone(UTC)
    if value.microsecond:
        value = value.replace(microsecond=0) + timedelta(seconds=1)
    return value.isoformat(timespec="seconds")


def parse_ts(value: str | None) -> datetime | None:
    """The aware UTC instant of a stored string (None for none; naive text is taken as UTC)."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_required_ts(value: str) -> datetime:
    """:func:`parse_ts` of a column that is never empty (NOT NULL)."""
    parsed = parse_ts(value)
    assert parsed is not None
    return parsed
