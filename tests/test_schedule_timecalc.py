"""Due-time arithmetic: DST both ways, odd offsets, date-line zones, midnight, zone names."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.schedule.timecalc import (
    TimeFormatError,
    UnknownZoneError,
    due_on,
    end_of_local_day,
    local_date_for,
    next_run,
    parse_hhmm,
    resolve_zone,
    run_for,
    suggest_zones,
    zone_names,
)

BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9, 0)),
        ("9:05", time(9, 5)),
        (" 23:59 ", time(23, 59)),
        ("00:00", time(0, 0)),
        ("18.30", time(18, 30)),
    ],
)
def test_parse_hhmm_accepts_24_hour_times(text: str, expected: time) -> None:
    assert parse_hhmm(text) == expected


@pytest.mark.parametrize("text", ["24:00", "9", "09:60", "nine", "9am", "", "12:5", "-1:00"])
def test_parse_hhmm_rejects_with_a_readable_message(text: str) -> None:
    with pytest.raises(TimeFormatError, match="HH:MM"):
        parse_hhmm(text)


def test_resolve_zone_is_case_insensitive_and_suggests_on_typos() -> None:
    assert resolve_zone("europe/berlin").key == "Europe/Berlin"
    assert resolve_zone("America/New York").key == "America/New_York"
    with pytest.raises(UnknownZoneError) as err:
        resolve_zone("Europe/Berln")
    assert err.value.suggestion == "Europe/Berlin"
    assert "Did you mean Europe/Berlin?" in str(err.value)
    with pytest.raises(UnknownZoneError) as err2:
        resolve_zone("Berlin")
    assert err2.value.suggestion == "Europe/Berlin"


def test_suggest_zones_for_autocomplete() -> None:
    assert suggest_zones("berl")[0] == "Europe/Berlin"
    assert suggest_zones("new york")[0] == "America/New_York"
    assert suggest_zones("kolkatta")[0] == "Asia/Kolkata"
    assert suggest_zones("")[0] == "UTC"
    assert len(suggest_zones("a")) == 25
    assert all(name in zone_names() for name in suggest_zones("america"))


def test_berlin_nine_stays_nine_local_across_both_dst_changes() -> None:
    at = time(9, 0)
    days = [date(2024, 3, 29) + timedelta(days=i) for i in range(5)]
    days += [date(2024, 10, 25) + timedelta(days=i) for i in range(5)]
    for day in days:
        due = due_on(day, at, BERLIN)
        assert due is not None
        local = due.astimezone(BERLIN)
        assert (local.date(), local.hour, local.minute) == (day, 9, 0)
    # the UTC instant moves by an hour, the local time does not
    assert due_on(date(2024, 3, 30), at, BERLIN) == utc(2024, 3, 30, 8, 0)
    assert due_on(date(2024, 3, 31), at, BERLIN) == utc(2024, 3, 31, 7, 0)
    assert due_on(date(2024, 10, 26), at, BERLIN) == utc(2024, 10, 26, 7, 0)
    assert due_on(date(2024, 10, 27), at, BERLIN) == utc(2024, 10, 27, 8, 0)


def test_nonexistent_time_on_spring_forward_is_due_at_the_first_valid_minute() -> None:
    due = due_on(date(2024, 3, 31), time(2, 30), BERLIN)
    assert due == utc(2024, 3, 31, 1, 0)
    assert due.astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    assert due_on(date(2024, 3, 31), time(2, 0), BERLIN) == utc(2024, 3, 31, 1, 0)
    assert due_on(date(2024, 3, 31), time(3, 0), BERLIN) == utc(2024, 3, 31, 1, 0)


def test_ambiguous_time_on_fall_back_is_due_once_at_its_first_occurrence() -> None:
    due = due_on(date(2024, 10, 27), time(2, 30), BERLIN)
    assert due == utc(2024, 10, 27, 0, 30)  # 02:30 CEST, not 02:30 CET (01:30 UTC)
    # from just after it, the next due is the next day, never the repeated 02:30
    assert next_run(time(2, 30), BERLIN, due) == utc(2024, 10, 28, 1, 30)
    decision = run_for(time(2, 30), BERLIN, utc(2024, 10, 27, 1, 30))
    assert decision.run_date == date(2024, 10, 27)
    assert decision.next_run == utc(2024, 10, 28, 1, 30)


def test_midnight_gap_zone_santiago() -> None:
    santiago = ZoneInfo("America/Santiago")  # clocks jump 00:00 -> 01:00 on 2024-09-08
    due = due_on(date(2024, 9, 8), time(0, 30), santiago)
    assert due is not None
    assert due.astimezone(santiago).strftime("%Y-%m-%d %H:%M") == "2024-09-08 01:00"
    assert end_of_local_day(date(2024, 9, 7), santiago) == utc(2024, 9, 8, 4, 0)


def test_gap_that_does_not_start_on_a_whole_minute_of_the_request() -> None:
    tehran = ZoneInfo("Asia/Tehran")  # 2015-03-22 00:00 (+03:30) -> 01:00 (+04:30)
    due = due_on(date(2015, 3, 22), time(0, 1), tehran)
    assert due == utc(2015, 3, 21, 20, 30)
    assert due.astimezone(tehran).strftime("%H:%M") == "01:00"


def test_date_line_zone_kiritimati_posts_on_its_own_date() -> None:
    kiri = ZoneInfo("Pacific/Kiritimati")  # UTC+14
    at = time(9, 0)
    # 2024-06-01 20:00 UTC is already 2024-06-02 10:00 in Kiritimati
    now = utc(2024, 6, 1, 20, 0)
    assert local_date_for(now, kiri) == date(2024, 6, 2)
    decision = run_for(at, kiri, now)
    assert decision.run_date == date(2024, 6, 2)
    assert decision.due == utc(2024, 6, 1, 19, 0)
    assert decision.next_run == utc(2024, 6, 2, 19, 0)
    # midnight local there is 10:00 UTC the day before
    assert due_on(date(2024, 6, 2), time(0, 0), kiri) == utc(2024, 6, 1, 10, 0)


def test_half_hour_offset_st_johns() -> None:
    nf = ZoneInfo("America/St_Johns")  # -03:30 standard, -02:30 summer
    assert due_on(date(2024, 1, 15), time(9, 0), nf) == utc(2024, 1, 15, 12, 30)
    assert due_on(date(2024, 7, 15), time(9, 0), nf) == utc(2024, 7, 15, 11, 30)


def test_midnight_schedule_and_day_boundaries() -> None:
    at = time(0, 0)
    tokyo = ZoneInfo("Asia/Tokyo")
    # 14:59:59 UTC is 23:59:59 in Tokyo: today's 00:00 post has been due for a day
    assert run_for(at, tokyo, utc(2024, 5, 1, 14, 59, 59)).run_date == date(2024, 5, 1)
    # one second later it is a new local day: that day's post is due now
    decision = run_for(at, tokyo, utc(2024, 5, 1, 15, 0))
    assert decision.run_date == date(2024, 5, 2)
    assert decision.next_run == utc(2024, 5, 2, 15, 0)


def test_run_for_before_todays_time_skips_missed_days() -> None:
    at = time(9, 0)
    # last due was days ago; now it is 08:00 local: nothing now, next at 09:00 today
    decision = run_for(at, BERLIN, utc(2024, 5, 10, 6, 0))
    assert decision.run_date is None
    assert decision.next_run == utc(2024, 5, 10, 7, 0)


def test_a_day_that_does_not_exist_has_no_due_time() -> None:
    apia = ZoneInfo("Pacific/Apia")  # skipped 2011-12-30 entirely
    assert due_on(date(2011, 12, 30), time(9, 0), apia) is None
    after = utc(2011, 12, 29, 19, 0)  # 09:00 on the 29th
    assert next_run(time(9, 0), apia, after).astimezone(apia).date() == date(2011, 12, 31)


ZONES = st.sampled_from(
    [
        "Europe/Berlin",
        "America/New_York",
        "America/St_Johns",
        "Pacific/Kiritimati",
        "Pacific/Chatham",
        "Australia/Lord_Howe",
        "America/Santiago",
        "Asia/Kathmandu",
        "UTC",
        "Africa/Casablanca",
        "Asia/Tehran",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    zone=ZONES,
    day=st.dates(min_value=date(2015, 1, 1), max_value=date(2030, 12, 31)),
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
)
def test_due_time_properties(zone: str, day: date, hour: int, minute: int) -> None:
    tz = ZoneInfo(zone)
    at = time(hour, minute)
    due = due_on(day, at, tz)
    assert due is not None
    local = due.astimezone(tz)
    assert local.date() == day
    # on time, or (in a gap) the earliest later minute, never more than 2 hours late
    wall = datetime.combine(day, at)
    assert wall <= local.replace(tzinfo=None) < wall + timedelta(hours=2)
    if local.replace(tzinfo=None) != wall:
        one_before = (due - timedelta(minutes=1)).astimezone(tz).replace(tzinfo=None)
        assert one_before < wall
    # next_run from just before/at the due instant
    assert next_run(at, tz, due - timedelta(seconds=1)) == due
    nxt = next_run(at, tz, due)
    assert nxt > due
    assert nxt.astimezone(tz).date() == day + timedelta(days=1)
