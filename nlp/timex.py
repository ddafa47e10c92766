"""Date expressions → dated intervals: the `lens_dates` component and its pure resolvers.

Every expression is resolved against the article's publication date into a `DateInterval`
(start, end, precision, source):

* `explicit`: the text names the calendar day, month, quarter, year or a named day
  ("January 27", "Feb. 28", "2025-04-02", "Q3 2025", "2024", "Liberation Day"). A missing year
  follows the clause: on or before publication in a past-tense clause, on or after it in one
  that announces ("will take effect on April 10"), else whichever is closer to publication.
* `relative`: the text is anchored to the publication date ("last week", "on Monday", "earlier
  this year", "the past 60 days") or uses a fuzzy part of a period ("in late January" →
  January 21-31, "early 2025" → January-April), whose boundaries are our convention.

Candidate spans come from spaCy's DATE entities, the named-day gazetteer (`models/named_days.yaml`)
and a few regular expressions for forms the small English model misses (ISO dates, quarters,
"late January", weekdays). Calendar day forms are parsed by dateparser; interval forms that
dateparser cannot represent (quarters, parts of months, "the past 60 days") are resolved here.

A sentence without a date of its own inherits the nearest dated sentence of its paragraph (text
between blank lines), else the publication date (`date_source='publication'`), else nothing.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from dateparser.date import DateDataParser
from dateutil.relativedelta import relativedelta
from spacy.language import Language
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Span, Token

from .sentences import sentences

PRECISIONS = ("day", "week", "month", "quarter", "year")
# finest first: the order in which one date is preferred to another
PRECISION_RANK = {p: i for i, p in enumerate(PRECISIONS)}
DATE_SOURCES = ("explicit", "relative", "publication")

# A date more than this far after publication is a target or forecast ("a goal to lead AI by
# 2030"), not the date of the event the sentence reports; it never dates a sentence.
DEFAULT_MAX_FUTURE_DAYS = 120
# Catalysts that are news of the moment ("a new model release"): an explicitly stated year whose
# interval ends more than this long before publication contradicts the article's own date.
DEFAULT_STALE_AFTER_DAYS = 365
# A catalyst whose own sentence dates it more than this long before publication is history the
# article recalls ("moderately loose, as after the 2008 crisis"), not news it reports.
DEFAULT_HISTORY_AFTER_DAYS = 730
# A sentence inherits a date only from this close (in sentences) within its paragraph: long
# "paragraphs" (bullet lists, flattened feeds) otherwise spread one stray year over everything.
DEFAULT_MAX_INHERIT_DISTANCE = 3


class NamedDaysError(ValueError):
    """The named-day gazetteer is malformed; the message names the file, the entry and the fix."""


@dataclass(frozen=True)
class DateInterval:
    """What one date expression supports: [start, end] (inclusive) at a precision."""

    start: dt.date
    end: dt.date
    precision: str
    source: str  # explicit | relative
    stated_year: int | None = None  # a year written in the expression itself


@dataclass(frozen=True)
class Timex:
    """A resolved date expression in a document (character offsets into `doc.text`)."""

    text: str
    start_char: int
    end_char: int
    sent_idx: int
    start: dt.date
    end: dt.date
    precision: str
    source: str
    stated_year: int | None = None
    citation: bool = False  # inside a parenthetical source citation: dates the source, not the event
    # Not the time of an event: a reference point ("since late 2021", "its 2021 peak"), a time
    # that recurs ("normally meets in April, July and December") or a deadline ahead ("told
    # lenders to cut rates by the end of October": the telling is the news, not the deadline).
    anchor: bool = False
    # Two or more clauses below its sentence's main one ("revenue grew 18%, short of what
    # investors had hoped for after the company committed in February"), or one below an undated
    # main clause that does not report it ("echoed what the Politburo said on Monday"):
    # background that dates its own clause, not the neighbouring sentences that inherit a date.
    embedded: bool = False
    # Resolved against `inferred_reference` because the article states no publication date:
    # its year comes from the latest day the article names, so it is a reading, not a fact.
    inferred_reference: bool = False

    @property
    def interval(self) -> DateInterval:
        return DateInterval(self.start, self.end, self.precision, self.source, self.stated_year)


@dataclass(frozen=True)
class SentenceDate:
    """The interval a sentence's events are placed in, and where it came from."""

    start: dt.date
    end: dt.date
    precision: str
    source: str  # explicit | relative | publication
    stated_year: int | None = None
    inherited_from: int | None = None  # sent_idx of the dated sentence it inherits, if any
    timex: Timex | None = field(default=None, compare=False)


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

_MONTHS = {
    "jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3, "apr": 4,
    "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8,
    "sep": 9, "sept": 9, "september": 9, "oct": 10, "october": 10, "nov": 11, "november": 11,
    "dec": 12, "december": 12,
}  # fmt: skip
_MONTH_RE = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAYS = {
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5,
    "sunday": 6,
}  # fmt: skip
_WEEKDAY_RE = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)"
_ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4,
    "final": 4, "last": 4,
}  # fmt: skip
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "couple of": 2,
    "few": 3, "several": 4,
}  # fmt: skip
_NUMBER_RE = r"(?:\d{1,3}|a couple of|couple of|several|few|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve)"
_YEAR_RE = r"(?:19|20)\d\d"
_YEAR_REF_RE = rf"(?:{_YEAR_RE}|this year|last year|the year|next year)"
_PART_RE = (
    r"(?:early|mid|late|the start of|start of|the beginning of|beginning of|the end of|end of"
    r"|the middle of|middle of)"
)

# Leading words that do not change the interval ("in late January", "as of early February").
_LEADING = re.compile(
    r"^(?:(?:on|in|at|by|during|around|about|as of|from|through|throughout|of|until|since"
    r"|before|after|over|for|so far in|back in)\s+)+"
)


def _norm(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("–", "-").replace("—", "-")
    text = re.sub(r"\s+", " ", text.lower()).strip()
    text = re.sub(r"^[^\w]+|[^\w.']+$", "", text)  # "2025-03-07 +" → "2025-03-07"
    text = re.sub(r"'s$", "", text)
    return _LEADING.sub("", text).strip()


def _month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def _third_of_month(year: int, month: int, part: str) -> tuple[dt.date, dt.date]:
    first, last = _month_bounds(year, month)
    if part == "early":
        return first, first.replace(day=10)
    if part == "mid":
        return first.replace(day=11), first.replace(day=20)
    return first.replace(day=21), last


def _part_key(part: str) -> str:
    part = part.removeprefix("the ").strip()
    if part in ("start of", "beginning of"):
        return "start"
    if part == "end of":
        return "end"
    if part in ("middle of", "mid"):
        return "mid"
    return part  # early | late


def _precision_for(start: dt.date, end: dt.date) -> str:
    days = (end - start).days + 1
    if days <= 1:
        return "day"
    if days <= 11:
        return "week"
    if days <= 31:
        return "month"
    if days <= 123:
        return "quarter"
    return "year"


def _pick_year(
    bounds: Callable[[int], tuple[dt.date, dt.date]], published: dt.date, prefer: str = "past"
) -> int:
    """The year for an expression without one. In a past-tense clause ("was banned in April"):
    the latest year whose interval starts on or before publication. When the clause speaks of
    the future ("will take effect on April 10"): the earliest year whose interval has not ended
    yet. Otherwise ("near": present tense, or a date inside a noun phrase such as "the deadline
    in August") whichever of the two lies closer to publication, the past one on a tie: "takes
    effect on April 10" in a paper of April 4 is six days ahead, not a year back."""
    future = published.year if bounds(published.year)[1] >= published else published.year + 1
    past = published.year if bounds(published.year)[0] <= published else published.year - 1
    if prefer == "future":
        return future
    if prefer == "near" and future != past:
        ahead = (bounds(future)[0] - published).days
        behind = (published - bounds(past)[1]).days
        return future if ahead < behind else past
    return past


def _year_ref(ref: str | None, published: dt.date | None) -> tuple[int | None, int | None]:
    """(year, stated_year) for "2025" / "this year" / "last year"; (None, None) when absent or
    unresolvable."""
    if not ref:
        return None, None
    if re.fullmatch(_YEAR_RE, ref):
        return int(ref), int(ref)
    if published is None:
        return None, None
    offset = {"this year": 0, "the year": 0, "last year": -1, "next year": 1}[ref]
    return published.year + offset, None


# --------------------------------------------------------------------------------------------
# Named days
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NamedDay:
    id: str
    names: tuple[str, ...]
    dates: tuple[tuple[dt.date, dt.date], ...] = ()
    annual: tuple[tuple[int, int], tuple[int, int]] | None = None
    rule: tuple[int, int, int, int] | None = None  # month, weekday, nth, offset_days
    precision: str | None = None

    def occurrence(self, year: int) -> tuple[dt.date, dt.date] | None:
        if self.dates:
            for start, end in self.dates:
                if start.year == year:
                    return start, end
            return None
        if self.annual:
            (m1, d1), (m2, d2) = self.annual
            return dt.date(year, m1, d1), dt.date(year, m2, d2)
        month, weekday, nth, offset = self.rule
        days = [
            dt.date(year, month, d)
            for d in range(1, calendar.monthrange(year, month)[1] + 1)
            if dt.date(year, month, d).weekday() == weekday
        ]
        day = days[nth - 1 if nth > 0 else nth] + dt.timedelta(days=offset)
        return day, day

    def resolve(
        self, published: dt.date | None, year: int | None, prefer: str = "past"
    ) -> tuple[dt.date, dt.date] | None:
        if year is not None:
            return self.occurrence(year)
        if self.dates:
            if published is None:
                return self.dates[0] if len(self.dates) == 1 else None
            upcoming = [occ for occ in self.dates if occ[1] >= published]
            past = [occ for occ in self.dates if occ[0] <= published]
            if prefer == "near" and upcoming and past:
                ahead, behind = (min(upcoming)[0] - published).days, (published - max(past)[1]).days
                prefer = "future" if ahead < behind else "past"
            if prefer == "future":
                return min(upcoming) if upcoming else max(self.dates)
            return max(past) if past else min(self.dates)
        if published is None:
            return None
        return self.occurrence(_pick_year(self.occurrence, published, prefer))


def _parse_md(value, where: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", str(value).strip())
    if not match:
        raise NamedDaysError(f"{where}: expected MM-DD, got {value!r}; write e.g. '11-11'")
    return int(match.group(1)), int(match.group(2))


def _parse_day(value, where: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise NamedDaysError(
            f"{where}: expected YYYY-MM-DD, got {value!r}; write e.g. 2025-04-02"
        ) from None


def _name_variants(name: str) -> set[str]:
    base = name.replace("’", "'")
    variants = {base, base.replace("'", "’")}
    if "s' " in base or "s's " in base:
        variants.add(base.replace("s' ", "s ").replace("s's ", "s "))
    if "s " in base and "'" not in base:
        variants.add(re.sub(r"s (?=\w)", "s' ", base, count=1))
    return variants


DEFAULT_NAMED_DAYS_PATH = "named_days.yaml"


def _models_path(name: str) -> Path:
    return Path(str(resources.files("models").joinpath(name)))


@lru_cache(maxsize=8)
def load_named_days(path: str | Path | None = None) -> tuple[NamedDay, ...]:
    """Read and validate the gazetteer (cached per process and path)."""
    path = Path(path) if path else _models_path(DEFAULT_NAMED_DAYS_PATH)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise NamedDaysError(f"{path}: cannot read the named-day gazetteer ({exc.strerror})") from None
    except (yaml.YAMLError, ValueError) as exc:  # PyYAML raises ValueError for e.g. 2025-13-01
        raise NamedDaysError(f"{path}: not valid YAML ({exc})") from None
    entries = (data or {}).get("named_days")
    if not isinstance(entries, list):
        raise NamedDaysError(f"{path}: expected a top-level 'named_days:' list")
    days: list[NamedDay] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: named_days[{i}] ({entry.get('id', '?') if isinstance(entry, dict) else '?'})"
        if not isinstance(entry, dict) or not entry.get("id") or not entry.get("names"):
            raise NamedDaysError(f"{where}: each entry needs an 'id' and a list of 'names'")
        if entry["id"] in seen:
            raise NamedDaysError(f"{where}: duplicate id; ids must be unique")
        seen.add(entry["id"])
        kinds = [k for k in ("dates", "annual", "rule") if k in entry]
        if len(kinds) != 1:
            raise NamedDaysError(f"{where}: give exactly one of 'dates', 'annual' or 'rule'")
        precision = entry.get("precision")
        if precision is not None and precision not in PRECISIONS:
            raise NamedDaysError(f"{where}: precision {precision!r} is not one of {PRECISIONS}")
        kw: dict = {}
        if "dates" in entry:
            occurrences = []
            for occ in entry["dates"]:
                start = _parse_day(occ.get("start"), where)
                end = _parse_day(occ.get("end", start), where)
                if end < start:
                    raise NamedDaysError(f"{where}: end {end} is before start {start}")
                occurrences.append((start, end))
            kw["dates"] = tuple(sorted(occurrences))
        elif "annual" in entry:
            start = _parse_md(entry["annual"].get("start"), where)
            kw["annual"] = (start, _parse_md(entry["annual"].get("end", f"{start[0]}-{start[1]}"), where))
        else:
            rule = entry["rule"]
            weekday = _WEEKDAYS.get(str(rule.get("weekday", "")).lower())
            if weekday is None or not 1 <= int(rule.get("month", 0)) <= 12 or not rule.get("nth"):
                raise NamedDaysError(f"{where}: a rule needs month (1-12), weekday (e.g. thursday) and nth")
            kw["rule"] = (int(rule["month"]), weekday, int(rule["nth"]), int(rule.get("offset_days", 0)))
        names = tuple(sorted({v for n in entry["names"] for v in _name_variants(str(n))}))
        days.append(NamedDay(id=str(entry["id"]), names=names, precision=precision, **kw))
    return tuple(days)


@lru_cache(maxsize=8)
def _named_day_index(named_days: tuple[NamedDay, ...]) -> dict[str, NamedDay]:
    return {_norm(name).removeprefix("the "): day for day in named_days for name in day.names}


# --------------------------------------------------------------------------------------------
# Resolution of one expression
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _dateparser(published: dt.date, prefer: str = "past") -> DateDataParser:
    base = dt.datetime.combine(published, dt.time(12))
    return DateDataParser(
        languages=["en"],
        settings={
            "RELATIVE_BASE": base,
            "PREFER_DATES_FROM": prefer,
            "RETURN_AS_TIMEZONE_AWARE": False,
            "PREFER_DAY_OF_MONTH": "first",
            "STRICT_PARSING": False,
        },
    )


_QUARTER_MONTH_END = {3: 1, 6: 2, 9: 3, 12: 4}


def _quarter_interval(year: int, quarter: int) -> tuple[dt.date, dt.date]:
    start = dt.date(year, 3 * quarter - 2, 1)
    return start, _month_bounds(year, 3 * quarter)[1]


def resolve_date_expression(
    text: str,
    published: dt.date | None,
    named_days: Sequence[NamedDay] | None = None,
    prefer: str = "past",
) -> DateInterval | None:
    """Resolve one date expression (e.g. a spaCy DATE span's text) against the publication date.

    `prefer` decides a missing year (and which Monday "on Monday" is): "past" (news reports
    what happened), "future" (the sentence announces something: "will take effect on
    April 10"), "present" (a schedule in the simple present: a weekday is the nearer of the
    last and the next one, anything else as "near") or "near" (tense says neither: the year
    closer to publication; a weekday stays in the past). "next ..." always looks forward.
    Returns None for durations without an anchor ("five years", "a few weeks"), for relative
    expressions when the publication date is unknown, and for anything unparseable.
    """
    t = _norm(text)
    if not t or len(t) > 60:
        return None
    if named_days is None:
        named_days = load_named_days()
    forward = re.match(r"(?:the )?(?:next|upcoming|coming) (?!(?:week|month|year|days|weeks|months)\b)", t)
    if forward:
        t, prefer = t[forward.end() :], "future"

    # The simple present is the tense of schedules in a story's body ("the Fed announces its
    # decision on Wednesday", "figures are due on Friday"): a weekday is the nearer of the
    # last and the next one. Everything else reads it as a clause without tense ("near").
    resolved = None
    if prefer == "present":
        resolved = _r_weekday(t, published, "present")
        prefer = "near"
    if resolved is None:
        resolved = _resolve_named_day(t, published, named_days, prefer, text)
    if resolved is None:
        for resolver in _RESOLVERS:
            resolved = resolver(t, published, prefer)
            if resolved is not None:
                break
    if resolved is None:
        return None
    if resolved.end < resolved.start:
        return None
    return resolved


def _resolve_named_day(t, published, named_days, prefer="past", original="") -> DateInterval | None:
    if original and original == original.lower():
        return None  # named days are proper nouns: "two sessions" of trading is not the Two Sessions
    index = _named_day_index(tuple(named_days))
    year_match = re.search(rf"\b({_YEAR_RE})\b", t)
    key = re.sub(rf"('s)?\s*\b{_YEAR_RE}\b('s)?", "", t).strip().removeprefix("the ").strip()
    key = key.removesuffix("'s").strip()
    day = index.get(key)
    if day is None:
        return None
    year = int(year_match.group(1)) if year_match else None
    occurrence = day.resolve(published, year, prefer)
    if occurrence is None:
        return None
    start, end = occurrence
    return DateInterval(start, end, day.precision or _precision_for(start, end), "explicit", year)


def _r_iso(t, published, prefer="past"):
    m = re.fullmatch(r"((?:19|20)\d\d)[-/](\d{1,2})[-/](\d{1,2})", t)
    if not m:
        return None
    try:
        day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    return DateInterval(day, day, "day", "explicit", day.year)


def _r_year_range(t, published, prefer="past"):
    m = re.fullmatch(rf"(?:the )?({_YEAR_RE})\s*(?:-|to|and|through|until)\s*((?:19|20)?\d\d)( period)?", t)
    if not m:
        return None
    first, second = int(m.group(1)), m.group(2)
    last = int(second) if len(second) == 4 else first // 100 * 100 + int(second)
    if last <= first:
        return None
    return DateInterval(dt.date(first, 1, 1), dt.date(last, 12, 31), "year", "explicit", first)


def _r_quarter(t, published, prefer="past"):
    quarter = year_text = None
    m = re.fullmatch(rf"(?:the )?q([1-4])(?:[\s,]*(?:of )?(?:fy)?\s*({_YEAR_RE}|'?\d\d))?", t)
    if m:
        quarter, year_text = int(m.group(1)), m.group(2)
    if m is None:
        m = re.fullmatch(r"([1-4])q\s*('?\d\d|(?:19|20)\d\d)?", t)
        if m:
            quarter, year_text = int(m.group(1)), m.group(2)
    if m is None:
        m = re.fullmatch(
            rf"(?:the )?(first|second|third|fourth|1st|2nd|3rd|4th|final|last) quarter"
            rf"(?:,? (?:of )?({_YEAR_REF_RE}))?",
            t,
        )
        if m:
            quarter, year_text = _ORDINALS[m.group(1)], m.group(2)
    if m is None:
        m = re.fullmatch(rf"(?:the )?({_MONTH_RE}) quarter(?:,? (?:of )?({_YEAR_REF_RE}))?", t)
        if m:
            quarter = _QUARTER_MONTH_END.get(_MONTHS[m.group(1).rstrip(".")])
            year_text = m.group(2)
            if quarter is None:
                return None
    if quarter is None:
        return None
    stated = None
    if year_text:
        year_text = year_text.lstrip("'")
        if len(year_text) == 2:
            year, stated = 2000 + int(year_text), 2000 + int(year_text)
        else:
            year, stated = _year_ref(year_text, published)
            if year is None:
                return None
    elif published is not None:
        year = _pick_year(lambda y: _quarter_interval(y, quarter), published, prefer)
    else:
        return None
    start, end = _quarter_interval(year, quarter)
    return DateInterval(start, end, "quarter", "explicit", stated)


def _r_half(t, published, prefer="past"):
    m = re.fullmatch(
        rf"(?:the )?(?:(first|second) half|h([12]))(?:,? (?:of )?({_YEAR_REF_RE}|'?\d\d))?", t
    )
    if not m:
        return None
    half = 1 if (m.group(1) == "first" or m.group(2) == "1") else 2
    year_text = m.group(3)
    stated = None
    if year_text and re.fullmatch(r"'?\d\d", year_text):
        year = stated = 2000 + int(year_text.lstrip("'"))
    elif year_text:
        year, stated = _year_ref(year_text, published)
        if year is None:
            return None
    elif published is not None:
        year = _pick_year(lambda y: (dt.date(y, 6 * half - 5, 1), _month_bounds(y, 6 * half)[1]), published, prefer)
    else:
        return None
    start = dt.date(year, 6 * half - 5, 1)
    end = _month_bounds(year, 6 * half)[1]
    return DateInterval(start, end, "quarter", "explicit", stated)


def _r_part_of_month(t, published, prefer="past"):
    m = re.fullmatch(rf"({_PART_RE})[\s-]*({_MONTH_RE})(?:,? (?:of )?({_YEAR_REF_RE}))?", t)
    if not m:
        return None
    part, month = _part_key(m.group(1)), _MONTHS[m.group(2).rstrip(".")]
    third = {"start": "early", "end": "late"}.get(part, part)
    if m.group(3):
        year, stated = _year_ref(m.group(3), published)
        if year is None:
            return None
    elif published is not None:
        year, stated = _pick_year(lambda y: _third_of_month(y, month, third), published, prefer), None
    else:
        return None
    start, end = _third_of_month(year, month, third)
    return DateInterval(start, end, "week", "relative", stated)


def _r_part_of_year(t, published, prefer="past"):
    m = re.fullmatch(rf"({_PART_RE})[\s-]*({_YEAR_REF_RE})", t)
    if not m:
        return None
    year, stated = _year_ref(m.group(2), published)
    if year is None:
        return None
    part = _part_key(m.group(1))
    if part == "start":  # "the start of the year" is its first month
        start, end = _month_bounds(year, 1)
        precision = "month"
    elif part == "end":
        start, end = _month_bounds(year, 12)
        precision = "month"
    else:  # early / mid / late: thirds of the year
        first_month = {"early": 1, "mid": 5, "late": 9}[part]
        start, end = dt.date(year, first_month, 1), _month_bounds(year, first_month + 3)[1]
        precision = "quarter"
    return DateInterval(start, end, precision, "relative", stated)


def _r_month(t, published, prefer="past"):
    m = re.fullmatch(rf"({_MONTH_RE})(?:,? (?:of )?({_YEAR_REF_RE}))?", t)
    if not m:
        return None
    month = _MONTHS[m.group(1).rstrip(".")]
    if m.group(2):
        year, stated = _year_ref(m.group(2), published)
        if year is None:
            return None
        source = "explicit" if stated else "relative"
    elif published is not None:
        year, stated, source = _pick_year(lambda y: _month_bounds(y, month), published, prefer), None, "explicit"
    else:
        return None
    start, end = _month_bounds(year, month)
    return DateInterval(start, end, "month", source, stated)


def _week_of(day: dt.date) -> tuple[dt.date, dt.date]:
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def _r_relative_period(t, published, prefer="past"):
    if published is None:
        return None
    p = published
    table: dict[str, tuple[dt.date, dt.date, str]] = {
        "today": (p, p, "day"),
        "tonight": (p, p, "day"),
        "tomorrow": (p + dt.timedelta(days=1), p + dt.timedelta(days=1), "day"),
        "this morning": (p, p, "day"),
        "this week": (_week_of(p)[0], p, "week"),
        "earlier this week": (_week_of(p)[0], max(_week_of(p)[0], p - dt.timedelta(days=1)), "week"),
        "last week": _week_of(p - dt.timedelta(days=7)) + ("week",),
        "the past week": (p - dt.timedelta(days=7), p, "week"),
        "past week": (p - dt.timedelta(days=7), p, "week"),
        "this month": (p.replace(day=1), p, "month"),
        "earlier this month": (p.replace(day=1), max(p.replace(day=1), p - dt.timedelta(days=1)), "month"),
        "last month": _month_bounds((p.replace(day=1) - dt.timedelta(days=1)).year,
                                    (p.replace(day=1) - dt.timedelta(days=1)).month) + ("month",),
        "this year": (dt.date(p.year, 1, 1), p, "year"),
        "earlier this year": (dt.date(p.year, 1, 1), max(dt.date(p.year, 1, 1), p - dt.timedelta(days=1)), "year"),
        "year-to-date": (dt.date(p.year, 1, 1), p, "year"),
        "year to date": (dt.date(p.year, 1, 1), p, "year"),
        "ytd": (dt.date(p.year, 1, 1), p, "year"),
        "so far this year": (dt.date(p.year, 1, 1), p, "year"),
        "last year": (dt.date(p.year - 1, 1, 1), dt.date(p.year - 1, 12, 31), "year"),
        "recent weeks": (p - dt.timedelta(days=28), p, "month"),
        "recent days": (p - dt.timedelta(days=7), p, "week"),
        "recent months": (p - relativedelta(months=3), p, "quarter"),
        "later this week": (p, _week_of(p)[1], "week"),
        "next week": _week_of(p + dt.timedelta(days=7)) + ("week",),
        "later this month": (p, _month_bounds(p.year, p.month)[1], "month"),
        "next month": _month_bounds((p.replace(day=28) + dt.timedelta(days=4)).year,
                                    (p.replace(day=28) + dt.timedelta(days=4)).month) + ("month",),
        "later this year": (p, dt.date(p.year, 12, 31), "year"),
        "next year": (dt.date(p.year + 1, 1, 1), dt.date(p.year + 1, 12, 31), "year"),
        "coming days": (p, p + dt.timedelta(days=7), "week"),
        "coming weeks": (p, p + dt.timedelta(days=28), "month"),
        "coming months": (p, p + relativedelta(months=3), "quarter"),
    }  # fmt: skip
    key = t.removeprefix("the ").strip()
    if key not in table:
        return _weekend(key, p, prefer)
    start, end, precision = table[key]
    return DateInterval(start, end, precision, "relative")


def _weekend(key: str, published: dt.date, prefer: str) -> DateInterval | None:
    """"(over) the weekend", "this weekend", "last weekend": the Saturday and Sunday on or
    before publication (news of a Monday reports what was decided over the weekend), or the
    ones ahead when the clause announces something ("will hold a briefing this weekend").
    A paper of a Saturday or Sunday is inside its own weekend, except for "last weekend"."""
    if key not in ("weekend", "this weekend", "last weekend", "past weekend", "this past weekend"):
        return None
    weekday = published.weekday()
    if weekday >= 5:
        saturday = published - dt.timedelta(days=weekday - 5 + (7 if key.endswith("t weekend") else 0))
    elif prefer == "future" and key in ("weekend", "this weekend"):
        saturday = published + dt.timedelta(days=5 - weekday)
    else:
        saturday = published - dt.timedelta(days=weekday + 2)
    return DateInterval(saturday, saturday + dt.timedelta(days=1), "week", "relative")


_UNIT_DELTA = {
    "day": lambda n: relativedelta(days=n),
    "week": lambda n: relativedelta(weeks=n),
    "month": lambda n: relativedelta(months=n),
    "year": lambda n: relativedelta(years=n),
}


def _count(word: str) -> int:
    word = word.strip()
    return int(word) if word.isdigit() else _NUMBER_WORDS[word.removeprefix("a ").strip()]


def _r_past_n(t, published, prefer="past"):
    m = re.fullmatch(rf"(?:the )?(?:past|last|previous|preceding) ({_NUMBER_RE}) (day|week|month|year)s?", t)
    if not m or published is None:
        return None
    n = _count(m.group(1))
    if n <= 0 or n > 400:
        return None
    start = published - _UNIT_DELTA[m.group(2)](n)
    return DateInterval(start, published, _precision_for(start, published), "relative")


def _r_ago(t, published, prefer="past"):
    m = re.fullmatch(rf"({_NUMBER_RE}) (day|week|month|year)s? ago|yesterday|the day before yesterday", t)
    if not m or published is None:
        return None
    data = _dateparser(published, "past").get_date_data(t)
    if data.date_obj is None:
        return None
    day = data.date_obj.date()
    unit = m.group(2) if m.group(2) else "day"
    if unit == "day":
        return DateInterval(day, day, "day", "relative")
    if unit == "week":
        start, end = _week_of(day)
        return DateInterval(start, end, "week", "relative")
    if unit == "month":
        start, end = _month_bounds(day.year, day.month)
        return DateInterval(start, end, "month", "relative")
    return DateInterval(dt.date(day.year, 1, 1), dt.date(day.year, 12, 31), "year", "relative")


# "(The announcement) comes four days after (the results)": the verbs that put the report itself
# after an earlier event.
_COMES_RE = r"(?:comes|come|came|follows|followed|arrives|arrived)"


def _r_offset(t, published, prefer="past"):
    """A distance back from the time of the report: "announced a week earlier", "two days
    before", and "(the announcement) comes four days after (the results)", which dates the
    results. "N days later" is left alone: it counts from the story's last event, not from
    the report."""
    m = re.fullmatch(rf"({_COMES_RE} )?({_NUMBER_RE}) (day|week|month)s? (earlier|before|prior|after)", t)
    if not m or published is None or (m.group(4) == "after") != bool(m.group(1)):
        return None
    n = _count(m.group(2))
    if n <= 0 or n > 400:
        return None
    day = published - _UNIT_DELTA[m.group(3)](n)
    return DateInterval(day, day, "day" if m.group(3) == "day" else m.group(3), "relative")


def _r_weekday(t, published, prefer="past"):
    m = re.fullmatch(rf"(?:(last|this|this past|past|earlier this|late|early) )?({_WEEKDAY_RE})(?: (?:morning|afternoon|evening|night))?", t)
    if not m or published is None:
        return None
    weekday = _WEEKDAYS[m.group(2)]
    if prefer == "future" and m.group(1) not in ("last", "this past", "past", "earlier this"):
        # "will meet on Friday": the first Friday on or after publication.
        day = published + dt.timedelta(days=(weekday - published.weekday()) % 7)
        return DateInterval(day, day, "day", "relative")
    back = (published.weekday() - weekday) % 7
    if prefer == "present" and m.group(1) is None and 7 - back < back:
        # a schedule: the coming weekday when it is nearer than the last one
        day = published + dt.timedelta(days=7 - back)
        return DateInterval(day, day, "day", "relative")
    # "on Monday" is the latest Monday on or before publication; "last Monday" excludes the
    # publication day itself.
    if m.group(1) == "last" and back == 0:
        back = 7
    day = published - dt.timedelta(days=back)
    return DateInterval(day, day, "day", "relative")


def _r_year(t, published, prefer="past"):
    m = re.fullmatch(rf"(?:the )?(?:(?:calendar|fiscal|full)[- ]year )?({_YEAR_RE})", t)
    if not m:
        return None
    year = int(m.group(1))
    return DateInterval(dt.date(year, 1, 1), dt.date(year, 12, 31), "year", "explicit", year)


_DAY_FORM = re.compile(
    rf"\b{_MONTH_RE} \d{{1,2}}(?:st|nd|rd|th)?\b|\b\d{{1,2}}(?:st|nd|rd|th)? (?:of )?{_MONTH_RE}"
    r"|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
)


def _r_calendar_day(t, published, prefer="past"):
    """Day-level calendar dates ("January 27", "Feb. 28", "24 September", "March 3, 2025"),
    parsed by dateparser; a missing year is the one on or before publication."""
    if not _DAY_FORM.search(t):
        return None
    if re.search(r"\b(?:ago|next|last|this|week|month|quarter|half)\b", t):
        return None
    year_match = re.search(rf"\b({_YEAR_RE})\b", t)
    if year_match is None and published is None:
        return None
    parser = _dateparser(published or dt.date(int(year_match.group(1)), 12, 31), "future" if prefer == "future" else "past")
    data = parser.get_date_data(t)
    if data.date_obj is None or data.period != "day":
        return None
    day = data.date_obj.date()
    stated = int(year_match.group(1)) if year_match else None
    if stated is None and published is not None and not (day.month == 2 and day.day == 29):
        year = _pick_year(lambda y: (day.replace(year=y),) * 2, published, prefer)
        day = day.replace(year=year)
    return DateInterval(day, day, "day", "explicit", stated)


_ORD = r"(?:st|nd|rd|th)?"
_RANGE_JOIN = r" ?(?P<join>-|to|through|thru|until|till|and) ?"
# "Oct. 1 to Oct. 7", "October 1-7", "between Jan. 27 and Jan. 31", "Dec. 28 to Jan. 3, 2025"
_MONTH_FIRST_RANGE = re.compile(
    rf"^(?:between )?(?P<a>{_MONTH_RE} \d{{1,2}}{_ORD}(?:,? {_YEAR_RE})?){_RANGE_JOIN}"
    rf"(?:(?P<mb>{_MONTH_RE}) )?(?P<db>\d{{1,2}}){_ORD}(?:,? (?P<yb>{_YEAR_RE}))?$"
)
# "1-7 October", "27 to 31 January 2025"
_DAY_FIRST_RANGE = re.compile(
    rf"^(?:between )?(?P<da>\d{{1,2}}){_ORD}{_RANGE_JOIN}(?P<b>\d{{1,2}}{_ORD} (?:of )?{_MONTH_RE}(?:,? {_YEAR_RE})?)$"
)


def _r_day_range(t, published, prefer="past"):
    """A span of calendar days as one interval: the first day is read as `_r_calendar_day` reads
    a date (its year picked the same way), the second takes the first's month and year unless it
    names its own; a second month before the first is the next year ("Dec. 28 to Jan. 3").
    A range of more than a year, or one that ends before it starts, is not a range, nor are two
    days joined by "and" without "between" ("on Jan. 27 and Jan. 31": two dates)."""
    m = _DAY_FIRST_RANGE.match(t) or _MONTH_FIRST_RANGE.match(t)
    if m is None or (m["join"] == "and" and not t.startswith("between ")):
        return None
    if m.re is _DAY_FIRST_RANGE:
        last = _r_calendar_day(m["b"], published, prefer)
        if last is None:
            return None
        end, stated = last.start, last.stated_year
        try:
            first = end.replace(day=int(m["da"]))
        except ValueError:
            return None
    else:
        stated_b = int(m["yb"]) if m["yb"] else None
        head = m["a"] if stated_b is None or re.search(_YEAR_RE, m["a"]) else f"{m['a']}, {stated_b}"
        opening = _r_calendar_day(head, published, prefer)
        if opening is None:
            return None
        first, stated = opening.start, opening.stated_year
        month = _MONTHS[m["mb"].rstrip(".")] if m["mb"] else first.month
        try:
            end = dt.date(stated_b or first.year, month, int(m["db"]))
        except ValueError:
            return None
        if month < first.month and end < first:  # across the new year
            if stated_b is None:
                end = end.replace(year=end.year + 1)
            else:
                first = first.replace(year=first.year - 1)  # "Dec. 28 to Jan. 3, 2025"
    if not first <= end or (end - first).days > 366:
        return None
    return DateInterval(first, end, _precision_for(first, end), "explicit", stated)


_RESOLVERS = (
    _r_day_range,
    _r_iso,
    _r_year_range,
    _r_quarter,
    _r_half,
    _r_part_of_month,
    _r_part_of_year,
    _r_month,
    _r_relative_period,
    _r_past_n,
    _r_ago,
    _r_offset,
    _r_weekday,
    _r_year,
    _r_calendar_day,
)


# --------------------------------------------------------------------------------------------
# Documents: candidate spans, paragraphs, inheritance
# --------------------------------------------------------------------------------------------

# Forms the small English NER model misses or cuts short.
_DAY_TEXT = rf"{_MONTH_RE}\s+\d{{1,2}}{_ORD}(?:,\s*{_YEAR_RE})?"
# the end of a span of days: not a figure ("rose on March 3 to 21,345 points")
_SECOND_DAY_TEXT = (
    rf"(?:{_MONTH_RE}\s+)?\d{{1,2}}{_ORD}(?:,\s*{_YEAR_RE})?\b"
    r"(?![.,]\d|\s*%|\s*(?:percent|per cent|points|bps|basis|billion|million|trillion|yuan)\b)"
)
_CANDIDATE_RE = re.compile(
    "|".join(
        [
            r"\b(?:19|20)\d\d-\d{2}-\d{2}\b",
            rf"\b(?:Q[1-4]|[1-4]Q)(?:\s*(?:{_YEAR_RE}|'?\d\d))?\b",
            rf"\b(?:the\s+)?(?:first|second|third|fourth|final)\s+quarter(?:\s+of\s+{_YEAR_REF_RE})?\b",
            rf"\b(?:the\s+)?{_MONTH_RE}\s+quarter\b",
            rf"\b{_PART_RE}[\s-]*{_MONTH_RE}(?:,?\s+(?:of\s+)?{_YEAR_REF_RE})?(?![\w])",
            rf"\b{_PART_RE}[\s-]*{_YEAR_REF_RE}\b",
            # a span of days first ("Oct. 1 to Oct. 7", "between Jan. 27 and Jan. 31"), then a
            # single day
            rf"\bbetween\s+{_DAY_TEXT}\s+and\s+{_SECOND_DAY_TEXT}",
            rf"\b{_DAY_TEXT}\s*(?:-|–|to|through|thru|until|till)\s*{_SECOND_DAY_TEXT}",
            rf"\b{_DAY_TEXT}\b",
            rf"\b{_MONTH_RE}\s+(?:of\s+)?{_YEAR_REF_RE}\b",
            rf"\b(?:(?:last|this)\s+)?{_WEEKDAY_RE}\b",
            rf"\b(?:the\s+)?(?:past|last|previous)\s+{_NUMBER_RE}\s+(?:day|week|month|year)s?\b",
            r"\bearlier this (?:year|month|week)\b",
            r"\b(?:[Yy]esterday|[Tt]omorrow)\b",  # the NER tags them only now and then
            r"\b(?:the|this|last|this past|past)\s+weekend\b",
            # "a week earlier," but not "two weeks before Trump returns" (that one looks ahead)
            rf"\b{_NUMBER_RE}\s+(?:day|week|month)s?\s+(?:earlier|before|prior)\b(?!\s+(?!and\b)\w)",
            rf"\b{_COMES_RE}\s+{_NUMBER_RE}\s+(?:day|week|month)s?\s+after\b",
        ]
    ),
    re.IGNORECASE,
)

# A parenthetical that cites a source ("(Headline - February 19, 2025 - Zacks.com)",
# "(..., Reuters)"): its dates belong to the cited source, not to the event.
_PAREN_RE = re.compile(r"\(([^()]{12,400})\)")
_CITATION_HINT = re.compile(
    r"\b[\w-]+\.(?:com|net|org|io|az|co|uk|cn|hk)\b|https?://|\s[-–—]\s"
    r"|,\s*(?:Reuters|Bloomberg|CNBC|Forbes|Barron's|Zacks|MarketWatch|Yahoo Finance|Nikkei Asia"
    r"|Financial Times|FT|WSJ|The Wall Street Journal|AP|AFP|Caixin|SCMP|South China Morning Post"
    r"|[A-Z][\w&.'-]*(?:\s[A-Z][\w&.'-]*){0,3}\s(?:Magazine|News|Times|Journal|Post|Review))\s*$"
)


_MINOR_WORDS = {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "vs.", "vs", "with"}


def looks_like_headline(inner: str, min_words: int = 4) -> bool:
    """Title Case: at least `min_words` words besides the minor ones, 80% of them capitalised."""
    words = [w for w in inner.split() if w[:1].isalpha() and w.lower() not in _MINOR_WORDS]
    return len(words) >= min_words and sum(w[0].isupper() for w in words) >= 0.8 * len(words)


def citation_spans(text: str) -> list[tuple[int, int]]:
    """Character ranges of parenthetical source citations (including the parentheses): a
    source after a dash or comma, a domain, or a Title Case headline."""
    spans = []
    for m in _PAREN_RE.finditer(text):
        inner = m.group(1)
        if len(inner.split()) >= 4 and (_CITATION_HINT.search(inner) or looks_like_headline(inner)):
            spans.append((m.start(), m.end()))
    return spans


_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Paragraphs as character ranges: text between blank lines. A text with no blank line
    but several lines (feeds that flatten paragraphs to single newlines) splits at newlines."""
    breaker = _PARAGRAPH_BREAK if _PARAGRAPH_BREAK.search(text) else re.compile(r"\n\s*")
    spans, start = [], 0
    for m in breaker.finditer(text):
        if text[start : m.start()].strip():
            spans.append((start, m.start()))
        start = m.end()
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def sentence_paragraphs(sent_bounds: Sequence[tuple[int, int]], paragraphs: Sequence[tuple[int, int]]) -> list[int]:
    """Paragraph index of each sentence: the paragraph holding most of its characters (a
    heading that the parser glued to the next sentence does not move it)."""
    result = []
    for s_start, s_end in sent_bounds:
        best, best_overlap = -1, 0
        for i, (p_start, p_end) in enumerate(paragraphs):
            overlap = min(s_end, p_end) - max(s_start, p_start)
            if overlap > best_overlap:
                best, best_overlap = i, overlap
        result.append(best)
    return result


def to_utc_date(published_at: dt.datetime | dt.date | None) -> dt.date | None:
    """The publication day in UTC (naive datetimes are taken as UTC)."""
    if published_at is None:
        return None
    if isinstance(published_at, dt.datetime):
        if published_at.tzinfo is not None:
            published_at = published_at.astimezone(dt.UTC)
        return published_at.date()
    return published_at


_ANCHOR_BEFORE = re.compile(
    r"\b(?:since|from|than|as|versus|vs\.?|compared with|compared to|ended|ending|ahead of|in the run-up to)"
    r"\s+(?:the\s+|its\s+|their\s+|a\s+)?$",
    re.IGNORECASE,
)
_ANCHOR_AFTER = re.compile(
    r"^(?:'s|’s)?\s*(?:peak|peaks|high|highs|low|lows|level|levels|close|record|bottom|top)\b",
    re.IGNORECASE,
)


def is_anchor(text: str, start: int, end: int, future: bool = False) -> bool:
    """A date used as a reference point rather than the time of the event: "highest since late
    2021", "below its 2021 peak", "up from last year", "the three months ended December 31",
    "best day since 2008 ahead of Golden Week".
    In a sentence about the future, "from April 10" is when something starts, not an anchor."""
    before = text[max(0, start - 30) : start]
    if future and re.search(r"\bfrom\s+(?:the\s+)?$", before, re.IGNORECASE):
        return False
    if re.match(r"(?:since|from)\b", text[start:end], re.IGNORECASE):
        return True
    return bool(_ANCHOR_BEFORE.search(before) or _ANCHOR_AFTER.match(text[end : end + 20]))


def usable_for_dating(timex: Timex, published: dt.date | None, max_future_days: int = DEFAULT_MAX_FUTURE_DAYS) -> bool:
    """Can this timex date the events of its sentence? Not a citation's date, not a reference
    point, not a far-future target; and a future month, quarter or year ("a revaluation in
    2026") is a forecast horizon, whereas a future day or week may be a scheduled event."""
    if timex.citation or timex.anchor:
        return False
    if published is not None and timex.start > published:
        if timex.start > published + dt.timedelta(days=max_future_days):
            return False
        if timex.precision in ("month", "quarter", "year"):
            return False
    return True


def pick_timex(timexes: Sequence[Timex], near: tuple[int, int] | None = None) -> Timex | None:
    """The timex that dates an event in a sentence: the one closest to the trigger's character
    range `near` when given ("the launch of X in 2022 with the release of Y in January" dates Y
    in January), else the most precise; ties go to the earlier one in the text."""
    if not timexes:
        return None
    if near is None:
        return min(timexes, key=lambda tx: (PRECISION_RANK[tx.precision], tx.start_char))
    start, end = near

    def gap(tx: Timex) -> int:
        return max(0, tx.start_char - end, start - tx.end_char)

    return min(timexes, key=lambda tx: (gap(tx), PRECISION_RANK[tx.precision], tx.start_char))


_COARSE = frozenset({"month", "quarter", "year"})

# Any day will do: it only tells a date that needs the day of writing from a duration.
_SOME_DAY = dt.date(2001, 6, 15)


def _unread_date_closer(doc: Doc, sent: Span, near: tuple[int, int], chosen: Timex) -> bool:
    """In an article without a publication date: is there a date expression closer to the
    trigger than `chosen` that could not be read for want of that date? "comparing the launch
    of ChatGPT in November 2022 with the release of R1 in January of this year": R1's date is
    the unread one, and November 2022 belongs to ChatGPT."""
    start, end = near

    def gap(a: int, b: int) -> int:
        return max(0, a - end, start - b)

    read = [(tx.start_char, tx.end_char) for tx in doc._.timexes or () if sent.start_char <= tx.start_char < sent.end_char]
    for ent in sent.ents:
        if ent.label_ != "DATE" or gap(ent.start_char, ent.end_char) >= gap(chosen.start_char, chosen.end_char):
            continue
        if any(a < ent.end_char and ent.start_char < b for a, b in read):
            continue
        if resolve_date_expression(ent.text, _SOME_DAY) is not None:
            return True
    return False


def date_sentence(
    sent_idx: int,
    timexes_by_sent: dict[int, Sequence[Timex]],
    sent_paragraph: Sequence[int],
    published: dt.date | None,
    near: tuple[int, int] | None = None,
    max_distance: int = DEFAULT_MAX_INHERIT_DISTANCE,
    present: bool = False,
    perfect: bool = False,
) -> SentenceDate | None:
    """The date of a sentence's events: its own timex; else the nearest dated sentence of the
    same paragraph within `max_distance` sentences (narrative reads forward, so a later
    sentence counts one sentence farther than an earlier one); else the publication date; else
    None. A sentence in the simple present (`present`, see `in_simple_present`) speaks of the
    time of writing and inherits nothing: after "Nvidia said it was told on April 9 ...", "It
    expects to record $5.5 billion of charges" is what it expects now. One in the present
    perfect (`perfect`, see `in_present_perfect`) is news as of writing too, and takes no date
    from a later sentence, which tells what came before it: "The regulator has told tech groups to
    cancel orders ... It follows a finding on Monday that ..." is not Monday's news.
    `timexes_by_sent` holds only timexes usable for dating."""
    own = pick_timex(timexes_by_sent.get(sent_idx, ()), near)
    if own is not None:
        return SentenceDate(own.start, own.end, own.precision, own.source, own.stated_year, None, own)
    paragraph = sent_paragraph[sent_idx] if 0 <= sent_idx < len(sent_paragraph) and not (present and published) else -1
    if paragraph >= 0:
        def distance(i: int) -> int:
            return sent_idx - i if i < sent_idx else i - sent_idx + 1

        def past(i: int) -> list[Timex]:
            # An announced date ("takes effect on Feb. 10") dates its own sentence only. So does
            # a month, quarter or year that runs up to publication ("shares have fallen 20% this
            # year"): it measures a period; handed on, it would date the neighbours' news to
            # January 1, where the publication date is inside it and closer. A bare year names
            # the time of its own sentence's story ("set in 2010"), and a later sentence hands
            # back only a day: "The rally began in late September" is background to the
            # sentence before it, not its date. Nor does a date deep in a side clause.
            return [
                tx for tx in timexes_by_sent[i]
                if tx.precision != "year" and (i < sent_idx or tx.precision == "day") and not tx.embedded
                and (published is None
                     or (tx.start <= published and not (tx.precision in _COARSE and tx.end >= published)))
            ]  # fmt: skip

        candidates = [
            i for i in timexes_by_sent
            if i != sent_idx and 0 <= i < len(sent_paragraph) and sent_paragraph[i] == paragraph
            and distance(i) <= max_distance and past(i) and not (perfect and i > sent_idx)
        ]  # fmt: skip
        if candidates:
            nearest = min(candidates, key=lambda i: (distance(i), i))
            # The most precise of its dates, and of those the one closest in the text: "was told
            # on April 9 ... and informed on April 14. It expects charges" continues from April 14.
            handed = past(nearest)
            rank = min(PRECISION_RANK[tx.precision] for tx in handed)
            handed = [tx for tx in handed if PRECISION_RANK[tx.precision] == rank]
            tx = max(handed, key=lambda t: t.start_char) if nearest < sent_idx else min(handed, key=lambda t: t.start_char)
            return SentenceDate(tx.start, tx.end, tx.precision, tx.source, tx.stated_year, nearest, tx)
    if published is not None:
        return SentenceDate(published, published, "day", "publication")
    return None


def in_simple_present(sent: Span) -> bool:
    """The sentence's main verb is in the simple present ("expects", "remains", "leaves"), not
    a perfect or a passive, which have an auxiliary. (A headline's present tells the past;
    its date comes from publication either way.)"""
    return _present_tense_verb(sent.root)


def in_present_perfect(sent: Span) -> bool:
    """The sentence's main verb is in the present perfect, active or passive: "has told", "have
    agreed", "has been ordered" (not "had told", a past before another past)."""
    root = sent.root
    return root.tag_ == "VBN" and any(
        c.dep_ == "aux" and c.lower_ in ("has", "have", "'s", "'ve") for c in root.children)


def _present_tense_verb(token: Token) -> bool:
    return token.tag_ in ("VBZ", "VBP") and not any(c.dep_ in ("aux", "auxpass") for c in token.children)


def is_year_conflict(
    date: SentenceDate | DateInterval | None,
    published: dt.date | None,
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS,
) -> bool:
    """An explicitly stated year that cannot be right for news of the moment: the interval ends
    more than `stale_after_days` before publication, or the stated year is after it."""
    if date is None or published is None or date.stated_year is None:
        return False
    if date.stated_year > published.year:
        return True
    return (published - date.end).days > stale_after_days


def is_history(
    date: SentenceDate | None, published: dt.date | None, history_after_days: int = DEFAULT_HISTORY_AFTER_DAYS
) -> bool:
    """The sentence's own date ends more than `history_after_days` before publication. An
    inherited date does not count: it was meant for another sentence."""
    if date is None or published is None or date.source == "publication" or date.inherited_from is not None:
        return False
    return (published - date.end).days > history_after_days


# --------------------------------------------------------------------------------------------
# The spaCy component
# --------------------------------------------------------------------------------------------


def _register_extensions() -> None:
    for name in ("article_id", "published_at", "timexes", "sent_dates"):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)


_register_extensions()


def _split_conjunction(text: str) -> list[tuple[int, str]]:
    """"April and August" → [(0, "April"), (10, "August")]."""
    parts, offset = [], 0
    for piece in re.split(r"(\s+(?:and|or|&)\s+|,\s+)", text):
        if piece.strip() and not re.fullmatch(r"\s+(?:and|or|&)\s+|,\s+", piece):
            parts.append((offset, piece))
        offset += len(piece)
    return parts


class DateResolver:
    """`lens_dates`: resolves the doc's date expressions into `Doc._.timexes` and dates every
    sentence into `Doc._.sent_dates` (aligned with `doc.sents`)."""

    def __init__(
        self,
        nlp: Language,
        name: str,
        named_days_path: str | None = None,
        max_future_days: int = DEFAULT_MAX_FUTURE_DAYS,
        max_inherit_distance: int = DEFAULT_MAX_INHERIT_DISTANCE,
    ):
        self.name = name
        self.named_days = load_named_days(named_days_path)
        self.max_future_days = max_future_days
        self.max_inherit_distance = max_inherit_distance
        self.matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
        for day in self.named_days:
            self.matcher.add(day.id, [nlp.make_doc(n) for n in day.names])

    def __call__(self, doc: Doc) -> Doc:
        published = to_utc_date(doc._.published_at)
        sents = sentences(doc)
        sent_starts = [s.start_char for s in sents]
        timexes = self.find_timexes(doc, published, sent_starts)
        if published is None:
            timexes = self.with_inferred_reference(doc, timexes, sent_starts)
        text = doc.text  # rebuilt from the tokens on every access: read once here
        timexes = with_anaphoric_days(text, timexes, sent_starts)
        doc._.timexes = timexes
        usable: dict[int, list[Timex]] = {}
        for tx in timexes:
            if usable_for_dating(tx, published, self.max_future_days):
                usable.setdefault(tx.sent_idx, []).append(tx)
        paragraphs = sentence_paragraphs([(s.start_char, s.end_char) for s in sents], paragraph_spans(text))
        doc._.sent_dates = [
            date_sentence(i, usable, paragraphs, published, max_distance=self.max_inherit_distance,
                          present=in_simple_present(sent), perfect=in_present_perfect(sent))
            for i, sent in enumerate(sents)
        ]
        return doc

    def candidate_spans(self, doc: Doc, text: str | None = None) -> list[tuple[int, int, str]]:
        """(start_char, end_char, origin) of every possible date expression."""
        found = []
        for ent in doc.ents:
            if ent.label_ in ("DATE", "EVENT"):
                found.append((ent.start_char, ent.end_char, "ner"))
        for _, start, end in self.matcher(doc):
            found.append((doc[start].idx, doc[end - 1].idx + len(doc[end - 1]), "gazetteer"))
        for m in _CANDIDATE_RE.finditer(doc.text if text is None else text):
            found.append((m.start(), m.end(), "pattern"))
        return found

    def find_timexes(self, doc: Doc, published: dt.date | None, sent_starts: Sequence[int]) -> list[Timex]:
        full_text = doc.text  # Doc.text is rebuilt from the tokens on every access
        resolved: list[tuple[int, int, DateInterval, bool]] = []
        # the first sentence is the headline (or the whole of a one-sentence text), and a
        # headline tells past news in the present: "Nvidia sinks on Monday"
        headline_end = sent_starts[1] if len(sent_starts) > 1 else len(full_text)
        for start, end, _origin in self.candidate_spans(doc, full_text):
            text = full_text[start:end]
            future = speaks_of_future(doc, start, end, full_text)
            prefer = "future" if future else clause_tense(doc, start, end)
            if prefer == "present" and start < headline_end:
                prefer = "near"
            if prefer in ("near", "present") and (_after_deadline_word(full_text, start) or _takes_effect(full_text, start)):
                prefer = "future"  # "take effect by Wednesday", "a tariff effective Saturday": ahead
            interval = resolve_date_expression(text, published, self.named_days, prefer)
            if interval is not None:
                resolved.append((start, end, interval, future))
                continue
            for offset, piece in _split_conjunction(text):
                interval = resolve_date_expression(piece, published, self.named_days, prefer)
                if interval is not None:
                    piece_start = start + offset + (len(piece) - len(piece.lstrip()))
                    resolved.append((piece_start, piece_start + len(piece.strip()), interval, future))
        # Longest first, then non-overlapping.
        resolved.sort(key=lambda r: (-(r[1] - r[0]), r[0]))
        kept: list[tuple[int, int, DateInterval, bool]] = []
        for start, end, interval, future in resolved:
            if all(end <= k[0] or start >= k[1] for k in kept):
                kept.append((start, end, interval, future))
        kept.sort(key=lambda r: r[0])
        citations = citation_spans(full_text)
        timexes = []
        depths = [clause_depth(doc, start, end) for start, end, _, _ in kept]
        # sentences whose main clause names a date of its own (see `_side_date`)
        main_dated = {max(0, _bisect_right(sent_starts, k[0]) - 1) for k, depth in zip(kept, depths, strict=True) if depth == 0}
        for (start, end, iv, future), depth in zip(kept, depths, strict=True):
            sent_idx = max(0, _bisect_right(sent_starts, start) - 1)
            in_citation = any(c_start <= start and end <= c_end for c_start, c_end in citations)
            deadline_ahead = published is not None and iv.start > published and _after_deadline_word(full_text, start)
            anchor = is_anchor(full_text, start, end, future) or deadline_ahead or recurring(doc, start, end)
            timexes.append(
                Timex(full_text[start:end], start, end, sent_idx, iv.start, iv.end, iv.precision,
                      iv.source, iv.stated_year, in_citation, anchor,
                      depth >= 2 or (depth == 1 and sent_idx not in main_dated and _side_date(doc, start, end)))
            )  # fmt: skip
        return timexes

    def with_inferred_reference(self, doc: Doc, timexes: list[Timex], sent_starts: Sequence[int]) -> list[Timex]:
        """An undated article's timexes, plus those that name a month or a named day ("in late
        January", "on Feb. 3", "Singles' Day") resolved against `inferred_reference`: the year
        is the one thing they lack, and an article is rarely read a year after the latest day it
        names. Deictic expressions ("last week", "on Monday", "this year") stay unresolved: they
        need the very day of writing, which the article does not give."""
        reference = inferred_reference(doc, timexes)
        if reference is None:
            return timexes
        taken = [(tx.start_char, tx.end_char) for tx in timexes]
        added = []
        for tx in self.find_timexes(doc, reference, sent_starts):
            if any(tx.start_char < end and start < tx.end_char for start, end in taken):
                continue  # read without the reference already (or overlapping what was)
            if _NAMES_A_MONTH.search(tx.text) or _resolve_named_day(_norm(tx.text), reference, self.named_days):
                added.append(replace(tx, inferred_reference=True))
        return sorted(timexes + added, key=lambda tx: tx.start_char)

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        for doc in docs:
            yield self(doc)


_NAMES_A_MONTH = re.compile(rf"\b{_MONTH_RE}(?!\w)", re.IGNORECASE)

# Days named by their distance from the day the story last named, not from the report: "On
# Friday, Alibaba reported ... The same day, a report that ...", "launched V3.1 on Aug. 21 ...
# Chip stocks soared the next day", "three days later". ("A week earlier" and "two days before"
# count back from the report: `_r_offset`. "The day after the election" names its own
# reference, so it is left out.)
_ANAPHORIC_DAY = re.compile(
    rf"\b(?:that (?:very |same )?day|the same day"
    rf"|the (?:next|following|previous) day|the day before(?= ?[,.;:)]| and\b| but\b)"
    rf"|(?P<n>{_NUMBER_RE}) days? later)\b",
    re.IGNORECASE,
)
# How far back (in sentences) the day of reference may lie: further, the story has moved on.
ANAPHORA_SENTENCES = 2


def _anaphoric_offset(m: re.Match) -> int:
    if m.group("n"):
        return _count(m.group("n").lower())
    text = m.group(0).lower()
    if "next" in text or "following" in text:
        return 1
    if "previous" in text or "before" in text:
        return -1
    return 0


def with_anaphoric_days(text: str, timexes: list[Timex], sent_starts: Sequence[int]) -> list[Timex]:
    """`timexes` plus the anaphoric day expressions of `text` resolved against the latest day a
    timex before them names (not a reference point or a citation; an anaphoric day read before
    counts: "the next day ... three days later") in the same or the previous
    `ANAPHORA_SENTENCES` sentences. Without such a day they stay unread: counting from the
    publication would move the event."""
    taken = [(tx.start_char, tx.end_char) for tx in timexes]
    days = [tx for tx in timexes if tx.precision == "day" and not (tx.anchor or tx.citation)]
    added: list[Timex] = []
    for m in _ANAPHORIC_DAY.finditer(text):
        start, end = m.start(), m.end()
        if any(start < e and s < end for s, e in taken):
            continue
        sent_idx = max(0, _bisect_right(sent_starts, start) - 1)
        before = [tx for tx in days + added if tx.end_char <= start and sent_idx - tx.sent_idx <= ANAPHORA_SENTENCES]
        if not before:
            continue
        ref = max(before, key=lambda tx: tx.end_char)
        day = ref.start + dt.timedelta(days=_anaphoric_offset(m))
        added.append(Timex(m.group(0), start, end, sent_idx, day, day, "day", "relative",
                           inferred_reference=ref.inferred_reference))  # fmt: skip
    return sorted(timexes + added, key=lambda tx: tx.start_char) if added else timexes


def inferred_reference(doc: Doc, timexes: Sequence[Timex]) -> dt.date | None:
    """The latest day an undated article names in full ("February 19, 2025", often in its
    source citations), not as a reference point or a date ahead: the article was written on
    or after it. None when it names no such day."""
    days = [
        tx.end for tx in timexes
        if tx.precision == "day" and tx.stated_year is not None and not tx.anchor
        and not speaks_of_future(doc, tx.start_char, tx.end_char)
    ]  # fmt: skip
    return max(days, default=None)


_FUTURE_AUX = {"will", "shall", "'ll", "would", "wo", "could", "may", "might"}
_FUTURE_FRAMES = {"due", "set", "schedule", "expect", "plan", "slate", "poise", "prepare"}
_FUTURE_TEXT = re.compile(
    r"\b(?:will|shall|'ll|would|could|may|might|as soon as|is due to|are due to|is set to|are set to|scheduled|"
    r"is expected to|are expected to|plans? to|planning to|upcoming)\b",
    re.IGNORECASE,
)


# Verbs whose complement is the news itself: "Nvidia said it was told on April 9 ..."
_REPORTING_VERBS = frozenset({
    "say", "tell", "announce", "report", "disclose", "confirm", "state", "add", "reveal", "write", "note", "show",
})


def _side_date(doc: Doc, start_char: int, end_char: int) -> bool:
    """A date one clause below an undated main clause whose verb does not report it: "The language
    echoed what the Politburo said on Monday, December 9" says when the Politburo spoke, not
    when the sentence's story (or the next sentence's: "But the conference gave no figures ...")
    happened. Under a verb of reporting ("said it was told on April 9") the clause is the news."""
    span = _words(doc.char_span(start_char, end_char, alignment_mode="expand"))
    if span is None or not doc.has_annotation("DEP"):
        return False
    return span.root.sent.root.lemma_.lower() not in _REPORTING_VERBS


def _clause_verb(token) -> object | None:
    """The verb that governs a token (the token itself if it is one)."""
    for _ in range(8):
        if token.pos_ in ("VERB", "AUX"):
            return token
        if token.head is token:
            return None
        token = token.head
    return None


_PAST_AUX = {"was", "were", "had", "did"}
_DEADLINE = re.compile(r"\b(?:by|until|till)\s+(?:the\s+)?$", re.IGNORECASE)


# "effective Saturday", "starting April 9": when a decision takes effect, which lies ahead of it
_TAKES_EFFECT = re.compile(r"\b(?:effective|starting|beginning)\s+(?:from\s+|on\s+)?$", re.IGNORECASE)


def _takes_effect(text: str, start: int) -> bool:
    return bool(_TAKES_EFFECT.search(text[max(0, start - 20) : start]))


def _after_deadline_word(text: str, start: int) -> bool:
    """The date at `start` follows "by", "until" or "till": a deadline."""
    return bool(_DEADLINE.search(text[max(0, start - 12) : start]))


def _words(span: Span | None) -> Span | None:
    """The span without punctuation at its edges. A date expression that ends a sentence can
    take the full stop with it ("by the end of October."), and the stop hangs from the
    sentence's main verb, which would then pass for the word the date modifies."""
    if span is None:
        return None
    start, end = span.start, span.end
    while start < end and span.doc[start].is_punct:
        start += 1
    while end > start and span.doc[end - 1].is_punct:
        end -= 1
    return span.doc[start:end] if end > start else None


def clause_tense(doc: Doc, start_char: int, end_char: int) -> str:
    """"past" when the date modifies a past-tense verb ("was banned in April", "the tariffs
    imposed in April", "rose on Monday"), "present" when it modifies a verb in the simple
    present ("the Fed meets on Wednesday", "Nvidia reports its earnings on Wednesday"), else
    "near". A date inside any other noun phrase ("left the deadline in August unresolved")
    takes no tense from the verb above it."""
    if not doc.has_annotation("DEP"):
        return "near"
    span = _words(doc.char_span(start_char, end_char, alignment_mode="expand"))
    if span is None:
        return "near"
    token = span.root
    for _ in range(4):  # up through prepositions to the word the date modifies
        if token.head.i == token.i:  # the root (spaCy makes a new Token per access)
            break
        token = token.head
        if token.pos_ != "ADP":
            break
    if token.pos_ == "ADJ" and token.dep_ == "acomp":
        token = token.head  # "figures are due on Friday", "markets were shut on Monday"
    if token.dep_ == "dobj" and _simple_present(token.head):
        # "Microsoft and Meta report quarterly earnings on Wednesday": the parse hangs the date
        # on the object, but a schedule's date is the verb's (unlike a past verb's object: "left
        # the deadline in August unresolved" says nothing of when August is)
        token = token.head
    if token.pos_ not in ("VERB", "AUX"):
        return "present" if _verb_tagged_noun(token) else "near"
    if token.tag_ == "VBD" or any(c.dep_ in ("aux", "auxpass") and c.lower_ in _PAST_AUX for c in token.children):
        return "past"
    if token.tag_ == "VBN" and token.dep_ in ("acl", "relcl", "amod"):
        return "past"  # a participle describing a noun: "the tariffs imposed in April"
    if _present_tense_verb(token):
        return "present"  # "the Fed meets on Wednesday", "figures are due on Friday"
    return "near"


def _simple_present(token: Token) -> bool:
    """A verb in the simple present, the tense of schedules ("reports", "meet"), tagged so or not."""
    return _present_tense_verb(token) or _verb_tagged_noun(token)


def _verb_tagged_noun(token: Token) -> bool:
    """A verb in the simple present that en_core_web_sm tagged as a noun but parsed as the head
    of its clause, with a subject: "Microsoft and Meta report quarterly results on Wednesday"
    ("report" NN, ROOT, with the subject "Microsoft" and the object "results")."""
    return (token.tag_ in ("NN", "NNS") and token.dep_ in ("ROOT", "conj", "ccomp")
            and any(c.dep_ == "nsubj" for c in token.children))  # fmt: skip


def speaks_of_future(doc: Doc, start_char: int, end_char: int, text: str | None = None) -> bool:
    """Does the clause holding this date expression announce something ("will take effect on
    April 10", "is due to unveil tariffs on Wednesday", "said it would cut rates from Monday")?
    Uses the parse when there is one, else the words of the sentence before the expression."""
    span = _words(doc.char_span(start_char, end_char, alignment_mode="expand"))
    if span is None:
        return False
    text = doc.text if text is None else text
    if re.search(r"\b(?:next|upcoming|coming)\s+$", text[max(0, start_char - 12) : start_char], re.IGNORECASE):
        return True
    if not doc.has_annotation("DEP"):
        sent_start = span.sent.start_char if doc.has_annotation("SENT_START") else 0
        return bool(_FUTURE_TEXT.search(text[sent_start:start_char]))
    verb = _clause_verb(span.root)
    for _ in range(3):  # the verb, and the frames above it ("is expected to take effect")
        if verb is None:
            return False
        if any(c.dep_ == "aux" and c.lower_ in _FUTURE_AUX for c in verb.children):
            return True
        if verb.lemma_.lower() in _FUTURE_FRAMES and any(c.dep_ == "xcomp" for c in verb.children):
            return True
        if verb.dep_ not in ("xcomp", "ccomp", "advcl", "conj") or verb.head is verb:
            return False
        nxt = _clause_verb(verb.head)
        if nxt is verb:
            return False
        if verb.dep_ in ("ccomp", "advcl"):
            # "said it would ...": only the frame right above a complement counts.
            return any(c.dep_ == "aux" and c.lower_ in _FUTURE_AUX for c in verb.children)
        verb = nxt
    return False


_CLAUSE_DEPS = {"ROOT", "relcl", "advcl", "acl", "ccomp", "csubj", "xcomp", "conj", "parataxis"}


def clause_head(token):
    """The head of the clause a token belongs to: the nearest verb that heads a clause."""
    for _ in range(50):
        if token.pos_ in ("VERB", "AUX") and token.dep_ in _CLAUSE_DEPS:
            return token
        if token.head is token:
            return token
        token = token.head
    return token


_HABITUAL = frozenset({"normally", "usually", "typically", "traditionally", "generally", "customarily", "routinely", "regularly"})


def recurring(doc: Doc, start_char: int, end_char: int) -> bool:
    """Does the date name a time that recurs ("the Politburo normally reviews the economy in
    April, July and December")? Read from an adverb of habit on the verb it belongs to; False
    without a parse."""
    span = _words(doc.char_span(start_char, end_char, alignment_mode="expand"))
    if span is None or not doc.has_annotation("DEP"):
        return False
    verb = _clause_verb(span.root)
    return verb is not None and any(c.dep_ == "advmod" and c.lower_ in _HABITUAL for c in verb.children)


def clause_depth(doc: Doc, start_char: int, end_char: int) -> int:
    """How many clauses below its sentence's main clause an expression sits: 0 in the main
    clause, 1 in a clause hanging from it ("fell on Wednesday after the company disclosed late
    on Tuesday", "said it was told on April 9"), 2 and more deeper. Conjoined and open
    complement clauses ("and informed on April 14", "expects to record") count at the level of
    the clause they continue. 0 without a parse."""
    span = _words(doc.char_span(start_char, end_char, alignment_mode="expand"))
    if span is None or not doc.has_annotation("DEP"):
        return 0
    head, depth = clause_head(span.root), 0
    for _ in range(50):
        if head.head.i == head.i:
            break
        parent = clause_head(head.head)
        if head.dep_ not in ("conj", "xcomp"):
            depth += 1
        if parent.i == head.i:
            break
        head = parent
    return depth


def attached_timexes(doc: Doc, timexes: Sequence[Timex], near: tuple[int, int]) -> list[tuple[Timex, int]]:
    """The timexes that can date the trigger at `near`, with their tier (lower is better):
    0 = in the trigger's own clause, 1 = in a clause that contains the trigger, 2 = in a
    clause describing the trigger's words ("its R1 model, released on Jan. 20, ..."), 3 = in a
    clause describing the subject of a clause that contains the trigger, 4 = in a participle
    clause going on from the trigger's. A date in any other clause is about something else:
    "opened an antitrust probe over a deal it made when it bought Mellanox in 2020". Without a
    parse every timex counts (tier 1)."""
    trigger = doc.char_span(near[0], near[1], alignment_mode="expand")
    if trigger is None or not doc.has_annotation("DEP"):
        return [(tx, 1) for tx in timexes]
    target = trigger.root.i
    own_clause = clause_head(trigger.root)
    found = []
    for tx in timexes:
        span = doc.char_span(tx.start_char, tx.end_char, alignment_mode="expand")
        if span is None:
            continue
        head = clause_head(span.root)
        if head.i == own_clause.i:
            found.append((tx, 0))
        elif head.left_edge.i <= target <= head.right_edge.i:
            found.append((tx, 1))
        elif head.dep_ in ("acl", "relcl") and trigger.start <= head.head.i < trigger.end:
            found.append((tx, 2))
        elif (head.dep_ in ("acl", "relcl") and head.head.dep_ in ("nsubj", "nsubjpass")
              and head.head.head.left_edge.i <= target <= head.head.head.right_edge.i):
            # A date describing the sentence's subject dates what the sentence says of it:
            # "The results released on February 20 gave the plan a foundation: revenue grew 13%".
            found.append((tx, 3))
        elif head.dep_ == "advcl" and head.head.i == own_clause.i and _subjectless_participle(head):
            # A participle that goes on with the trigger's clause happens with it: "Nvidia fell
            # 17%, wiping out $590 billion on Monday". (The tagger also reads nouns in -ing this
            # way: "raised $4.6 billion in its Hong Kong listing on May 20".)
            found.append((tx, 4))
    return found


def names_a_thing(doc: Doc, tx: Timex) -> bool:
    """Is the date a name in front of a noun ("Trump's Liberation Day tariffs", "the January
    selloff") rather than the time of its clause? Such a date says which tariffs or which selloff;
    a date the clause's verb takes ("struck back on Friday at ... Liberation Day tariffs", see
    `_timed_verb`) says when the sentence's news happened, so it dates the trigger first. A day
    with its number ("the Jan. 20 release") is left alone: it dates the noun's event. So is a
    common noun ("last week chairman Joe Tsai", a misparse). False without a parse."""
    span = _words(doc.char_span(tx.start_char, tx.end_char, alignment_mode="expand"))
    if span is None or not doc.has_annotation("DEP") or any(t.like_num for t in span):
        return False
    root = span[-1]  # the head of an English noun phrase comes last ("the Liberation Day")
    return (root.pos_ == "PROPN" and root.dep_ == "compound" and root.head.pos_ in ("NOUN", "PROPN")
            and not span.start <= root.head.i < span.end)


def _timed_verb(doc: Doc, tx: Timex) -> bool:
    """Does a verb take the date as its time: "struck back on Friday", "fell Monday"?"""
    span = _words(doc.char_span(tx.start_char, tx.end_char, alignment_mode="expand"))
    if span is None:
        return False
    root = span[-1]
    head = root.head.head if root.dep_ == "pobj" and root.head.dep_ == "prep" else root.head
    return root.dep_ in ("pobj", "npadvmod", "tmod") and head.pos_ in ("VERB", "AUX") and head.i != root.i


def _subjectless_participle(verb) -> bool:
    return verb.tag_ == "VBG" and not any(c.dep_ in ("nsubj", "nsubjpass", "mark") for c in verb.children)


def _bisect_right(values: Sequence[int], x: int) -> int:
    lo, hi = 0, len(values)
    while lo < hi:
        mid = (lo + hi) // 2
        if x < values[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@Language.factory(
    "lens_dates",
    default_config={
        "named_days_path": None,
        "max_future_days": DEFAULT_MAX_FUTURE_DAYS,
        "max_inherit_distance": DEFAULT_MAX_INHERIT_DISTANCE,
    },
)
def make_date_resolver(
    nlp: Language, name: str, named_days_path: str | None, max_future_days: int, max_inherit_distance: int
) -> DateResolver:
    return DateResolver(nlp, name, named_days_path, max_future_days, max_inherit_distance)


def sentence_date_for(
    doc: Doc,
    sent_idx: int,
    near: tuple[int, int] | None = None,
    max_future_days: int = DEFAULT_MAX_FUTURE_DAYS,
    max_inherit_distance: int = DEFAULT_MAX_INHERIT_DISTANCE,
    exclude: Callable[[Timex], bool] | None = None,
    sent_paragraph: Sequence[int] | None = None,
    sents: Sequence[Span] | None = None,
) -> SentenceDate | None:
    """Date the event at the character range `near` (e.g. a catalyst trigger) in a sentence of
    an annotated doc: the sentence's dates in the trigger's own clause (the most specific
    clause, then the closest); when all its dates belong to other clauses, the paragraph's or
    the publication date as for an undated sentence. Without `near` or `exclude` (timexes
    that cannot date this kind of event, e.g. reporting periods for earnings):
    `Doc._.sent_dates`. `sent_paragraph` (see `sentence_paragraphs`) and `sents` (the doc's
    sentences) save recomputing them for every mention of a long doc."""
    sent_dates = doc._.sent_dates
    if near is None and exclude is None and sent_dates is not None and sent_idx < len(sent_dates):
        return sent_dates[sent_idx]
    published = to_utc_date(doc._.published_at)
    usable: dict[int, list[Timex]] = {}
    for tx in doc._.timexes or ():
        if usable_for_dating(tx, published, max_future_days) and not (exclude and exclude(tx)):
            usable.setdefault(tx.sent_idx, []).append(tx)
    own = usable.get(sent_idx, [])
    if own and near is not None:
        attached = attached_timexes(doc, own, near)
        if attached:
            best_tier = min(tier for _, tier in attached)
            pool = [tx for tx, tier in attached if tier == best_tier]
            names = [PRECISION_RANK[tx.precision] for tx in pool if names_a_thing(doc, tx)]
            if names:
                # as precise as the name, or the name says more: "clustered around the
                # Liberation Day tariff shock in early April"
                pool = [tx for tx in pool if _timed_verb(doc, tx) and PRECISION_RANK[tx.precision] <= min(names)] or pool
            tx = pick_timex(pool, near)
            if published is None and _unread_date_closer(doc, (sents or sentences(doc))[sent_idx], near, tx):
                return None
            return SentenceDate(tx.start, tx.end, tx.precision, tx.source, tx.stated_year, None, tx)
        usable.pop(sent_idx)  # its dates belong to other clauses: inherit instead
    elif own:
        tx = pick_timex(own, near)
        return SentenceDate(tx.start, tx.end, tx.precision, tx.source, tx.stated_year, None, tx)
    sents = sents or sentences(doc)
    if sent_paragraph is None:
        sent_paragraph = sentence_paragraphs([(s.start_char, s.end_char) for s in sents], paragraph_spans(doc.text))
    return date_sentence(sent_idx, usable, sent_paragraph, published, max_distance=max_inherit_distance,
                         present=in_simple_present(sents[sent_idx]), perfect=in_present_perfect(sents[sent_idx]))
