"""`lens ingest` end to end on local files and a loopback HTTP server."""

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

from ingest.article import ARTICLE_COLUMNS
from lens.cli import app

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

STORY = (
    "Beijing unveiled its broadest stimulus since the pandemic on Tuesday, as the central bank cut the "
    "reserve requirement ratio and lowered the rate on its seven-day reverse repurchase agreements. "
    "The package also trims interest on existing mortgages and creates a swap facility that lets brokers, "
    "funds and insurers borrow to buy shares. Hong Kong stocks jumped on the news, and US-listed China "
    "exchange-traded funds such as KWEB and FXI rallied in New York trading later in the day."
)
MORE = (
    "Strategists said the measures were larger than expected but warned that the property market still "
    "needed fiscal help, and that the rally would fade without new spending from the finance ministry. "
    "Mainland brokerages led the gains while bond yields climbed to their highest level in a month."
)


def ingest(*args):
    result = runner.invoke(app, ["ingest", *map(str, args)])
    return result


def table(out):
    return pd.read_parquet(out / "articles.parquet")


def test_articles_table_has_design_columns_and_store_matches(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.md").write_text(f"# Stimulus\ndate 2024-09-24\n\n{STORY}\n")
    res = ingest(tmp_path / "in", "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    frame = table(tmp_path / "out")
    assert tuple(frame.columns) == ARTICLE_COLUMNS
    assert str(frame.published_at.dtype).startswith("datetime64") and frame.published_at.dt.tz is not None
    con = duckdb.connect(str(tmp_path / "out" / "lens.duckdb"), read_only=True)
    assert con.execute("select count(*) from articles").fetchall()[0][0] == 1


def test_reingesting_adds_nothing(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.txt").write_text(f"Story {i}\ndate 2025-01-2{i}\n{STORY} Item {i}.\n")
    out = tmp_path / "out"
    assert ingest(src, "--out", out).exit_code == 0
    second = ingest(src, "--out", out)
    assert "stored 0 new" in second.output
    # every item read is accounted for: 3 read, 0 new, and the 3 said to be known already
    assert "read 3 items" in second.output and "3 already known by their id" in second.output
    assert len(table(out)) == 3


def test_near_duplicate_is_stored_with_duplicate_of_and_exact_copy_skipped(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.md").write_text(f"# Beijing unveils stimulus\ndate 2024-09-24\n\n{STORY}\n\n{MORE}\n")
    (src / "b.md").write_text(f"# Beijing unveils big stimulus\ndate 2024-09-24\n\n{STORY}\n\n{MORE} Analysts welcomed it.\n")
    # the same story under another address (a syndicated copy)
    (src / "c.jsonl").write_text(json.dumps({"title": "Beijing unveils stimulus", "url": "https://wire.example/stimulus",
                                             "published_at": "2024-09-24", "text": f"{STORY}\n\n{MORE}"}) + "\n")
    (src / "d.md").write_text("# Fed cuts\ndate 2024-09-18\n\nThe Federal Reserve cut rates by half a point.\n")
    res = ingest(src, "--out", tmp_path / "out")
    assert "1 near-duplicates flagged, 1 exact copies skipped" in res.output
    frame = table(tmp_path / "out").set_index("title")
    assert len(frame) == 3
    original = frame.loc["Beijing unveils stimulus", "article_id"]
    assert frame.loc["Beijing unveils big stimulus", "duplicate_of"] == original
    assert pd.isna(frame.loc["Fed cuts", "duplicate_of"])


def test_bad_sources_get_one_line_each_and_good_items_are_kept(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text(f"Good story\ndate 2025-05-12\n{STORY}\n")
    (src / "empty.txt").write_text("")
    (src / "binary.xml").write_bytes(b"\x00\x01\x02\xff" * 50)
    (src / "broken.xml").write_bytes(b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>B</title>'
                                      b"<item><title>Ok item</title><link>https://b.example/1</link><description>caf\xe9 "
                                      b"\xff\xfe broken bytes</description></item>")
    res = ingest(src, tmp_path / "missing", "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines() if line.startswith(("error:", "warning:"))]
    assert any("empty.txt: empty file" in line for line in lines)
    assert any("binary.xml" in line and "binary" in line for line in lines)
    assert any("missing: no such file or folder" in line for line in lines)
    assert "Traceback" not in res.output
    titles = set(table(tmp_path / "out").title)
    assert "Good story" in titles and "Ok item" in titles


def test_missing_input_is_exit_2_and_nothing_readable_exit_1(tmp_path):
    # the README: 2 for missing input, decided before the output folder is made
    res = ingest(tmp_path / "nope", "--out", tmp_path / "out")
    assert res.exit_code == 2 and "no such file or folder" in res.output
    assert not (tmp_path / "out").exists()
    # input that is there but holds nothing readable: nothing could be processed
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "empty.txt").write_text("")
    res = ingest(tmp_path / "src", "--out", tmp_path / "out")
    assert res.exit_code == 1 and "empty file" in res.output


def test_feed_url_with_304_repoll_and_fetch_articles(httpserver, tmp_path):
    page = (f"<html><head><title>Stimulus</title></head><body><nav>Home Markets</nav><article><h1>Stimulus</h1>"
            f"<p>{STORY}</p></article><footer>About us</footer></body></html>")
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Loop Wire</title>
    <item><title>Stimulus</title><link>{httpserver.url_for('/story')}</link>
    <pubDate>Tue, 24 Sep 2024 09:00:00 +0800</pubDate><description>Beijing acted.</description></item>
    </channel></rss>"""
    httpserver.expect_ordered_request("/feed.xml").respond_with_data(feed, headers={"ETag": '"a"'})
    httpserver.expect_ordered_request("/story").respond_with_data(page, content_type="text/html")
    httpserver.expect_ordered_request("/feed.xml", headers={"If-None-Match": '"a"'}).respond_with_data("", status=304)
    out = tmp_path / "out"
    # pytest-httpserver listens on loopback, which is refused unless the user opts in.
    first = ingest(httpserver.url_for("/feed.xml"), "--fetch-articles", "--allow-private-hosts", "--out", out)
    assert first.exit_code == 0, first.output
    row = table(out).iloc[0]
    assert "swap facility" in row.text and row.source == "Loop Wire"
    assert row.published_at == pd.Timestamp(datetime(2024, 9, 24, 1, 0, tzinfo=UTC))
    second = ingest(httpserver.url_for("/feed.xml"), "--allow-private-hosts", "--out", out)
    assert second.exit_code == 0 and "stored 0 new" in second.output
    log = runner.invoke(app, ["sources", "--out", str(out)])
    assert "not-modified" in log.output


def test_bundled_corpus_has_at_least_60_dated_articles_and_is_idempotent(tmp_path):
    out = tmp_path / "out"
    first = ingest(REPO / "corpus", "--out", out)
    assert first.exit_code == 0, first.output
    frame = table(out)
    dated = frame[frame.published_at.notna()]
    assert len(dated) >= 60
    assert dated.published_at.min() >= pd.Timestamp("2024-09-01", tz="UTC")
    assert dated.published_at.max() < pd.Timestamp("2025-10-01", tz="UTC")
    assert frame.source.nunique() >= 5
    assert "error:" not in first.output
    assert "stored 0 new" in ingest(REPO / "corpus", "--out", out).output


def test_seed_articles(seeds_dir, tmp_path):
    out = tmp_path / "out"
    res = ingest(seeds_dir, "--out", out)
    assert res.exit_code == 0
    frame = table(out)
    assert len(frame) == 4
    titles = set(frame.title)
    # 000 and 002 open with their headline; 001 and 003 open with a paragraph.
    assert any(t.startswith("China’s Tech ETF Outpaces Nasdaq") for t in titles)
    assert any(t.startswith("Chinese Tech Stocks Leave Global Peers Behind") for t in titles)
    s003 = frame[frame.origin.str.contains("003_")].iloc[0]
    assert s003.published_at.date().isoformat() == "2025-03-07"
    assert "stored 0 new" in ingest(seeds_dir, "--out", out).output


def test_jsonl_and_csv_batches_through_the_cli(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "b.jsonl").write_text(json.dumps({"title": "T1", "text": STORY, "published_at": "2025-01-27"}) + "\n")
    (src / "c.csv").write_text('h,story\n"T2","Some body text."\n')
    res = ingest(src, "--columns", "title=h,text=story", "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert set(table(tmp_path / "out").title) == {"T1", "T2"}


@pytest.mark.parametrize("spec", ["oops", "nofield=x"])
def test_bad_column_mapping_exits_2(tmp_path, spec):
    res = ingest(tmp_path, "--columns", spec, "--out", tmp_path / "out")
    assert res.exit_code == 2 and "FIELD=COLUMN" in res.output


def test_feed_teaser_is_upgraded_by_the_page_with_the_same_url(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    url = "https://wire.example/2024/09/24/stimulus"
    (src / "a_feed.xml").write_text(f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
    <item><title>Stimulus</title><link>{url}?utm_source=rss</link><pubDate>Tue, 24 Sep 2024 09:00:00 +0800</pubDate>
    <description>Beijing acted.</description></item></channel></rss>""")
    (src / "b_page.html").write_text(f"""<html><head><link rel="canonical" href="{url}"><title>Stimulus</title></head>
    <body><article><h1>Stimulus</h1><p>{STORY}</p></article></body></html>""")
    out = tmp_path / "out"
    assert ingest(src, "--out", out).exit_code == 0
    frame = table(out)
    assert len(frame) == 1
    row = frame.iloc[0]
    assert "swap facility" in row.text and row.date_source == "feed"
    assert row.published_at == pd.Timestamp("2024-09-24 01:00", tz="UTC")
    assert "stored 0 new" in ingest(src, "--out", out).output and len(table(out)) == 1


def test_known_items_read_again_are_committed_in_batches_not_piled_up(tmp_path, monkeypatch):
    """A re-read of known feeds (every item same-id) is flushed every batch, like new items: the
    soak test's 20,000-item re-read once held them all in memory and scanned them per item."""
    from lens.run import ingest as run_ingest
    from lens.store import Store

    src = tmp_path / "in"
    src.mkdir()
    for i in range(5):
        (src / f"{i}.txt").write_text(f"Story {i}\ndate 2025-01-2{i}\n{STORY} Item {i}.\n")
    run_ingest([str(src)], tmp_path / "out")
    batches = []
    add_articles = Store.add_articles

    def recording(self, articles, signatures):
        batches.append(len(articles))
        return add_articles(self, articles, signatures)

    monkeypatch.setattr(Store, "add_articles", recording)
    again = run_ingest([str(src)], tmp_path / "out", batch_size=2)
    assert again.seen == 5 and again.new == 0
    assert sum(batches) == 5 and max(batches) <= 2


def test_commands_without_out_share_one_folder(tmp_path, monkeypatch):
    # `lens ingest` and `lens sources` with no --out must meet in the same folder, as must
    # `lens run` and `lens annotate`: a reader once ran one and the other could not find it
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.md").write_text(f"# Stimulus\ndate 2024-09-24\n\n{STORY}\n")
    assert ingest(tmp_path / "in").exit_code == 0
    shown = runner.invoke(app, ["sources"])
    assert shown.exit_code == 0, shown.output
    assert "│ ok " in shown.output and "nothing has been read" not in shown.output
    failed = runner.invoke(app, ["sources", "--errors"])
    assert failed.exit_code == 0 and "no source failed or warned" in failed.output
    from typer.main import get_command

    defaults = {
        name: next(p.default for p in command.params if p.name == "out")
        for name, command in get_command(app).commands.items()
        if name != "bench" and any(p.name == "out" for p in command.params)  # bench: a results file
    }
    assert {"ingest", "analyze", "timeline", "run", "annotate", "report", "sources"} <= set(defaults)
    assert len({str(d) for d in defaults.values()}) == 1, defaults
