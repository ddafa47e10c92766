"""Market arithmetic on constructed price series where the right answer is known."""

from datetime import UTC, date, datetime

import exchange_calendars as xcals
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from market.annotate import annotate_market
from market.attribution import AttributionConfig
from market.eventstudy import event_study_one, fit_market_model
from market.moves import MoveConfig, abnormal_returns
from market.prices import load_prices, read_price_file
from market.timing import calendar_for
from nlp.kb import load_kb

SESSIONS = xcals.get_calendar("XNYS", start="2024-01-02", end="2025-06-30").sessions.tz_localize(None)


def write_prices(folder, ticker, log_returns, dates=SESSIONS):
    price = 100 * np.exp(np.concatenate([[0.0], np.cumsum(log_returns)]))
    frame = pd.DataFrame({"date": dates[: len(price)].strftime("%Y-%m-%d"), "open": price, "high": price,
                          "low": price, "close": price, "adj_close": price, "volume": 1000})
    frame.to_csv(folder / f"{ticker}.csv", index=False)
    return pd.Series(price, index=dates[: len(price)])


N_RETURNS = len(SESSIONS) - 1


def market(seed=0, n=N_RETURNS):
    rng = np.random.default_rng(seed)
    bench = rng.normal(0.0003, 0.01, n)
    stock = 0.0001 + 1.2 * bench + rng.normal(0, 0.008, n)
    return bench, stock


def event(event_id, day, entities, ctype="trade.negotiations", direction=1.0, sentiment=0.5,
          basis="text", when=None, n_articles=5):
    return {"event_id": event_id, "catalyst_type": ctype, "title": f"event {event_id}", "event_date": day,
            "first_seen": None, "n_mentions": n_articles, "n_articles": n_articles, "n_sources": 3,
            "sentiment": sentiment, "entity_ids": entities, "article_ids": [f"a-{event_id}"],
            "evidence": [f"evidence of {event_id}"], "direction": direction, "date_basis": basis,
            "event_time": when}


@pytest.fixture
def kb():
    return load_kb()


def test_abnormal_returns_match_statsmodels_ols_on_the_estimation_window():
    bench, stock = market(1)
    idx = SESSIONS[1 : len(bench) + 1]
    cfg = MoveConfig()
    frame = abnormal_returns(pd.Series(stock, idx), pd.Series(bench, idx), cfg)
    t = 300
    window = slice(t - cfg.gap - cfg.est_window, t - cfg.gap)  # the 120 sessions ending 11 before t
    fit = sm.OLS(stock[window], sm.add_constant(bench[window])).fit()
    assert frame["alpha"].iloc[t] == pytest.approx(fit.params[0], rel=1e-9, abs=1e-12)
    assert frame["beta"].iloc[t] == pytest.approx(fit.params[1], rel=1e-9)
    assert frame["sigma"].iloc[t] == pytest.approx(np.sqrt(fit.mse_resid), rel=1e-9)
    expected_ar = stock[t] - fit.params[0] - fit.params[1] * bench[t]
    assert frame["ar"].iloc[t] == pytest.approx(expected_ar, rel=1e-9)


def test_event_study_model_matches_statsmodels():
    bench, stock = market(2)
    model = fit_market_model(stock[:120], bench[:120])
    fit = sm.OLS(stock[:120], sm.add_constant(bench[:120])).fit()
    assert (model.alpha, model.beta) == pytest.approx(tuple(fit.params), rel=1e-9)
    assert model.sigma == pytest.approx(np.sqrt(fit.mse_resid), rel=1e-9)


def test_jump_the_day_after_a_catalyst_is_flagged_and_attributed(tmp_path, kb):
    bench, stock = market(3)
    jump_day = 250  # return index: the move happens on SESSIONS[jump_day + 1]
    stock[jump_day] += np.log(1.10)
    write_prices(tmp_path, "QQQM", bench)
    write_prices(tmp_path, "KWEB", stock)
    move_day = SESSIONS[jump_day + 1].date()
    catalyst_day = SESSIONS[jump_day].date()  # the day before the move
    events = pd.DataFrame([
        event("truce", catalyst_day, ["kweb"]),
        event("faraway", SESSIONS[150].date(), ["kweb"]),
    ])
    result = annotate_market(load_prices(tmp_path), events, kb, pairs=())
    kweb = result.moves[(result.moves.ticker == "KWEB") & (result.moves.kind == "day")]
    hit = kweb[kweb.date == move_day].iloc[0]
    assert hit.ret == pytest.approx(0.10, abs=0.04) and hit.zscore > 2.5
    assert hit.top_event_id == "truce" and "truce" in hit.explanation
    assert [c["event_id"] for c in hit.candidates] == ["truce"]  # the far event is out of the window


def test_a_report_published_after_the_close_says_so_where_it_explains_that_day(tmp_path, kb):
    bench, stock = market(3)
    jump_day = 250
    stock[jump_day] += np.log(1.10)
    write_prices(tmp_path, "QQQM", bench)
    write_prices(tmp_path, "KWEB", stock)
    move_day = SESSIONS[jump_day + 1]
    # published at 20:00 New York on the move's day: 00:00 UTC the next calendar day
    after = (pd.Timestamp(move_day.date()) + pd.Timedelta(hours=24)).tz_localize("UTC")
    events = pd.DataFrame([event("report", after.date(), ["kweb"], basis="publication", when=after)])
    result = annotate_market(load_prices(tmp_path), events, kb, pairs=())
    hit = result.moves[(result.moves.ticker == "KWEB") & (result.moves.date == move_day.date())
                       & (result.moves.kind == "day")].iloc[0]
    assert hit.top_event_id == "report"
    assert f"(published {after.date()} UTC, after the {move_day.date()} close; 5 articles" in hit.explanation


def test_move_without_news_stays_unexplained(tmp_path, kb):
    bench, stock = market(4)
    stock[260] -= np.log(1.12)
    write_prices(tmp_path, "QQQM", bench)
    write_prices(tmp_path, "KWEB", stock)
    events = pd.DataFrame([event("old", SESSIONS[100].date(), ["kweb"])])
    result = annotate_market(load_prices(tmp_path), events, kb, pairs=())
    move = result.moves[(result.moves.ticker == "KWEB") & (result.moves.date == SESSIONS[261].date())].iloc[0]
    assert pd.isna(move.top_event_id) and "unexplained" in move.explanation


def test_a_move_no_article_could_be_about_is_outside_the_news_not_unexplained(tmp_path, kb):
    bench, stock = market(4)
    stock[260] -= np.log(1.12)
    stock[150] -= np.log(1.12)
    write_prices(tmp_path, "QQQM", bench)
    write_prices(tmp_path, "KWEB", stock)
    events = pd.DataFrame([event("old", SESSIONS[100].date(), ["kweb"])])
    span = (SESSIONS[95].date(), SESSIONS[152].date())  # the articles ran until the move's session
    result = annotate_market(load_prices(tmp_path), events, kb, pairs=(), news_span=span)
    moves = result.moves[result.moves.ticker == "KWEB"].set_index("date")
    late, inside = moves.loc[SESSIONS[261].date()], moves.loc[SESSIONS[151].date()]
    assert not late.in_news_window and "outside the news this run read" in late.explanation
    assert inside.in_news_window and "unexplained" in inside.explanation


def test_weak_unrelated_sign_event_does_not_win_over_threshold(tmp_path, kb):
    bench, stock = market(5)
    stock[270] += np.log(1.10)
    write_prices(tmp_path, "QQQM", bench)
    write_prices(tmp_path, "KWEB", stock)
    # three sessions earlier, a negative-toned event: far and of the wrong sign
    events = pd.DataFrame([event("bad", SESSIONS[268].date(), ["kweb"], direction=-1.0, sentiment=-0.8)])
    result = annotate_market(load_prices(tmp_path), events, kb, pairs=(),
                             attribution_config=AttributionConfig(threshold=0.5))
    move = result.moves[(result.moves.ticker == "KWEB") & (result.moves.date == SESSIONS[271].date())].iloc[0]
    assert pd.isna(move.top_event_id) and move.attribution_score < 0.5


def test_saturday_event_counts_for_monday():
    cal = calendar_for("KWEB", pd.DatetimeIndex(SESSIONS), "XNYS")
    assert cal.place(date(2025, 5, 10), precise=False) == pd.Timestamp("2025-05-12")  # Sat → Mon
    assert cal.place(date(2025, 5, 12), precise=False) == pd.Timestamp("2025-05-12")


def test_us_article_after_close_counts_for_next_session_and_hong_kong_gets_its_own_day():
    us = calendar_for("KWEB", pd.DatetimeIndex(SESSIONS), "XNYS")
    hk_dates = pd.DatetimeIndex(xcals.get_calendar("XHKG", start="2025-01-02", end="2025-06-30").sessions.tz_localize(None))
    hk = calendar_for("9988.HK", hk_dates, "XHKG")
    during_us = datetime(2025, 5, 12, 18, 0, tzinfo=UTC)  # 14:00 New York, 02:00 next day in Hong Kong
    after_us_close = datetime(2025, 5, 12, 21, 30, tzinfo=UTC)  # 17:30 New York
    assert us.place(during_us, precise=True) == pd.Timestamp("2025-05-12")
    assert hk.place(during_us, precise=True) == pd.Timestamp("2025-05-13")
    assert us.place(after_us_close, precise=True) == pd.Timestamp("2025-05-13")
    morning_hk = datetime(2025, 4, 7, 1, 0, tzinfo=UTC)  # 09:00 Hong Kong, Sunday night in New York
    assert hk.place(morning_hk, precise=True) == pd.Timestamp("2025-04-07")
    assert us.place(morning_hk, precise=True) == pd.Timestamp("2025-04-07")


def test_a_day_the_texts_name_is_the_acting_states_day():
    from market.timing import country_timezone
    from nlp.kb import load_kb

    us = calendar_for("KWEB", pd.DatetimeIndex(SESSIONS), "XNYS")
    hk_dates = pd.DatetimeIndex(xcals.get_calendar("XHKG", start="2025-01-02", end="2025-06-30").sessions.tz_localize(None))
    hk = calendar_for("9988.HK", hk_dates, "XHKG")
    kb = load_kb()
    washington = country_timezone(kb.acting_country(["donald_trump", "china", "united_states"]))
    beijing = country_timezone(kb.acting_country(["state_council", "united_states"]))
    assert (washington, beijing) == ("America/New_York", "Asia/Shanghai")
    wednesday = date(2025, 4, 9)  # Washington's pause came after Hong Kong's close
    assert hk.place_day_of(wednesday, washington) == pd.Timestamp("2025-04-10")
    assert us.place_day_of(wednesday, washington) == pd.Timestamp("2025-04-09")
    friday = date(2025, 4, 4)  # Beijing's retaliation: Hong Kong shut for Ching Ming, New York open
    assert hk.place_day_of(friday, beijing) == pd.Timestamp("2025-04-07")
    assert us.place_day_of(friday, beijing) == pd.Timestamp("2025-04-04")
    assert hk.place_day_of(wednesday, None) == pd.Timestamp("2025-04-09")  # no acting state: the day rule
    # the actors decide, not the countries a story names; two states acting leave it open
    assert kb.acting_country(["china", "united_states"]) is None
    assert kb.acting_country(["donald_trump", "he_lifeng"]) is None
    assert kb.acting_country(["china"]) == "CN" and kb.acting_country(["alibaba", "jack_ma"]) is None


def test_twenty_day_gap_is_reported_and_event_study_uses_available_sessions(tmp_path):
    bench, stock = market(6)
    dates = SESSIONS.delete(range(200, 220))  # 20 sessions missing
    write_prices(tmp_path, "KWEB", stock[: len(dates) - 1], dates)
    frame, problems = read_price_file(tmp_path / "KWEB.csv")
    assert any("gap" in p.reason for p in problems)
    prices = load_prices(tmp_path)
    row, reason = event_study_one(prices.returns("KWEB"), None, prices.frames["KWEB"].index[205], MoveConfig())
    assert reason is None and row["n_est"] >= MoveConfig().min_est


def test_event_too_early_in_history_is_reported_not_dropped(tmp_path):
    bench, stock = market(7)
    write_prices(tmp_path, "KWEB", stock)
    prices = load_prices(tmp_path)
    row, reason = event_study_one(prices.returns("KWEB"), None, prices.frames["KWEB"].index[20], MoveConfig())
    assert row is None and "history" in reason


def test_car_is_the_sum_of_abnormal_returns_with_t_from_estimation_variance(tmp_path):
    bench, stock = market(8)
    t0 = 300
    stock[t0 - 1] += 0.05  # return index t0-1 lands on price date t0
    idx = SESSIONS[1 : len(stock) + 1]
    row, _ = event_study_one(pd.Series(stock, idx), pd.Series(bench, idx), idx[t0 - 1], MoveConfig())
    ar = row["ar_path"]
    assert row["car_0_1"] == pytest.approx(ar[0] + ar[1])
    assert row["car_m1_1"] == pytest.approx(ar[-1] + ar[0] + ar[1])
    assert row["t_stat"] == pytest.approx(row["car_0_1"] / (row["sigma"] * np.sqrt(2)))
    assert row["car_0_1"] > 0.04 and row["p_value"] < 0.01


@pytest.mark.parametrize(
    "content, reason",
    [
        ("date,close\n2025-01-02,10\n2025-01-03,-1\n2025-01-06,11\n", "zero or negative"),
        ("date,close\n2025-01-02,10\n2025-01-02,10.5\n2025-01-03,11\n", "duplicated dates"),
        ("date,close\n2025-01-03,10\n2025-01-02,10.5\n2025-01-06,11\n", "ascending"),
        ("date,close\n2025-01-02,10\n2025-01-03,31\n2025-01-06,31.2\n", "split-like"),
    ],
)
def test_bad_price_rows_are_explained_per_file(tmp_path, content, reason):
    (tmp_path / "X.csv").write_text(content)
    frame, problems = read_price_file(tmp_path / "X.csv")
    assert frame is not None and any(reason in p.reason for p in problems)
    assert all(str(tmp_path / "X.csv") in p.line() for p in problems)


def test_unusable_price_files_are_skipped_with_reason_others_kept(tmp_path):
    (tmp_path / "GOOD.csv").write_text("Date,Adj Close\n2025-01-02,10\n2025-01-03,10.2\n")
    (tmp_path / "NOCLOSE.csv").write_text("date,volume\n2025-01-02,1\n")
    (tmp_path / "EMPTY.csv").write_text("")
    prices = load_prices(tmp_path)
    assert prices.tickers == ["GOOD"]
    assert set(prices.skipped()) == {"NOCLOSE", "EMPTY"}


def test_event_sign_prefers_a_clear_tone_over_the_keyword_cue():
    from market.attribution import event_sign

    assert event_sign(direction=1.0, sentiment=-0.7) == -1  # "stimulus" that disappointed
    assert event_sign(direction=-1.0, sentiment=0.1) == -1  # mild tone: the cue decides
    assert event_sign(direction=0.0, sentiment=0.0) == 0
    assert event_sign(direction=None, sentiment=None) == 0


def test_the_explanation_counts_in_words_that_agree_with_the_number():
    from market.attribution import explain

    move = {"ticker": "KWEB", "ret": 0.081, "abnormal_ret": 0.07, "zscore": 3.2, "date": date(2025, 5, 12),
            "n_sessions": 1}
    best = {"score": 0.8, "catalyst_type": "trade.negotiations", "title": "Geneva truce", "event_date": date(2025, 5, 12),
            "n_articles": 1, "n_sources": 1, "sentiment": 0.4, "relevance": "holding", "evidence_text": "They agreed."}
    assert "(2025-05-12; 1 article, 1 source, positive; holding link)" in explain(move, best, 0.35)
    several = explain(move, best | {"n_articles": 5, "n_sources": 2}, 0.35)
    assert "5 articles, 2 sources" in several
    # a winner whose tone points the other way (agreement 0) is marked as the weak match it is
    assert "against the move" not in explain(move, best | {"agreement": 1.0}, 0.35)
    assert "holding link; its tone is against the move)" in explain(move, best | {"agreement": 0.0}, 0.35)
    # an event its texts date only to a month is not presented as dated to the day
    rough = explain(move, best | {"event_date": date(2025, 5, 1), "date_precision": "month"}, 0.35)
    assert "(2025-05-01, dated to the month; 1 article" in rough
    assert "(2025-05-12; 1 article" in explain(move, best | {"date_precision": "day"}, 0.35)


def test_a_move_whose_abnormal_return_has_the_other_sign_says_so():
    from market.attribution import explain

    # a stock with beta 3 fell 7.4% on a day its benchmark fell enough to imply -14.8%: attribution
    # looks for a cause of the +7.4% abnormal move, and the sentence must not read "fell ... positive"
    move = {"ticker": "NVDA", "ret": -0.074, "abnormal_ret": 0.074, "zscore": 2.8, "date": date(2025, 4, 4),
            "n_sessions": 1, "benchmark": "SPY"}
    text = explain(move, None, 0.35)
    assert text.startswith("NVDA fell 7.4% on 2025-04-04 but rose against SPY (abnormal +7.4%, z +2.8)")
    same_sign = explain(move | {"ret": 0.02}, None, 0.35)
    assert same_sign.startswith("NVDA rose 2.0% on 2025-04-04 (abnormal +7.4% against SPY, z +2.8)")
    assert "but" not in same_sign
    # a market factor (or a ticker whose benchmark has no prices) is measured against itself: say
    # so, or QQQM's "abnormal" crash reads as if measured like QQQ's, against SPY
    factor = explain(move | {"ticker": "QQQM", "ret": 0.08, "benchmark": None}, None, 0.35)
    assert factor.startswith("QQQM rose 8.0% on 2025-04-04 (abnormal +7.4% against its own history, z +2.8)")


def test_why_a_move_is_unexplained_is_said():
    from market.attribution import explain

    move = {"ticker": "KWEB", "ret": -0.06, "abnormal_ret": -0.05, "zscore": -3.1, "date": date(2026, 3, 2),
            "n_sessions": 1, "in_news_window": False, "news_from": "2024-09-01", "news_to": "2025-09-30"}
    assert "outside the news this run read (its articles run from 2024-09-01 to 2025-09-30)" in explain(move, None, 0.35)
    inside = move | {"in_news_window": True}
    assert "no catalyst of the corpus is placed near it" in explain(inside, None, 0.35)
    # a best candidate under the bar is named with its unrounded score: "0.35" in a table beside
    # "no catalyst scores above 0.35" read as a contradiction
    weak = {"score": 0.3496, "catalyst_type": "trade.tariffs", "event_date": date(2026, 2, 27)}
    text = explain(inside, weak, 0.35)
    assert "the best candidate, trade.tariffs (2026-02-27), scores 0.349, under the 0.35" in text


def test_the_tone_word_is_the_sign_the_score_used():
    from market.attribution import explain

    # a rate cut read mildly negative (-0.22, under event_sign's 0.25) with an easing cue: the score
    # counted it as positive, so the sentence must not call it negative beside a rise
    move = {"ticker": "BIDU", "ret": 0.113, "abnormal_ret": 0.10, "zscore": 3.5, "date": date(2025, 9, 17),
            "n_sessions": 1}
    best = {"score": 0.6, "catalyst_type": "policy.rate_cut", "title": "Fed cuts", "event_date": date(2025, 9, 17),
            "n_articles": 2, "n_sources": 2, "sentiment": -0.22, "direction": 1.0, "relevance": "country",
            "agreement": 1.0, "evidence_text": "The Fed cut rates."}
    assert "2 sources, positive; country link)" in explain(move, best, 0.35)
    assert "2 sources, unclear tone;" in explain(move, best | {"direction": 0.0}, 0.35)
    assert "2 sources, negative;" in explain(move, best | {"sentiment": -0.6, "agreement": 0.0}, 0.35)


def test_coverage_of_the_move_itself_does_not_dilute_the_coverage_of_its_cause():
    from market.attribution import score_candidates

    move = {"abnormal_ret": 0.08, "start_idx": 10, "end_idx": 10}
    stimulus = {"event_id": "a", "catalyst_type": "policy.monetary_stimulus", "session_idx": 9, "relevance": "country",
                "n_articles": 3, "n_sources": 3, "direction": 1.0, "sentiment": 0.5}
    # "best day since 2008": the move reported by more articles than its cause
    record = {"event_id": "b", "catalyst_type": "markets.momentum", "session_idx": 10, "relevance": "country",
              "n_articles": 8, "n_sources": 6, "direction": 1.0, "sentiment": 0.5}
    alone = score_candidates(move, [stimulus], AttributionConfig())[0]
    beside = {c["event_id"]: c for c in score_candidates(move, [stimulus, record], AttributionConfig())}
    assert beside["a"]["intensity"] == alone["intensity"] == 1.0
    assert beside["b"]["intensity"] == 1.0  # capped
    # another cause with more coverage still sets the scale
    louder = stimulus | {"event_id": "c", "catalyst_type": "policy.fiscal_stimulus", "n_articles": 8, "n_sources": 6}
    assert {c["event_id"]: c for c in score_candidates(move, [stimulus, louder], AttributionConfig())}["a"]["intensity"] < 1.0


def test_saturated_scores_go_to_the_event_said_more_about_not_to_the_id():
    from market.attribution import score_candidates

    move = {"abnormal_ret": 0.13, "start_idx": 10, "end_idx": 10}
    base = {"session_idx": 10, "relevance": "direct", "n_articles": 2, "n_sources": 2, "direction": 1.0, "sentiment": 0.6}
    # the same two articles: results (five sentences) and the AI revenue inside them (four)
    candidates = [
        base | {"event_id": "0aaa", "catalyst_type": "technology.ai_adoption", "n_mentions": 4},
        base | {"event_id": "ffff", "catalyst_type": "corporate.earnings", "n_mentions": 5},
    ]
    ranked = score_candidates(move, candidates, AttributionConfig())
    assert ranked[0]["score"] == ranked[1]["score"]
    assert [c["catalyst_type"] for c in ranked] == ["corporate.earnings", "technology.ai_adoption"]


def test_a_chief_executive_touches_his_company_and_an_official_his_country():
    from market.exposure import exposures
    from nlp.kb import load_kb

    kb = load_kb()
    priced = {"BIDU", "BABA", "KWEB", "SPY"}
    # Robin Li's launch is Baidu's news (and its holders'), not every Chinese ticker's
    robin_li = exposures(["robin_li"], kb, priced)
    assert robin_li.get("BIDU") == "direct" and "BABA" not in robin_li
    assert robin_li.get("KWEB") == exposures(["baidu"], kb, priced).get("KWEB")
    # the governor of the PBoC speaks for China: every Chinese instrument, no US one
    governor = exposures(["pan_gongsheng"], kb, priced)
    assert governor.get("BABA") == "country" and governor.get("BIDU") == "country" and "SPY" not in governor


def test_by_type_counts_each_event_once():
    from scipy import stats

    from market.eventstudy import by_catalyst_type

    # one event on five tickers that moved together and two events on one ticker each: the test
    # is across the three events (their means 0.05, 0.01, -0.02), not across seven pairs
    study = pd.DataFrame({
        "event_id": ["a"] * 5 + ["b", "c"],
        "catalyst_type": ["markets.fund_flows"] * 7,
        "car_0_1": [0.049, 0.050, 0.051, 0.050, 0.050, 0.01, -0.02],
    })
    row = by_catalyst_type(study).iloc[0]
    assert (row.n_events, row.n_pairs) == (3, 7)
    assert row.mean_car_0_1 == pytest.approx((0.05 + 0.01 - 0.02) / 3)
    expected = stats.ttest_1samp([0.05, 0.01, -0.02], 0.0)
    assert row.t_stat == pytest.approx(expected.statistic) and row.p_value == pytest.approx(expected.pvalue)
    assert row.p_value > 0.3  # over the seven pairs it would read as significant
    assert stats.ttest_1samp(study.car_0_1, 0.0).pvalue < 0.05
    lone = by_catalyst_type(study.assign(event_id="a")).iloc[0]
    assert lone.n_events == 1 and pd.isna(lone.p_value)


def test_attribution_scoring_takes_the_accepted_types_and_reports_them():
    from market.evaluate import GoldMove, evaluate_attribution

    day = date(2024, 12, 9)
    gold = [GoldMove("CQQQ", day, "policy.monetary_stimulus", frozenset({"policy.fiscal_stimulus"}), ""),
            GoldMove("KWEB", day, "policy.monetary_stimulus", frozenset(), "")]
    told = {"top_catalyst_type": "policy.fiscal_stimulus", "explanation": "x",
            "candidates": [{"catalyst_type": "policy.fiscal_stimulus"}, {"catalyst_type": "policy.monetary_stimulus"}]}
    moves = pd.DataFrame({"ticker": ["CQQQ", "KWEB"], "start_date": [day, day], "date": [day, day]})
    articles = pd.DataFrame({"article_id": ["a"], "published_at": [pd.Timestamp("2024-12-09", tz="UTC")]})
    catalysts = pd.DataFrame({"article_id": ["a"], "catalyst_type": ["policy.fiscal_stimulus"]})
    scores = evaluate_attribution(gold, lambda ticker, d: told, moves, catalysts, articles)
    assert (scores.top1, scores.top3, scores.naive) == (1, 2, 1)  # the accepted type counts for CQQQ only
    assert [r["accept"] for r in scores.rows] == [["policy.fiscal_stimulus"], []]
