"""The timing rule: on which trading session of a ticker's own market does a catalyst count?

- A catalyst known to the minute (an article's publication time) counts for the session in
  progress or next to open at that instant, in the market's own time zone: a US article
  published after the 16:00 New York close counts for the next US session; the same instant is
  already the next morning in Hong Kong, so Hong Kong-listed instruments get their own day.
- A catalyst known only to the day counts for that day's session if the market trades that day,
  else for the next session (an event on a Saturday counts for Monday). When the state that acts
  in it is known, the day is that state's: the catalyst counts as at midday there
  (`place_day_of`), so a Washington decision of a Wednesday counts for Hong Kong's Thursday.
- For attribution only, an undated catalyst from an article published after the close may also
  explain that day's move: after-close articles usually report what moved the market that day.
Calendars come from exchange_calendars; a ticker whose market is unknown uses its own price
dates as its calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

import exchange_calendars as xcals
import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SessionCalendar:
    name: str
    sessions: pd.DatetimeIndex  # session dates, tz-naive, normalised
    timezone: str | None
    close: time | None  # regular close in local time (None: unknown, day rule only)

    def session_on_or_after(self, day: date) -> pd.Timestamp | None:
        i = self.sessions.searchsorted(pd.Timestamp(day))
        return self.sessions[i] if i < len(self.sessions) else None

    def place(self, when: datetime | date, precise: bool) -> pd.Timestamp | None:
        """The session a catalyst at `when` counts for (see module docstring)."""
        if not precise or not isinstance(when, datetime) or self.timezone is None or self.close is None:
            day = when.date() if isinstance(when, datetime) else when
            return self.session_on_or_after(day)
        if when.tzinfo is None:
            raise ValueError("a precise catalyst time must be tz-aware")
        local = when.astimezone(ZoneInfo(self.timezone))
        session = self.session_on_or_after(local.date())
        if session is not None and session.date() == local.date() and local.time() >= self.close:
            return self.offset(session, 1)
        return session

    def place_day_of(self, day: date, origin_timezone: str | None) -> pd.Timestamp | None:
        """The session for a catalyst known only to the day, `day` being a day where it
        happened (`origin_timezone`): by midday there, in this market's time. A decision Washington
        took on a Wednesday came after Hong Kong's Wednesday close, so it counts for Hong Kong's
        Thursday; one Beijing took on a Wednesday is still Wednesday in New York. Without an
        origin, or in the market's own zone, the day rule."""
        if origin_timezone is None or self.timezone is None or self.close is None or origin_timezone == self.timezone:
            return self.place(day, precise=False)
        return self.place(datetime.combine(day, time(12), tzinfo=ZoneInfo(origin_timezone)), precise=True)

    def reported_session(self, when: datetime) -> pd.Timestamp | None:
        """For an article published after the close on a trading day: that day's session.
        Such an article usually reports what moved the market that day, so attribution may
        look back to it even though, as a catalyst, it counts for the next session."""
        if self.timezone is None or self.close is None or when.tzinfo is None:
            return None
        local = when.astimezone(ZoneInfo(self.timezone))
        session = self.session_on_or_after(local.date())
        if session is not None and session.date() == local.date() and local.time() >= self.close:
            return session
        return None

    def offset(self, session: pd.Timestamp, n: int) -> pd.Timestamp | None:
        i = self.sessions.get_loc(session) + n
        return self.sessions[i] if 0 <= i < len(self.sessions) else None

    def index_of(self, session: pd.Timestamp) -> int:
        return int(self.sessions.get_loc(session))


@lru_cache(maxsize=32)
def exchange_calendar(name: str, start: str, end: str) -> SessionCalendar:
    cal = xcals.get_calendar(name, start=start, end=end)
    closes = cal.closes.dt.tz_convert(cal.tz).dt.time
    # Regular close: the most common close time (half days close earlier and are rare).
    close = closes.mode().iloc[0] if len(closes) else None
    return SessionCalendar(name, pd.DatetimeIndex(cal.sessions.tz_localize(None) if cal.sessions.tz else cal.sessions),
                           str(cal.tz), close)


def own_dates_calendar(name: str, dates: pd.DatetimeIndex) -> SessionCalendar:
    return SessionCalendar(name, pd.DatetimeIndex(np.unique(dates.normalize())), None, None)


def country_timezone(country: str | None) -> str | None:
    """The time zone of a country's seat of government, as the IANA database lists it first
    (US: America/New_York; CN: Asia/Shanghai); None for an unknown code."""
    if not country:
        return None
    import pytz  # the IANA zone.tab's country table, which zoneinfo does not expose

    zones = pytz.country_timezones.get(country.lower())
    return zones[0] if zones else None


def calendar_for(ticker: str, dates: pd.DatetimeIndex, calendar_name: str | None, timezone: str | None = None) -> SessionCalendar:
    """The exchange calendar of the ticker's market over its price history, or its own dates."""
    if calendar_name is None or dates.empty:
        return own_dates_calendar(ticker, dates)
    start = (dates.min() - pd.Timedelta(days=10)).strftime("%Y-%m-%d")
    end = (dates.max() + pd.Timedelta(days=40)).strftime("%Y-%m-%d")
    try:
        return exchange_calendar(calendar_name, start, end)
    except (xcals.errors.InvalidCalendarName, ValueError):
        return own_dates_calendar(ticker, dates)
