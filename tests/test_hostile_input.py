"""Hostile input at ingestion: XML bombs and external entities, broken encodings, absurd dates,
markup and formula payloads, and random bytes. Each case: nothing is executed or read that
should not be, the run completes, the good items are stored, the bad one is one line.

Every protection here has a test that fails when the protection is removed (SECURITY.md maps
them); the property-based tests (hypothesis) back the "never a traceback" promise."""

from __future__ import annotations

import csv
import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from ingest.article import build_article, canonical_url
from ingest.errors import IngestError, UnsupportedSource
from ingest.feeds import parse_feed
from ingest.files import BatchMapping, parse_batch, parse_text_file, sniff
from ingest.html_text import html_to_text
from ingest.pages import parse_page
from ingest.sources import SourceReader
from lens.cli import app
from lens.csv_safe import write_csv

runner = CliRunner()

STORY = (
    "Beijing unveiled its broadest stimulus since the pandemic on Tuesday, as the central bank cut the "
    "reserve requirement ratio and lowered the rate on its seven-day reverse repurchase agreements. "
    "Hong Kong stocks jumped on the news, and US-listed China funds rallied in New York later in the day."
)
SECRET = "TOP-SECRET-MARKER-7f3a"

# Files that Python opens in this process, for the paths a test watches: proof that a parser
# did not read a local file (an audit hook sees every open(), urllib's file:// included).
_WATCHED: set[str] = set()
_OPENED: list[str] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and args and isinstance(args[0], str | bytes | Path):
        name = args[0].decode(errors="replace") if isinstance(args[0], bytes) else str(args[0])
        if any(name.endswith(watched) for watched in _WATCHED):
            _OPENED.append(name)


sys.addaudithook(_audit)


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    _WATCHED.add(path.name)
    _OPENED.clear()
    yield path
    _WATCHED.discard(path.name)


def rss(items: str, prolog: str = "", encoding: str = "utf-8") -> str:
    return (f'<?xml version="1.0" encoding="{encoding}"?>\n{prolog}'
            f'<rss version="2.0"><channel><title>Wire</title>{items}</channel></rss>')


def item(title: str, link: str = "https://wire.example/1", date: str = "", body: str = "") -> str:
    when = f"<pubDate>{date}</pubDate>" if date else ""
    return f"<item><title>{title}</title><link>{link}</link>{when}<description>{body or STORY}</description></item>"


def everything(feed) -> str:
    return repr([(i.article.title, i.article.text, i.article.url) for i in feed.items]) + repr(feed.warnings)


def ingest(*args):
    return runner.invoke(app, ["ingest", *map(str, args)])


def problem_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("error:", "warning:"))]


# ------------------------------------------------------------------------------ XML attacks


@pytest.mark.parametrize(
    "prolog, reference",
    [
        ('<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{uri}">\n]>\n', "&xxe;"),  # classic XXE
        ('<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{uri}">]>', "&xxe;"),  # one line, past feedparser's regex
        ('<!DOCTYPE rss [\n<!ENTITY % p SYSTEM "{uri}">\n%p;\n]>\n', "&xxe;"),  # parameter entity
    ],
    ids=["general-entity", "one-line-doctype", "parameter-entity"],
)
def test_xxe_pointing_at_a_local_file_is_refused_and_nothing_read(secret_file, prolog, reference):
    feed = rss(item(f"Leak {reference}", body=f"Body {reference}"), prolog.format(uri=secret_file.as_uri()))
    with pytest.raises(IngestError, match="XML entities"):
        parse_feed(feed.encode(), "xxe.xml")
    assert _OPENED == []


def test_external_dtd_is_never_fetched_and_the_feed_is_read(secret_file, httpserver):
    # Neither a local DTD nor a remote one (the loopback server logs any request) is loaded.
    for doctype in (f'<!DOCTYPE rss SYSTEM "{secret_file.as_uri()}">\n',
                    f'<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
                    f'"{httpserver.url_for("/rss-0.91.dtd")}">\n'):
        feed = parse_feed(rss(item("Fed cuts rates"), doctype).encode(), "dtd.xml")
        assert [i.article.title for i in feed.items] == ["Fed cuts rates"]
        assert SECRET not in everything(feed)
    assert _OPENED == [] and len(httpserver.log) == 0


def test_feed_bytes_are_never_taken_for_a_file_name(tmp_path):
    # feedparser.parse(bytes) opens the bytes as a path when such a file exists.
    local = tmp_path / "private-feed.xml"
    local.write_text(rss(item("Private item")))
    with pytest.raises(IngestError):
        parse_feed(str(local).encode(), "body-that-names-a-file")


def laughs(levels: int = 9) -> str:
    lol = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)
    ]
    return "<!DOCTYPE rss [\n" + "\n".join(lol) + "\n]>\n"


def test_billion_laughs_is_refused_quickly():
    started = time.monotonic()
    with pytest.raises(IngestError, match="XML entities"):
        parse_feed(rss(item("Laugh &lol9;", body="&lol9;"), laughs()).encode(), "laughs.xml")
    assert time.monotonic() - started < 2


QUADRATIC = '<!DOCTYPE rss [\n<!ENTITY a "' + "A" * 10_000 + '">\n]>\n'


def test_quadratic_blowup_is_refused():
    # Defeated by defusedxml: feedparser alone expands this 15 kB feed into 5 MB of text (the
    # same shape at 600 kB took 90 s and 2 GB before the screen).
    feed = rss(item("Blow up", body="&a;" * 500), QUADRATIC)
    with pytest.raises(IngestError, match="XML entities"):
        parse_feed(feed.encode(), "quadratic.xml")


def test_entities_behind_a_syntax_error_are_refused():
    # expat (and so defusedxml) stops at the stray reference before the DOCTYPE, while
    # feedparser's loose parser reads on and expands the entity: the second screen catches it.
    feed = rss(item("Blow up", body="&a;" * 500), "&junk;\n" + QUADRATIC)
    with pytest.raises(IngestError, match="XML entities"):
        parse_feed(feed.encode(), "smuggled.xml")


def test_plain_doctype_without_entities_is_read():
    netscape = '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "rss-0.91.dtd">\n'
    feed = parse_feed(rss(item("Old-style feed"), netscape).encode(), "rss091.xml")
    assert [i.article.title for i in feed.items] == ["Old-style feed"]


def test_character_reference_to_no_character_does_not_lose_the_feed():
    # feedparser's loose parser crashed on &#x110000; (ValueError), losing every item.
    feed = parse_feed(rss(item("Bad ref &#x110000; &#xD800; &#99999999;") + "<broken>"
                          + item("Good", "https://wire.example/2")).encode(), "refs.xml")
    assert [i.article.title for i in feed.items] == ["Bad ref \ufffd \ufffd \ufffd", "Good"]


# ------------------------------------------------------------------------------ encodings


def test_feed_declared_utf8_with_latin1_bytes_is_repaired_with_one_warning():
    raw = rss(item("Café owners cheer") + item("Plain item", link="https://wire.example/2")).encode("latin-1")
    feed = parse_feed(raw, "latin.xml")
    assert [i.article.title for i in feed.items] == ["Café owners cheer", "Plain item"]
    assert len(feed.warnings) == 1 and "latin.xml" in feed.warnings[0] and "UTF-8" in feed.warnings[0]


def test_feed_mixing_encodings_keeps_every_item_readable():
    raw = (rss("").split("<channel>")[0].encode() + b"<channel><title>Wire</title>"
           + item("Zürich bankers", "https://w.example/1").encode("utf-8")
           + item("Café owners", "https://w.example/2").encode("latin-1")
           + item("北京出台刺激政策", "https://w.example/3").encode("utf-8")
           + b"</channel></rss>")
    feed = parse_feed(raw, "mixed.xml")
    assert [i.article.title for i in feed.items] == ["Zürich bankers", "Café owners", "北京出台刺激政策"]


def test_feed_declaring_latin1_but_sending_utf8_is_still_read():
    feed = parse_feed(rss(item("Café € rally")).encode("utf-8").replace(b"utf-8", b"iso-8859-1", 1), "x.xml")
    assert len(feed.items) == 1 and feed.items[0].article.text == STORY


def test_control_characters_are_removed_from_what_is_stored(tmp_path):
    feed = parse_feed(rss(item("Bell\x07 and \x1b[31mred\x1b[0m title\x0c")
                          + item("Clean", link="https://wire.example/2")).encode(), "ctl.xml")
    titles = [i.article.title for i in feed.items]
    assert titles == ["Bell and [31mred[0m title", "Clean"]
    path = tmp_path / "ctl.txt"
    path.write_bytes(b"Title\x1b]0;pwned\x07 here\nBody\x00 with \x08nul\r\nand CRLF\n")
    art = parse_text_file(path, path.read_bytes())
    assert art.title == "Title]0;pwned here" and art.text == "Body with nul\nand CRLF"


def test_lone_surrogates_in_a_batch_do_not_break_the_store(tmp_path):
    # json.loads gives lone surrogates that cannot be encoded as UTF-8; before they were
    # removed at ingestion, the store's write failed and the whole run with it.
    src = tmp_path / "in"
    src.mkdir()
    (src / "b.jsonl").write_text(
        '{"title": "Broken \\ud800 title", "text": "Text \\udfff here"}\n'
        + json.dumps({"title": "Good row", "text": STORY}) + "\n")
    res = ingest(src, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    stored = pd.read_parquet(tmp_path / "out" / "articles.parquet")
    assert set(stored.title) == {"Broken title", "Good row"}


def test_unreadable_csv_is_one_error_not_a_crash():
    with pytest.raises(IngestError, match="not a readable CSV .*field larger than field limit"):
        parse_batch("huge.csv", b"title,text\nA," + b"x" * 200_000 + b"\n", "csv", BatchMapping())


@pytest.mark.parametrize("raw", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    b"\x1f\x8b\x08\x00" + bytes(200),
    bytes(range(256)) * 4,
    b"\x00" * 64,
])
def test_binary_content_named_xml_is_unsupported(raw):
    with pytest.raises(UnsupportedSource, match="binary"):
        sniff(raw, "feed.xml")


@pytest.mark.parametrize("raw", [b"", b"   \n\t\r\n", b"\xef\xbb\xbf"])
def test_empty_files_are_unsupported(raw):
    with pytest.raises(UnsupportedSource, match="empty"):
        sniff(raw.strip(b"\xef\xbb\xbf") if raw == b"\xef\xbb\xbf" else raw, "empty.xml")


def test_chinese_and_mixed_script_text_is_kept_intact(tmp_path):
    path = tmp_path / "desk" / "stimulus.md"
    path.parent.mkdir()
    body = "中国人民银行宣布降低存款准备金率，恒生指数当天大涨。分析人士认为，这是自疫情以来力度最大的刺激措施。"
    path.write_text(f"# 北京推出经济刺激计划\ndate 2024-09-24\n\n{body}\n")
    art = parse_text_file(path, path.read_bytes())
    assert (art.title, art.text, art.language) == ("北京推出经济刺激计划", body, "zh")
    mixed = "Alibaba 阿里巴巴 — Яндекс and بنك rally ١٢٣"
    feed = parse_feed(rss(item(mixed)).encode("utf-16"), "utf16.xml")
    assert feed.items[0].article.title == mixed


# ------------------------------------------------------------------------------ dates


@pytest.mark.parametrize("date, why", [
    ("Tue, 01 Jan 2999 00:00:00 GMT", "in the future"),
    ("9999-12-31T23:59:59Z", "in the future"),
    ("0000-01-01T00:00:00Z", "unreadable date"),
    ("Mon, 01 Jan 0000 00:00:00 GMT", "unreadable date"),
    ("0001-01-01T00:00:00Z", "before 1971"),
    ("1970-01-01T00:00:00Z", "before 1971"),
])
def test_absurd_feed_dates_are_stored_undated_with_one_warning(date, why):
    feed = parse_feed(rss(item("Dated badly", date=date) + item("Good", "https://wire.example/2",
                                                                date="Mon, 12 May 2025 10:00:00 GMT")).encode(), "d.xml")
    bad, good = (i.article for i in feed.items)
    assert (bad.published_at, bad.date_source, bad.published_precision) == (None, "none", None)
    assert good.published_at == datetime(2025, 5, 12, 10, tzinfo=UTC)
    assert len(feed.warnings) == 1 and why in feed.warnings[0] and "stored undated" in feed.warnings[0]


def test_absurd_dates_in_text_files_and_batches_are_undated_with_a_warning(tmp_path):
    text = tmp_path / "future.md"
    text.write_text("---\ntitle: From the future\ndate: 2999-01-01\n---\nBody.\n")
    problems: list[str] = []
    art = parse_text_file(text, text.read_bytes(), problems=problems)
    assert art.published_at is None and art.date_source == "none"
    assert problems == [f"{text}: date 2999-01-01 is in the future, stored undated"]
    rows = [{"title": "Future", "text": "x", "published_at": "2999-06-01"},
            {"title": "Year zero", "text": "y", "published_at": "0000-01-01"},
            {"title": "Fine", "text": "z", "published_at": "2025-04-09T16:30:00-04:00"}]
    articles, problems = parse_batch("b.jsonl", "\n".join(map(json.dumps, rows)).encode(), "jsonl", BatchMapping())
    assert [a.published_at for a in articles] == [None, None, datetime(2025, 4, 9, 20, 30, tzinfo=UTC)]
    assert len(problems) == 2 and "b.jsonl:1: date 2999-06-01 is in the future" in problems[0]
    assert "b.jsonl:2: unreadable date '0000-01-01'" in problems[1]


def test_a_date_more_than_two_days_ahead_is_never_a_publication_date():
    now = datetime.now(UTC)

    def built(when):
        return build_article(url=None, source="s", title="t", text="x", published_at=when, date_source="feed")

    assert built(now + timedelta(days=1)).published_at is not None  # time zones, clock skew
    late = built(now + timedelta(days=3))
    assert (late.published_at, late.date_source) == (None, "none")


# ------------------------------------------------------------------------------ markup


PAGE = """<html><head><title>T</title><script>var SECRET_SCRIPT = 1;</script><style>.x{}</style></head><body>
<article><h1>Stimulus lifts Hong Kong stocks</h1>
<p>Beijing unveiled its broadest stimulus since the pandemic, and the central bank cut the reserve requirement ratio.</p>
<script>document.write('INJECTED_SCRIPT')</script><iframe src="javascript:alert('IFRAME_JS')">IFRAME_TEXT</iframe>
<p>Investors <a href="javascript:alert('JSLINK')">bought</a> brokers <img src=x onerror="alert('ONERROR')"> and
insurers as the Hang Seng jumped on the day.</p><noscript>NOSCRIPT_TEXT</noscript>
<p onclick="alert('ONCLICK')">Strategists said the package was larger than expected but more help was needed.</p>
</article></body></html>"""
SCRIPT_MARKERS = ("SECRET_SCRIPT", "INJECTED_SCRIPT", "IFRAME", "JSLINK", "ONERROR", "ONCLICK", "NOSCRIPT",
                  "alert", "javascript", "<")


def test_page_with_scripts_iframes_and_javascript_links_yields_text_only():
    art = parse_page(PAGE, "p.html")
    assert art.title == "Stimulus lifts Hong Kong stocks"
    assert "Investors bought brokers and insurers" in art.text.replace("\n", " ")
    for marker in SCRIPT_MARKERS:
        assert marker not in art.text and marker not in art.title


def test_feed_body_with_scripts_and_event_handlers_yields_text_only():
    body = ('<p>Shares rose.</p><script>alert("S1")</script><iframe src="javascript:alert(1)">F1</iframe>'
            '<p><a href="javascript:alert(2)">Read</a> more<img src=x onerror="alert(3)"></p>'
            '<style>p{}</style><object data="x.swf">O1</object>')
    assert html_to_text(body) == "Shares rose.\n\nRead more"


def test_script_links_are_not_stored_as_urls():
    for link in ("javascript:alert(1)", " JaVaScRiPt:alert(1)", "java\tscript:alert(1)",
                 "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)"):
        art = build_article(url=link, source="s", title="t", text="x", published_at=None, date_source="none")
        assert art.url is None, link
    keep = build_article(url="https://ok.example/a", source="s", title="t", text="x", published_at=None,
                         date_source="none")
    assert keep.url == "https://ok.example/a"


PAYLOADS = [
    "<script>alert(1)</script> Tariffs rise",
    '"><img src=x onerror=alert(1)> Fed cuts',
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "@SUM(1)",
    "-2+3+cmd|' /C calc'!A0",
    "[click](javascript:alert(1)) ![x](x onerror=alert(1))",
]


def test_markup_and_formula_payloads_are_stored_verbatim_as_plain_text(tmp_path):
    # Ingestion stores what the author wrote; every output escapes for its own medium (the HTML
    # report by Jinja2 autoescape, CSV by csv_safe, the terminal by rich Text).
    src = tmp_path / "in"
    src.mkdir()
    rows = [{"title": p, "text": f"{p} {STORY}", "url": f"https://wire.example/{n}"} for n, p in enumerate(PAYLOADS)]
    (src / "payloads.jsonl").write_text("\n".join(map(json.dumps, rows)) + "\n")
    (src / "payload.txt").write_text(f"{PAYLOADS[1]}\ndate 2025-05-12\n{PAYLOADS[0]}\n")
    res = ingest(src, "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    stored = pd.read_parquet(tmp_path / "out" / "articles.parquet").set_index("origin")
    assert set(stored.title) == set(PAYLOADS)
    txt = stored.loc[str(src / "payload.txt")]
    assert (txt.title, txt.text) == (PAYLOADS[1], PAYLOADS[0])
    assert not stored.title.str.contains("&lt;|&gt;|&amp;").any()  # not escaped twice


def test_csv_export_neutralises_formula_cells(tmp_path):
    # A spreadsheet runs a cell starting with = + - @ (or tab/CR before one) as a formula;
    # lens.csv_safe prefixes a quote. Under pandas 3 text columns are "str", not object, and
    # the check on object dtype alone let every formula through.
    titles = PAYLOADS + ["\tTAB=1", "\rCR=1", "-12.5", "Plain", "Two\rlines =1+1", "Safe\r=cmd|' /C calc'!A0"]
    target = tmp_path / "out.csv"
    write_csv(pd.DataFrame({"title": titles, "n": range(len(titles))}), target)
    with target.open(newline="", encoding="utf-8") as handle:
        cells = [row[0] for row in csv.reader(handle)][1:]
    for original, cell in zip(titles, cells, strict=True):
        if original.startswith(("=", "+", "-", "@", "\t", "\r")) and original != "-12.5":
            assert cell == "'" + original, (original, cell)
        else:
            assert cell == original
    assert not target.with_name(".out.csv.tmp").exists()


def test_cli_prints_hostile_text_without_markup_or_terminal_codes(tmp_path):
    # A reason quoting the source ("[/]" is a rich closing tag) used to crash the print.
    src = tmp_path / "in"
    src.mkdir()
    (src / "b.jsonl").write_text(json.dumps({"title": "T", "text": STORY, "published_at": "[/] \x1b[2J soon"}) + "\n")
    out = tmp_path / "out"
    res = ingest(src, "--out", out)
    assert res.exit_code == 0, res.output
    assert any("unreadable date '[/]" in line for line in problem_lines(res.output))
    assert "\x1b[2J" not in res.output
    log = runner.invoke(app, ["sources", "--out", str(out), "--errors"])
    assert log.exit_code == 0 and "[/]" in log.output and "\x1b[2J" not in log.output


# ------------------------------------------------------------------------------ one run, many bad files


def test_hostile_folder_completes_keeps_good_items_and_reports_each_bad_one_in_one_line(tmp_path, secret_file):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text(f"Good story\ndate 2025-05-12\n{STORY}\n")
    (src / "good_feed.xml").write_text(rss(item("Tariff truce", "https://wire.example/t",
                                                 date="Mon, 12 May 2025 10:00:00 GMT")))
    (src / "xxe.xml").write_text(rss(item("Leak &xxe;"), f'<!DOCTYPE rss [\n<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">\n]>\n'))
    (src / "laughs.xml").write_text(rss(item("Laugh &lol9;"), laughs()))
    (src / "binary.xml").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (src / "empty.xml").write_bytes(b"")
    (src / "future.xml").write_text(rss(item("Future item", "https://wire.example/f", date="Tue, 01 Jan 2999 00:00:00 GMT")))
    (src / "中文.txt").write_text(f"恒生指数大涨\ndate 2024-09-24\n{STORY}\n")
    out = tmp_path / "out"
    res = ingest(src, "--out", out)
    assert res.exit_code == 0, res.output
    assert "Traceback" not in res.output
    lines = problem_lines(res.output)
    for name, why in [("xxe.xml", "XML entities"), ("laughs.xml", "XML entities"), ("binary.xml", "binary"),
                      ("empty.xml", "empty file"), ("future.xml", "in the future")]:
        assert sum(name in line for line in lines) == 1, (name, lines)
        assert any(name in line and why in line for line in lines), (name, lines)
    stored = pd.read_parquet(out / "articles.parquet").set_index("title")
    assert set(stored.index) == {"Good story", "Tariff truce", "Future item", "恒生指数大涨"}
    assert pd.isna(stored.loc["Future item", "published_at"]) and stored.loc["Future item", "date_source"] == "none"
    assert SECRET not in stored.to_string() and _OPENED == []


# ------------------------------------------------------------------------------ property-based

FRAGMENTS = [
    b"<rss version='2.0'>", b"<feed xmlns='http://www.w3.org/2005/Atom'>", b"<html>", b"<body>", b"<article>",
    b"<item>", b"</item>", b"<entry>", b"<title>", b"</title>", b"<link>", b"</link>", b"<pubDate>", b"</pubDate>",
    b"<p>", b"</p>", b"<script>", b"<!DOCTYPE rss [", b"<!ENTITY a 'x'>", b"]>", b"&a;", b"&#0;", b"&#x110000;",
    b"&#xD800;", b"<![CDATA[", b"]]>", b"<?xml version='1.0' encoding='utf-8'?>", b"encoding='utf-16'",
    b"---\n", b"title: ", b"date: ", b"0000-00-00", b"2999-01-01", b"\n", b"\r", b"{", b"}", b"[", b"]",
    b'"title":', b'"text":', b'"published_at":', b",", b'"', b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\xe4\xb8\xad",
    b"\xc3", b"http://[::1", b"javascript:", b"\x1b[31m", b"\\ud800",
]
hostile_bytes = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=6)), max_size=40).map(b"".join),
)
NAMES = ["a.xml", "a.txt", "a.md", "a.csv", "a.tsv", "a.jsonl", "a.json", "a.html"]
FUZZ = settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(raw=hostile_bytes, name=st.sampled_from(NAMES))
def test_arbitrary_bytes_only_ever_raise_ingest_error(raw, name):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(raw)
        for parse in (
            lambda: sniff(raw, name),
            lambda: parse_feed(raw, name),
            lambda: parse_page(raw, name),
            lambda: parse_text_file(path, raw),
            lambda: parse_batch(name, raw, "jsonl", BatchMapping()),
            lambda: parse_batch(name, raw, "json", BatchMapping()),
            lambda: parse_batch(name, raw, "csv", BatchMapping()),
        ):
            try:
                parse()
            except IngestError:
                pass


@FUZZ
@given(files=st.lists(st.tuples(st.sampled_from(NAMES), hostile_bytes), min_size=1, max_size=4))
def test_source_reader_reads_every_file_or_reports_it(files):
    with tempfile.TemporaryDirectory() as folder:
        for n, (name, raw) in enumerate(files):
            (Path(folder) / f"{n}{name}").write_bytes(raw)
        reader = SourceReader()
        articles = list(reader.read([folder]))
    for article in articles:  # what is stored can always be encoded
        for value in (article.title, article.text, article.source, article.url or ""):
            value.encode("utf-8")
    reported = {r.source for r in reader.reports}
    assert {str(Path(folder) / f"{n}{name}") for n, (name, _) in enumerate(files)} <= reported
    assert not [r for r in reader.reports if "could not be parsed" in r.reason], reader.reports


@settings(max_examples=100, deadline=None, database=None)
@example(url="http://[::1")
@example(url="http://host:99999/")
@example(url="https://a:port/x")
@given(url=st.one_of(st.text(max_size=80),
                     st.from_regex(r"\A(https?|file|ftp|javascript|HTTP)://[^/?#]{0,20}([/?#].{0,30})?\Z")))
def test_canonical_url_and_article_ids_never_raise(url):
    canonical_url(url)
    build_article(url=url, source=url, title=url, text=url, published_at=None, date_source="none")
