"""Due-time arithmetic for daily and weekly posts: pure functions over :mod:`zoneinfo`, no I/O.

A schedule is a wall-clock time (``09:00``) in an IANA zone (``Europe/Berlin``). For a local
date the *due instant* is that wall time on that date, with two daylight-saving rules:

* a time that does not exist that day (skipped by a spring-forward change) is due at the
  first valid minute after it: 02:30 on the day Berlin jumps from 02:00 to 03:00 is due at
  03:00 local;
* a time that happens twice (repeated by a fall-back change) is due at its first occurrence,
  so the date still has exactly one due instant.

A date on which the time cannot happen at all (a zone that skipped a whole day) has no due
instant. All instants returned are timezone-aware UTC datetimes.

A weekly schedule adds a weekday (0 = Monday): only that local day of each week is due, and
its run is keyed by the ISO week (:func:`week_key`), so one post a week whatever happens.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from rapidfuzz import fuzz

__all__ = [
    "COMMON_ZONES",
    "WEEKDAYS",
    "Decision",
    "TimeFormatError",
    "UnknownZoneError",
    "due_on",
    "end_of_local_day",
    "format_hhmm",
    "local_date_for",
    "next_run",
    "parse_hhmm",
    "resolve_zone",
    "run_for",
    "suggest_zones",
    "today_key",
    "today_or_next",
    "week_key",
    "zone_names",
]

WEEKDAYS: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)

_HHMM = re.compile(r"^\s*(\d{1,2})\s*[:.h]\s*(\d{2})\s*$")

# Offered first by the zone autocomplete before anything is typed.
COMMON_ZONES: tuple[str, ...] = (
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Paris",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Australia/Sydney",
    "Pacific/Auckland",
)


class TimeFormatError(ValueError):
    """A time of day that is not ``HH:MM``; the message is ready to show a person."""


class UnknownZoneError(ValueError):
    """A zone name that is not an IANA time zone. ``suggestion`` is the closest real one."""

    def __init__(self, name: str, suggestion: str | None) -> None:
        self.name = name
        self.suggestion = suggestion
        hint = (
            f"Did you mean {suggestion}?"
            if suggestion
            else "Use a name like Europe/Berlin (start typing to see the list)."
        )
        super().__init__(f"“{name[:60]}” is not a time zone I know. {hint}")


def parse_hhmm(text: str) -> time:
    """Parse ``HH:MM`` (24-hour; ``9:05`` and ``09.05`` accepted) into a :class:`time`."""
    m = _HHMM.match(text)
    if m:
        hour, minute = int(m.group(1)), int(m.group(2))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise TimeFormatError(
        f"“{text.strip()[:20]}” is not a time. Use 24-hour HH:MM, for example 09:00 or 18:30."
    )


def format_hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name tzdata knows, sorted."""
    return tuple(sorted(available_timezones()))


@functools.cache
def _folded_zones() -> dict[str, str]:
    return {name.casefold(): name for name in zone_names()}


def _search_key(name: str) -> str:
    return name.replace("_", " ").casefold()


@functools.cache
def _search_keys() -> tuple[str, ...]:
    return tuple(_search_key(name) for name in zone_names())


def resolve_zone(name: str) -> ZoneInfo:
    """The zone called *name* (case-insensitive), or :class:`UnknownZoneError` with a suggestion."""
    text = name.strip()
    canonical = _folded_zones().get(text.casefold()) or _folded_zones().get(
        text.replace(" ", "_").casefold()
    )
    if canonical:
        try:
            return ZoneInfo(canonical)
        except (ZoneInfoNotFoundError, ValueError):  # pragma: no cover - tzdata is installed
            pass
    suggestions = suggest_zones(text, limit=1)
    raise UnknownZoneError(text, suggestions[0] if suggestions else None)


def suggest_zones(query: str, limit: int = 25) -> list[str]:
    """Zone names for an autocomplete box: prefix and city matches first, then fuzzy ones."""
    text = _search_key(query.strip())
    names = zone_names()
    if not text:
        return list(COMMON_ZONES[:limit])
    keys = _search_keys()
    ranked: list[str] = []
    seen: set[str] = set()

    def add(name: str) -> None:
        if name not in seen:
            seen.add(name)
            ranked.append(name)

    # 1. whole name or city (last part) starting with what was typed: "berl" -> Europe/Berlin
    for name, key in zip(names, keys, strict=True):
        city = key.rsplit("/", 1)[-1]
        if key.startswith(text) or city.startswith(text):
            add(name)
    ranked.sort(key=lambda n: (n not in COMMON_ZONES, "/" not in n, len(n), n))
    # 2. fuzzy: typos ("Europe/Berln", "kolkatta"), scored on the whole name and the city
    if len(ranked) < limit and len(text) >= 3:
        scored: list[tuple[float, str]] = []
        for name, key in zip(names, keys, strict=True):
            city = key.rsplit("/", 1)[-1]
            score = max(fuzz.ratio(text, key), fuzz.ratio(text, city))
            if score >= 70:
                scored.append((score, name))
        scored.sort(key=lambda item: (-item[0], item[1]))
        for _score, name in scored:
            add(name)
    return ranked[:limit]


# -- due instants -------------------------------------------------------------------------


def local_date_for(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date in *tz* at *instant* (an aware datetime)."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    return instant.astimezone(tz).date()


def _exists(wall: datetime) -> bool:
    """Whether the aware local *wall* time really happens (is not inside a DST gap)."""
    tz = wall.tzinfo
    back = wall.astimezone(UTC).astimezone(tz)
    return back.replace(tzinfo=None) == wall.replace(tzinfo=None)


def due_on(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """The UTC instant the post for local *day* is due, or None if *day* has no such minute.

    Nonexistent wall time -> the first valid minute after it on the same day (the moment
    the clocks jumped, rounded up to a minute); ambiguous -> its first occurrence.
    """
    wall = datetime.combine(day, time(at.hour, at.minute), tzinfo=tz).replace(fold=0)
    if _exists(wall):
        return wall.astimezone(UTC)
    # In a gap: fold=0 maps with the offset before the change (a later instant), fold=1 with
    # the offset after it (an earlier instant); the change happened between the two.
    lo = wall.replace(fold=1).astimezone(UTC)
    hi = wall.replace(fold=0).astimezone(UTC)
    if hi <= lo:  # pragma: no cover - zoneinfo guarantees the order for gaps
        lo, hi = hi, lo
    before = lo.astimezone(tz).utcoffset()
    # Binary search over whole seconds (changes happen on a second) for the first instant
    # with the new offset: lo keeps the old offset, hi has the new one.
    lo_s, hi_s = int(lo.timestamp()), int(hi.timestamp())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == before:
            lo_s = mid
        else:
            hi_s = mid
    first = datetime.fromtimestamp(hi_s, UTC).astimezone(tz)
    if first.second or first.microsecond:
        first = first.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if first.date() != day:
        return None
    return first.astimezone(UTC)


def next_run(at: time, tz: ZoneInfo, after: datetime, weekday: int | None = None) -> datetime:
    """The first due instant strictly after *after* (UTC), on *weekday* only if given."""
    day = local_date_for(after, tz) - timedelta(days=1)
    for _ in range(16):  # a zone never skips more than a day: two weeks are plenty
        if weekday is None or day.weekday() == weekday:
            due = due_on(day, at, tz)
            if due is not None and due > after:
                return due
        day += timedelta(days=1)
    raise ValueError(f"no due time for {at} in {tz.key} after {after}")  # pragma: no cover


def today_or_next(at: time, tz: ZoneInfo, now: datetime, weekday: int | None = None) -> datetime:
    """Today's due instant even if it has passed (resuming: today's post still goes out),
    else the next one. Weekly: today only if it is the schedule's weekday."""
    day = local_date_for(now, tz)
    today = due_on(day, at, tz) if weekday is None or day.weekday() == weekday else None
    return today if today is not None else next_run(at, tz, now, weekday)


def week_key(day: date) -> str:
    """The ISO week of *day*: ``2026-W14`` (weeks start on Monday; the year is ISO's)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def today_key(zone_name: str, now: datetime, *, weekly: bool = False) -> str:
    """The run key at *now* in the zone: the local date, or a weekly schedule's ISO week
    (for resuming a blocked day or week)."""
    day = local_date_for(now, ZoneInfo(zone_name))
    return week_key(day) if weekly else day.isoformat()


@dataclass(frozen=True, slots=True)
class Decision:
    """What a schedule whose stored next run has come should do at *now*.

    ``run_date`` is the local date to post for (None: nothing today, the missed due was on an
    earlier local day); ``next_run`` is the following due instant to store.
    """

    run_date: date | None
    due: datetime | None
    next_run: datetime


def run_for(at: time, tz: ZoneInfo, now: datetime, weekday: int | None = None) -> Decision:
    """Decide at *now* whether today's post (local date in *tz*) is due; with *weekday*, only
    that day of the week can be.

    Catch-up rule: a post whose due instant has passed goes out only if it is still the same
    local day; missed earlier days are skipped, never flooded.
    """
    today = local_date_for(now, tz)
    if weekday is None or today.weekday() == weekday:
        due = due_on(today, at, tz)
        if due is not None and due <= now:
            return Decision(today, due, next_run(at, tz, now, weekday))
    return Decision(None, None, next_run(at, tz, now, weekday))


def end_of_local_day(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant the local *day* ends (the next local midnight, or the first minute after)."""
    nxt = day + timedelta(days=1)
    due = due_on(nxt, time(0, 0), tz)
    if due is not None:
        return due
    return datetime.combine(nxt + timedelta(days=1), time(0, 0), tzinfo=tz).astimezone(UTC)
