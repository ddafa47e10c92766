"""Timeline clustering on hand-made catalyst rows (the arithmetic of the timeline, no model)."""

from datetime import date

import pandas as pd

from nlp.events import EVENT_COLUMNS, build_timeline, evidence_article


def mention(aid, ctype, start, *, end=None, precision="day", source="explicit", ents=("usa", "china"),
            conf=0.9, sent=0, flags=(), evidence=None):
    return {
        "article_id": aid, "sent_idx": sent, "catalyst_type": ctype, "direction": -1, "trigger": "t",
        "evidence": evidence or f"{aid} says {ctype}", "event_start": start, "event_end": end or start,
        "date_precision": precision, "date_source": source, "entity_ids": list(ents), "confidence": conf,
        "flags": list(flags),
    }


def articles(*rows):
    return pd.DataFrame(
        [{"article_id": a, "source": s, "title": f"title {a}", "url": f"https://x.example/{a}",
          "published_at": pd.Timestamp(p, tz="UTC"), "duplicate_of": d} for a, s, p, d in rows]
    )


ARTS = articles(
    ("a1", "Wire A", "2025-04-02 22:00", None),
    ("a2", "Wire B", "2025-04-03 08:00", None),
    ("a3", "Wire C", "2025-04-03 09:00", "a2"),  # syndicated copy of a2
    ("a4", "Desk D", "2025-04-20 10:00", None),
    ("a5", "Desk E", "2025-05-12 16:00", None),
)


def test_columns_and_empty_input():
    empty = build_timeline(pd.DataFrame(columns=["article_id"]), ARTS)
    assert tuple(empty.columns) == EVENT_COLUMNS and empty.empty


def test_mentions_within_days_merge_and_syndicated_copies_count_as_one_source():
    cats = pd.DataFrame([
        mention("a1", "trade.tariffs", date(2025, 4, 2)),
        mention("a2", "trade.tariffs", date(2025, 4, 2)),
        mention("a3", "trade.tariffs", date(2025, 4, 3)),
        mention("a5", "trade.tariffs", date(2025, 5, 12)),
    ])
    tl = build_timeline(cats, ARTS)
    assert len(tl) == 2
    first = tl.iloc[0]
    assert first.event_date == date(2025, 4, 2)  # two sources say the 2nd, one copy says the 3rd
    assert (first.n_mentions, first.n_articles, first.n_sources) == (3, 3, 2)
    assert first.first_seen == pd.Timestamp("2025-04-02 22:00", tz="UTC")
    assert tl.iloc[1].event_date == date(2025, 5, 12)


def test_each_evidence_sentence_keeps_the_article_it_came_from():
    # the surest mention is in a5, the alphabetically last article: its sentence leads the evidence
    # and the link beside it must be a5's, not the first article id of the event
    cats = pd.DataFrame([
        mention("a1", "trade.tariffs", date(2025, 5, 12), conf=0.6, evidence="A weaker line."),
        mention("a5", "trade.tariffs", date(2025, 5, 12), conf=0.95, evidence="The clearest line."),
    ])
    event = build_timeline(cats, ARTS).iloc[0]
    assert list(event.article_ids) == ["a1", "a5"]
    assert list(event.evidence) == ["The clearest line.", "A weaker line."]
    assert list(event.evidence_article_ids) == ["a5", "a1"]
    assert evidence_article(event) == "a5"
    assert evidence_article(event.drop("evidence_article_ids")) is None  # stored before it was kept


def test_a_publication_known_only_by_its_date_gives_no_time_of_day():
    # a feed item stamped 2025-09-09 (no time) reads as midnight UTC, 20:00 in New York the
    # evening before: taken as a time, it would count as news after the 8th's close
    arts = articles(("d1", "Wire A", "2025-09-09 00:00", None), ("t1", "Wire B", "2025-09-09 13:30", None),
                    ("t2", "Wire C", "2025-09-10 08:00", None))
    arts["published_precision"] = ["day", "time", "time"]
    headline = dict(start=None, precision=None, source="publication", ents=("baidu",))

    def timed(*ids):
        event = build_timeline(pd.DataFrame([mention(a, "technology.ai_model_release", **headline) for a in ids]), arts)
        assert len(event) == 1 and event.iloc[0].date_basis == "publication"
        return event.iloc[0].event_time

    assert timed("t1") == pd.Timestamp("2025-09-09 13:30", tz="UTC")  # a real time places it
    assert timed("d1", "t1") is None  # the date-only article may have come out earlier that day
    assert timed("d1") is None
    arts.loc[arts.article_id == "d1", "published_at"] = pd.Timestamp("2025-09-10", tz="UTC")
    assert timed("t1", "d1") == pd.Timestamp("2025-09-09 13:30", tz="UTC")  # a day later: no doubt


def test_an_undated_sentence_stays_with_its_own_articles_event_not_a_bigger_one_days_before():
    # Tuesday: two wires on the NDRC briefing. Saturday: one article on the finance minister's
    # briefing, its sentences dated only by its publication; "Fourth, subsidies will increase"
    # names no one, and belongs with its article's minister, not with Tuesday's larger event
    arts = articles(("t1", "Wire A", "2024-10-08 09:00", None), ("t2", "Wire B", "2024-10-08 10:00", None),
                    ("s1", "Letter C", "2024-10-12 11:40", None))
    cats = pd.DataFrame([
        mention("t1", "policy.fiscal_stimulus", date(2024, 10, 8), ents=("china", "ndrc")),
        mention("t2", "policy.fiscal_stimulus", date(2024, 10, 8), ents=("china",)),
        mention("s1", "policy.fiscal_stimulus", date(2024, 10, 12), source="publication", ents=("lan_foan",), sent=3),
        mention("s1", "policy.fiscal_stimulus", date(2024, 10, 12), source="publication", ents=(), sent=7,
                evidence="Fourth, subsidies will increase."),
    ])
    tl = build_timeline(cats, arts)
    assert len(tl) == 2
    tuesday, saturday = tl.iloc[0], tl.iloc[1]
    assert list(tuesday.article_ids) == ["t1", "t2"]
    assert list(saturday.article_ids) == ["s1"] and "Fourth, subsidies will increase." in list(saturday.evidence)


GOVERNMENTS = {"china": "CN", "xi_jinping": "CN", "pboc": "CN", "pan_gongsheng": "CN", "ndrc": "CN",
               "lan_foan": "CN", "federal_reserve": "US"}


def test_one_governments_decision_of_a_day_is_one_event_whichever_of_its_actors_a_report_names():
    # "China's top leaders said on Monday ..." and "the meeting chaired by President Xi Jinping":
    # one Politburo meeting; the same day's Fed, another day's ministry briefing and two
    # companies' results stay apart
    arts = articles(("m1", "Wire A", "2024-12-09 11:30", None), ("m2", "Wire B", "2024-12-09 22:40", None),
                    ("m3", "Wire C", "2024-12-12 09:00", None))
    cats = pd.DataFrame([
        mention("m1", "policy.fiscal_stimulus", date(2024, 12, 9), ents=("china",)),
        mention("m2", "policy.fiscal_stimulus", date(2024, 12, 9), ents=("xi_jinping",)),
        mention("m2", "policy.us_monetary", date(2024, 12, 9), ents=("federal_reserve",), sent=4),
        mention("m1", "policy.us_monetary", date(2024, 12, 9), ents=("pboc",), sent=6),  # mistyped, still not the Fed
        mention("m3", "policy.fiscal_stimulus", date(2024, 12, 10), ents=("lan_foan",)),
        mention("m1", "corporate.earnings", date(2024, 12, 9), ents=("alibaba",), sent=8),
        mention("m2", "corporate.earnings", date(2024, 12, 9), ents=("tencent",), sent=9),
    ])
    tl = build_timeline(cats, arts, governments=GOVERNMENTS)
    fiscal = tl[tl.catalyst_type == "policy.fiscal_stimulus"]
    assert sorted(fiscal.n_mentions) == [1, 2]
    assert set(fiscal[fiscal.n_mentions == 2].iloc[0].entity_ids) == {"china", "xi_jinping"}
    assert len(tl[tl.catalyst_type == "policy.us_monetary"]) == 2
    assert len(tl[tl.catalyst_type == "corporate.earnings"]) == 2
    # without the map, the two reports of the meeting stay apart
    assert len(build_timeline(cats, arts)[lambda t: t.catalyst_type == "policy.fiscal_stimulus"]) == 3


def test_same_type_same_day_different_entities_stay_apart():
    cats = pd.DataFrame([
        mention("a1", "corporate.earnings", date(2025, 4, 2), ents=("alibaba",)),
        mention("a2", "corporate.earnings", date(2025, 4, 2), ents=("nvidia",)),
    ])
    assert len(build_timeline(cats, ARTS)) == 2


def test_one_article_putting_the_same_type_on_the_same_day_tells_one_story_whoever_it_names():
    # "The Fed cut rates by half a point." ... "Powell said the move was no sign of worry."
    cats = pd.DataFrame([
        mention("a1", "policy.us_monetary", date(2025, 4, 2), ents=("federal_reserve",), sent=0),
        mention("a1", "policy.us_monetary", date(2025, 4, 2), ents=("jerome_powell",), sent=3),
        mention("a3", "policy.us_monetary", date(2025, 4, 2), ents=("hkma",), sent=1),  # another article
        mention("a1", "policy.us_monetary", date(2025, 4, 4), ents=("nasdaq",), sent=5),  # another day
    ])
    tl = build_timeline(cats, ARTS)
    assert sorted(tl.n_mentions) == [1, 1, 2]
    merged = tl[tl.n_mentions == 2].iloc[0]
    assert set(merged.entity_ids) == {"federal_reserve", "jerome_powell"} and merged.article_ids == ["a1"]


def test_a_headline_dated_by_its_publication_joins_the_event_its_own_article_dates():
    # Headline "China's debt swap leaves stimulus hopes unmet" (names China, dated by the
    # publication) over "the NPC Standing Committee approved on Friday" (names the NPC): one
    # story. A month-dated recap of the same article naming others may be another story.
    cats = pd.DataFrame([
        mention("a2", "policy.fiscal_stimulus", date(2025, 4, 3), source="publication", ents=("china",), sent=0),
        mention("a2", "policy.fiscal_stimulus", date(2025, 4, 2), source="relative", ents=("npc",), sent=2),
        mention("a1", "policy.fiscal_stimulus", date(2025, 4, 2), ents=("npc", "lan_foan"), sent=4),
        mention("a2", "policy.fiscal_stimulus", date(2025, 4, 1), end=date(2025, 4, 3), precision="month",
                source="relative", ents=("bytedance",), sent=6),
    ])
    tl = build_timeline(cats, ARTS)
    assert sorted(tl.n_mentions) == [1, 3]
    story = tl[tl.n_mentions == 3].iloc[0]
    assert story.event_date == date(2025, 4, 2) and set(story.entity_ids) == {"china", "npc", "lan_foan"}


def test_a_headline_naming_no_one_in_common_joins_the_event_its_article_puts_on_its_own_day():
    # Monday's article: "Hang Seng crashes 13% ..." (names the index, dated by the publication)
    # over "Hong Kong stocks fell 13% on Monday" (its own day) and a recap of Wednesday's tariffs,
    # which two other wires also carry: the headline is Monday's crash, not the bigger event
    arts = articles(("w1", "Wire A", "2025-04-02 21:00", None), ("w2", "Wire B", "2025-04-03 07:00", None),
                    ("m1", "Desk C", "2025-04-07 11:00", None))
    cats = pd.DataFrame([
        mention("w1", "trade.tariffs", date(2025, 4, 2), ents=("united_states", "china")),
        mention("w2", "trade.tariffs", date(2025, 4, 2), ents=("united_states", "china")),
        mention("m1", "trade.tariffs", date(2025, 4, 2), ents=("donald_trump", "china"), sent=5),
        mention("m1", "trade.tariffs", date(2025, 4, 7), source="relative", ents=("hong_kong",), sent=2),
        mention("m1", "trade.tariffs", date(2025, 4, 7), source="publication", ents=("hang_seng",), sent=0),
    ])
    tl = build_timeline(cats, arts)
    monday = tl[tl.event_date == date(2025, 4, 7)].iloc[0]
    assert monday.n_mentions == 2 and set(monday.entity_ids) == {"hong_kong", "hang_seng"}
    assert tl[tl.event_date == date(2025, 4, 2)].iloc[0].n_mentions == 3


def test_a_fragment_joins_the_event_that_names_its_entities_only_after_the_sweep_passed_it():
    # "The PBoC cut rates on Tuesday" ... (another wire) "After Governor Pan's announcement on
    # Tuesday" ... and the first article's undated "Pan said the PBoC ...": Pan's name reaches
    # Tuesday's event only with the last mention, after the second wire's had founded its own.
    cats = pd.DataFrame([
        mention("a1", "policy.monetary_stimulus", date(2025, 4, 2), ents=("pboc",), sent=0),
        mention("a2", "policy.monetary_stimulus", date(2025, 4, 2), ents=("pan_gongsheng",), sent=1),
        mention("a1", "policy.monetary_stimulus", date(2025, 4, 2), source="publication",
                ents=("pboc", "pan_gongsheng"), sent=3),
        mention("a4", "policy.monetary_stimulus", date(2025, 4, 2), ents=("boj",), sent=2),  # another bank
    ])
    tl = build_timeline(cats, ARTS)
    assert sorted(tl.n_mentions) == [1, 3]
    assert sorted(tl[tl.n_mentions == 3].iloc[0].article_ids) == ["a1", "a2"]


def test_month_precision_mention_supports_the_precise_event_inside_its_interval():
    cats = pd.DataFrame([
        mention("a1", "trade.tariffs", date(2025, 4, 2)),
        mention("a4", "trade.tariffs", date(2025, 4, 1), end=date(2025, 4, 30), precision="month", source="relative"),
    ])
    tl = build_timeline(cats, ARTS)
    assert len(tl) == 1 and tl.iloc[0].event_date == date(2025, 4, 2) and tl.iloc[0].n_mentions == 2


def test_without_a_stated_day_the_event_takes_the_most_precise_rough_date():
    # "the London talks in April" (a month) and a report of April 3 that names no day: the
    # report's day bounds the event better than April 1.
    cats = pd.DataFrame([
        mention("a1", "trade.negotiations", date(2025, 4, 1), end=date(2025, 4, 30), precision="month"),
        mention("a2", "trade.negotiations", date(2025, 4, 3), source="publication"),
    ])
    tl = build_timeline(cats, ARTS)
    assert len(tl) == 1 and tl.iloc[0].n_mentions == 2 and tl.iloc[0].event_date == date(2025, 4, 3)


def test_year_conflict_mention_joins_the_consensus_event_instead_of_moving_it():
    cats = pd.DataFrame([
        mention("a1", "technology.ai_model_release", date(2025, 1, 20), ents=("deepseek",)),
        mention("a2", "technology.ai_model_release", date(2025, 1, 20), ents=("deepseek",)),
        mention("a4", "technology.ai_model_release", date(2024, 1, 1), end=date(2024, 3, 31),
                precision="quarter", ents=("deepseek",), flags=("year_conflict",)),
    ])
    tl = build_timeline(cats, ARTS)
    assert len(tl) == 1
    assert tl.iloc[0].event_date == date(2025, 1, 20) and tl.iloc[0].n_mentions == 3


def test_sentiment_is_confidence_weighted_mean_of_mention_sentences_and_evidence_ranked():
    cats = pd.DataFrame([
        mention("a1", "trade.negotiations", date(2025, 5, 12), conf=0.9, evidence="best"),
        mention("a2", "trade.negotiations", date(2025, 5, 12), conf=0.3, evidence="weaker"),
    ])
    scores = pd.DataFrame({"article_id": ["a1", "a2"], "sent_idx": [0, 0], "score": [0.8, -0.4]})
    ev = build_timeline(cats, ARTS, scores).iloc[0]
    assert abs(ev.sentiment - (0.8 * 0.9 - 0.4 * 0.3) / 1.2) < 1e-9
    assert list(ev.evidence) == ["best", "weaker"]


def test_publication_dated_mention_without_precise_event_forms_its_own():
    cats = pd.DataFrame([mention("a4", "markets.fund_flows", date(2025, 4, 20), source="publication")])
    tl = build_timeline(cats, ARTS)
    assert len(tl) == 1 and tl.iloc[0].event_date == date(2025, 4, 20)


def test_two_days_the_texts_name_two_days_apart_are_two_events():
    # A crash on Monday April 7 and a pause on Wednesday April 9: same type and entities, each
    # dated to its day by the texts; chaining on the running date used to make them one event.
    cats = pd.DataFrame([
        mention("a1", "trade.tariffs", date(2025, 4, 7)),
        mention("a2", "trade.tariffs", date(2025, 4, 7), sent=1),
        mention("a4", "trade.tariffs", date(2025, 4, 9)),
        mention("a5", "trade.tariffs", date(2025, 4, 9), sent=1),
    ])
    tl = build_timeline(cats, ARTS)
    assert list(tl.event_date) == [date(2025, 4, 7), date(2025, 4, 9)]
    assert list(tl.n_mentions) == [2, 2]


def test_reports_a_day_apart_or_a_week_against_a_day_are_still_one_event():
    one_day = pd.DataFrame([
        mention("a1", "trade.tariffs", date(2025, 4, 2)),
        mention("a2", "trade.tariffs", date(2025, 4, 3)),  # the same news read in Asia's morning
    ])
    assert len(build_timeline(one_day, ARTS)) == 1
    weekend = pd.DataFrame([
        mention("a1", "trade.negotiations", date(2025, 5, 10), end=date(2025, 5, 11), precision="week", source="relative"),
        mention("a5", "trade.negotiations", date(2025, 5, 12)),  # the statement on Monday
    ])
    tl = build_timeline(weekend, ARTS)
    assert len(tl) == 1 and tl.iloc[0].event_date == date(2025, 5, 12)



def test_a_part_of_a_month_is_evidence_for_the_day_inside_it_not_an_event_of_its_own():
    # "At the end of August, results for the June quarter ..." (Aug. 21-31) beside the report
    # that gives the day, Aug. 29; a week ("last week", seven days) still founds its own
    arts = articles(("r1", "Wire A", "2025-08-29 22:00", None), ("r2", "Desk B", "2025-09-20 09:00", None),
                    ("r3", "Desk C", "2025-09-25 09:00", None))
    cats = pd.DataFrame([
        mention("r1", "corporate.earnings", date(2025, 8, 29), ents=("alibaba",)),
        mention("r2", "corporate.earnings", date(2025, 8, 21), end=date(2025, 8, 31), precision="week",
                source="relative", ents=("alibaba",)),
    ])
    tl = build_timeline(cats, arts)
    assert len(tl) == 1 and tl.iloc[0].event_date == date(2025, 8, 29) and tl.iloc[0].n_mentions == 2
    week = pd.DataFrame([
        mention("r1", "corporate.earnings", date(2025, 8, 29), ents=("alibaba",)),
        mention("r3", "corporate.earnings", date(2025, 9, 15), end=date(2025, 9, 21), precision="week",
                source="relative", ents=("alibaba",)),
    ])
    assert len(build_timeline(week, arts)) == 2


def test_an_event_says_how_precisely_its_texts_date_it():
    from nlp.events import date_label

    cats = pd.DataFrame([
        # "in April": the month, dated at its first day
        mention("a4", "trade.tariffs", date(2025, 4, 1), end=date(2025, 4, 30), precision="month", source="relative",
                ents=("nvidia",)),
        # "last week": a week
        mention("a5", "policy.us_monetary", date(2025, 5, 5), end=date(2025, 5, 11), precision="week",
                source="relative", ents=("fed",)),
        # a day, and a month-level mention of the same event on that day: the day is what the texts say
        mention("a1", "policy.fiscal_stimulus", date(2025, 4, 2), ents=("china",)),
        mention("a2", "policy.fiscal_stimulus", date(2025, 4, 2), end=date(2025, 4, 30), precision="month",
                source="relative", ents=("china",)),
        # no date in the text: the article's publication day
        mention("a5", "markets.fund_flows", None, precision=None, source="publication", ents=("kweb",)),
    ])
    tl = build_timeline(cats, ARTS).set_index("catalyst_type")
    assert tl.date_precision.to_dict() == {
        "trade.tariffs": "month", "policy.us_monetary": "week", "policy.fiscal_stimulus": "day",
        "markets.fund_flows": "day",
    }
    assert date_label(tl.loc["trade.tariffs", "event_date"], "month") == "2025-04-01 (month)"
    assert date_label(date(2025, 4, 2), "day") == date_label(date(2025, 4, 2), None) == "2025-04-02"
    assert date_label(None, "month") == ""
