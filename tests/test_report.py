"""The HTML report, its PNGs and Markdown tables, built from a small run written by the test:
Parquet tables shaped like a run's, and prices from CSVs in tmp_path."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lens.report.build import build_report
from market.prices import load_prices

SCRIPT_TITLE = "<script>alert(1)</script>"
IMG_EVIDENCE = '"><img src=x onerror=alert(1)> DeepSeek released R1, an open reasoning model.'
ATTRIBUTION = "most likely technology.ai_model_release"
MAX_REPORT_BYTES = 10_000_000
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SESSIONS = pd.bdate_range("2024-12-02", "2025-04-30")
MOVE_DAY = pd.Timestamp("2025-01-27")
DOWN_DAY = pd.Timestamp("2025-03-10")


def _write_prices(folder: Path) -> None:
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)
    for ticker, jump in (("CQQQ", 0.06), ("QQQM", -0.03)):
        ret = rng.normal(0.0005, 0.008, len(SESSIONS))
        ret[SESSIONS.get_loc(MOVE_DAY)] += jump
        ret[SESSIONS.get_loc(DOWN_DAY)] -= 0.05
        price = 100 * np.exp(np.cumsum(ret))
        pd.DataFrame({"date": SESSIONS.strftime("%Y-%m-%d"), "open": price, "high": price, "low": price,
                      "close": price, "adj_close": price, "volume": 1000}).to_csv(folder / f"{ticker}.csv", index=False)


def write_small_run(root: Path, with_sentiment: bool = True):
    """A run folder with articles/entities/events/moves/event-study tables, the prices, and the
    event placements `lens run` would hand to build_report. Returns (out, prices, placements)."""
    out = root / "run"
    out.mkdir(parents=True)
    _write_prices(root / "prices")
    prices = load_prices(root / "prices")

    published = pd.to_datetime(["2025-01-27 14:00", "2025-02-03 09:00", "2025-03-10 16:30"], utc=True)
    articles = pd.DataFrame({
        "article_id": ["a1", "a2", "a3"],
        "url": ["https://news.example/deepseek", "https://news.example/tariffs", "file:///corpus/texts/fed.txt"],
        "source": ["Example Wire", "Example Wire", "texts"],
        "title": [SCRIPT_TITLE, "Tariffs raised on imports", '"><img src=x onerror=alert(1)>'],
        "published_at": published,
        "date_source": ["feed", "feed", "text"],
        "text": [IMG_EVIDENCE, "Tariffs were raised.", "Stocks fell."],
    })
    tone = [0.6, -0.4, -0.2, 0.1] if with_sentiment else [np.nan] * 4
    entities = pd.DataFrame({
        "article_id": ["a1", "a1", "a2", "a3"], "sent_idx": [0, 0, 0, 0],
        "text": ["DeepSeek", "Nvidia", "China", "Nvidia"],
        "entity_id": ["deepseek", "nvidia", "china", "nvidia"],
        "name": ["DeepSeek", "Nvidia", "China", "Nvidia"],
        "kind": ["company", "company", "country", "company"],
        "tickers": [[], ["NVDA"], [], ["NVDA"]],
        "sentiment": tone,
    })
    events = pd.DataFrame({
        "event_id": ["e1", "e2", "e3"],
        "catalyst_type": ["technology.ai_model_release", "trade.tariffs", "markets.momentum"],
        "title": [SCRIPT_TITLE, "Tariffs raised on imports", "Background rally"],
        "event_date": [MOVE_DAY.date(), pd.Timestamp("2025-02-03").date(), pd.Timestamp("2000-01-01").date()],
        "first_seen": published,
        "n_mentions": [3, 1, 1], "n_articles": [2, 1, 1], "n_sources": [2, 1, 1],
        "sentiment": [0.5, -0.4, np.nan] if with_sentiment else [np.nan] * 3,
        "entity_ids": [["deepseek", "nvidia"], ["china"], []],
        # e1: the evidence is from a1, not from the alphabetically first article (its link is a1's)
        "article_ids": [["a0", "a1"], ["a2"], ["a3"]], "evidence_article_ids": [["a1"], ["a2"], ["a3"]],
        "evidence": [[IMG_EVIDENCE], ["Tariffs were raised."], ["Stocks rallied in 2000."]],
    })
    moves = pd.DataFrame({
        "ticker": ["CQQQ", "QQQM", "CQQQ"],
        "date": [MOVE_DAY.date(), DOWN_DAY.date(), DOWN_DAY.date()],
        "start_date": [MOVE_DAY.date(), DOWN_DAY.date(), DOWN_DAY.date()],
        "n_sessions": [1, 1, 1], "kind": ["day", "day", "day"],
        "ret": [0.062, -0.051, -0.048], "abnormal_ret": [0.058, -0.049, -0.045], "zscore": [4.1, -3.6, -3.2],
        "benchmark": ["SPY", "SPY", "SPY"],
        "top_event_id": ["e1", None, None],
        "top_catalyst_type": ["technology.ai_model_release", None, None],
        "attribution_score": [0.91, np.nan, np.nan],
        "explanation": [
            f"CQQQ rose 6.2% on 2025-01-27 — {ATTRIBUTION}: {SCRIPT_TITLE}. Evidence: {IMG_EVIDENCE}",
            "QQQM fell 5.1% on 2025-03-10: unexplained — no catalyst in the corpus scores above 0.35.",
            "CQQQ fell 4.8% on 2025-03-10: unexplained — no catalyst in the corpus scores above 0.35.",
        ],
    })
    by_type = pd.DataFrame({
        "catalyst_type": ["technology.ai_model_release", "trade.tariffs"], "n_pairs": [2, 1], "n_events": [1, 1],
        "mean_car_0_1": [0.031, -0.012], "median": [0.031, -0.012], "t_stat": [2.5, np.nan], "p_value": [0.04, np.nan],
    })
    for name, frame in (("articles", articles), ("entities", entities), ("events", events), ("moves", moves),
                        ("event_study_by_type", by_type)):
        frame.to_parquet(out / f"{name}.parquet", index=False)
    placements = pd.DataFrame({
        "event_id": ["e1", "e1", "e2"], "ticker": ["CQQQ", "QQQM", "CQQQ"], "relevance": [1.0, 0.5, 0.5],
        "session": [MOVE_DAY, MOVE_DAY, pd.Timestamp("2025-02-03")],
        "session_idx": [SESSIONS.get_loc(MOVE_DAY)] * 2 + [SESSIONS.get_loc(pd.Timestamp("2025-02-03"))],
        "reported_idx": [SESSIONS.get_loc(MOVE_DAY)] * 2 + [SESSIONS.get_loc(pd.Timestamp("2025-02-03"))],
    })
    return out, prices, placements


META = {"run_name": "small", "models": "spaCy en_core_web_sm 3.8 + finance-minilm", "device": "cpu",
        "run_seconds": 12.3}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out, prices, placements = write_small_run(tmp_path_factory.mktemp("report"))
    result = build_report(out, prices, placements, META)
    return out, result, result.html.read_text(encoding="utf-8")


def test_report_is_written_with_price_timeline_and_sentiment_charts(built):
    out, result, html = built
    assert result.html == out / "report.html"
    assert html.count('class="plotly-graph-div"') == 4  # CQQQ, QQQM, timeline, sentiment index
    assert "Sentiment index by entity" in html
    assert "No sentiment in this run" not in html


def test_header_says_what_was_processed(built):
    _, _, html = built
    header = html[html.index("<header>"):html.index("</header>")]
    for fact in ("<b>3</b> articles", "<b>2025-01-27</b>", "<b>2025-03-10</b>", "finance-minilm", "cpu", "12 s"):
        assert fact in header


def test_article_text_never_appears_as_raw_markup(built):
    _, _, html = built
    assert SCRIPT_TITLE not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html or "&quot;&gt;&lt;img src=x onerror" in html


def test_article_text_is_escaped_in_every_table_cell(built):
    _, _, html = built
    tables = html[html.index('<section id="moves">'):html.index("</main>")]
    # The tables hold no chart JSON, so every tag in them is the template's own.
    tags = set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", tables))
    assert tags <= {"section", "h2", "p", "b", "label", "input", "div", "table", "tr", "th", "td", "a"}
    # plotly.js, one bootstrap per chart and the template's click handler; nothing from articles
    assert html.count("<script") == 2 + html.count('class="plotly-graph-div"')


def test_report_is_self_contained(built):
    _, result, html = built
    assert not re.search(r"""<script[^>]+src\s*=""", html, re.I)
    assert not re.search(r"""<link[^>]+href\s*=\s*["']?(https?:)?//""", html, re.I)
    assert 'src="http' not in html and "src='http" not in html
    assert "@import" not in html
    assert "Plotly" in html  # plotly.js itself is inlined
    assert result.size_bytes == result.html.stat().st_size < MAX_REPORT_BYTES


def test_links_only_to_web_article_urls(built):
    _, _, html = built
    body = html[html.index("</head>"):]  # plotly.js in the head has its own (unused) links
    hrefs = re.findall(r'<a [^>]*href="([^"]+)"', body)
    assert "https://news.example/deepseek" in hrefs
    assert all(h.startswith(("#", "https://", "http://")) for h in hrefs)


def test_pngs_are_written_and_valid(built):
    out, result, _ = built
    names = {p.name for p in result.pngs}
    assert names == {"chart_CQQQ.png", "chart_QQQM.png", "chart_timeline.png"}
    for path in result.pngs:
        assert path.parent == out
        assert path.read_bytes()[:8] == PNG_MAGIC
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.width >= 800 and image.height >= 150


def test_annotated_moves_markdown_has_a_row_per_move(built):
    out, _, _ = built
    lines = (out / "annotated_moves.md").read_text(encoding="utf-8").splitlines()
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| ticker")]
    assert len(rows) == 3
    assert sum("CQQQ" in r for r in rows) == 2 and sum("QQQM" in r for r in rows) == 1
    assert all(r.split(" | ")[2] == "day" for r in rows)  # the span column: no multi-day run here
    assert any(ATTRIBUTION in r for r in rows)


def test_moves_no_article_could_explain_are_counted_apart(tmp_path):
    out, prices, placements = write_small_run(tmp_path)
    moves = pd.read_parquet(out / "moves.parquet")
    moves["in_news_window"] = [True, True, False]
    moves.to_parquet(out / "moves.parquet", index=False)
    html = build_report(out, prices, placements, META).html.read_text(encoding="utf-8")
    header = html[html.index("<header>"):html.index("</header>")]
    assert "<b>3</b> significant moves, <b>2</b> while the news ran, <b>1</b> attributed" in header
    assert "1 of the others fall outside the news the run read (2025-01-27 to 2025-03-10)" in html


def test_moves_table_marks_unexplained_moves_and_keeps_them(built):
    _, _, html = built
    assert html.count('<tr class="unexplained">') == 2
    assert "1 of 3 moves are attributed" in html
    assert 'id="show-unexplained"' in html


def test_events_dated_outside_the_news_period_are_counted_not_lost(built):
    _, _, html = built
    assert "1 event dated outside the news period" in html
    assert "Background rally" in html  # still in the events table


def test_report_without_sentiment_says_so_and_shows_volume(tmp_path):
    out, prices, placements = write_small_run(tmp_path, with_sentiment=False)
    html = build_report(out, prices, placements, {"run_name": "no-tone"}).html.read_text(encoding="utf-8")
    assert "No sentiment in this run" in html
    assert "Article volume per day" in html
    assert "no tone scored in this run" in html  # the timeline is coloured by family instead
    assert "models:" not in html  # unknown facts are left out rather than shown as dashes


def test_report_builds_from_an_empty_run(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    (tmp_path / "prices").mkdir()
    result = build_report(out, load_prices(tmp_path / "prices"), pd.DataFrame(), {})
    html = result.html.read_text(encoding="utf-8")
    assert "no price chart" in html and "No timeline events" in html
    assert result.pngs == []
    assert (out / "annotated_moves.md").exists()
