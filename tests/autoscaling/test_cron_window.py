"""The business-hours cron window, run through KEDA's own rule for "inside the window" over a whole week.

KEDA 2.21's cron scaler (pkg/scalers/cron_scaler.go, GetMetricsAndActivity) takes the next start and the next
end after now, in the trigger's time zone; the window is active exactly when the next end comes before the next
start. The schedules are evaluated here by croniter (an independent five-field cron implementation), in the
zone's own local time, every 5 minutes for a week: active must mean "a business day, from the lead-adjusted
start until the end of business hours", and nothing else.
"""
from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from croniter import croniter

from strait.render.keda import WEEKDAYS, business_hours_window


def keda_active(start: str, end: str, now: dt.datetime) -> bool:
    nxt_start = croniter(start, now).get_next(dt.datetime)
    nxt_end = croniter(end, now).get_next(dt.datetime)
    return not nxt_start < nxt_end


SUNDAY = dt.date(2026, 11, 29)
CASES = {
    # tz, start, end, days, lead seconds, the Sunday the week starts
    "Jakarta, weekdays 09-18, 18 min lead": ("Asia/Jakarta", "09:00", "18:00", ("mon", "tue", "wed", "thu", "fri"), 1080,
                                             SUNDAY),
    "Bangkok, lead across midnight": ("Asia/Bangkok", "00:20", "06:00", ("mon", "wed", "sat"), 1800, SUNDAY),
    "Singapore, sunday and monday, long cold start": ("Asia/Singapore", "07:00", "23:00", ("sun", "mon"), 3541, SUNDAY),
    # KEDA reads the schedule in local time, so the window keeps to office hours across a clock change
    # (US daylight saving starts on Sunday 2026-03-08).
    "New York, the week clocks go forward": ("America/New_York", "09:00", "17:00", ("mon", "tue", "wed", "thu", "fri"),
                                             1500, dt.date(2026, 3, 8)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_window_is_open_exactly_from_lead_to_end_on_business_days(case):
    tz_name, start, end, days, lead, sunday = CASES[case]
    w = business_hours_window(timezone=tz_name, start=start, end=end, days=days, lead_seconds=lead, replicas=2)
    tz = zoneinfo.ZoneInfo(w.timezone)
    lead_min = -(-lead // 60)
    sh, sm = map(int, start.split(":"))
    eh, em = map(int, end.split(":"))
    t0 = dt.datetime(sunday.year, sunday.month, sunday.day, 0, 2, tzinfo=tz)  # off the minute: no instant is a boundary
    wrong = []
    for step in range(7 * 24 * 12):
        now = (t0.astimezone(dt.timezone.utc) + dt.timedelta(minutes=5 * step)).astimezone(tz)  # real minutes
        # a business day whose [start - lead, end) contains now: today's, or tomorrow's opened this evening
        expected = False
        for ahead in (0, 1):
            day = (now + dt.timedelta(days=ahead)).date()
            if WEEKDAYS[(day.weekday() + 1) % 7] not in days:
                continue
            open_at = dt.datetime(day.year, day.month, day.day, sh, sm, tzinfo=tz) - dt.timedelta(minutes=lead_min)
            close_at = dt.datetime(day.year, day.month, day.day, eh, em, tzinfo=tz)
            expected |= open_at <= now < close_at
        if keda_active(w.start, w.end, now) != expected:
            wrong.append((now.isoformat(), expected))
    assert wrong == [], wrong[:5]


def test_the_window_opens_before_the_peak_by_more_than_the_cold_start():
    cold_start, node = 540, 600
    w = business_hours_window(timezone="Asia/Jakarta", start="09:00", end="18:00", days=("mon",),
                              lead_seconds=cold_start + node + 60, replicas=2)
    tz = zoneinfo.ZoneInfo("Asia/Jakarta")
    peak = dt.datetime(2026, 11, 30, 9, 0, tzinfo=tz)  # a Monday
    opened = croniter(w.start, peak - dt.timedelta(days=1)).get_next(dt.datetime)
    assert (peak - opened).total_seconds() > cold_start + node
    assert keda_active(w.start, w.end, peak - dt.timedelta(seconds=cold_start + node))
