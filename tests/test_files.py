"""Text/Markdown date conventions, batches, sniffing and folder walking."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.errors import UnsupportedSource
from ingest.files import BatchMapping, parse_batch, parse_text_file, sniff, walk


def read(path):
    return parse_text_file(path, path.read_bytes())


def test_markdown_heading_is_title_and_date_line_is_text_date(tmp_path):
    p = tmp_path / "desk" / "tariffs.md"
    p.parent.mkdir()
    p.write_text("# Tariffs take effect\n\ndate 2025-02-04\n\nThe extra duty started on Tuesday.\n")
    art = read(p)
    assert art.title == "Tariffs take effect"
    assert art.published_at == datetime(2025, 2, 4, tzinfo=UTC)
    assert (art.date_source, art.published_precision) == ("text", "day")
    assert art.text == "The extra duty started on Tuesday."
    assert art.source == "desk" and art.url.startswith("file://")


def test_a_text_file_keeps_its_id_wherever_the_folder_is(tmp_path):
    # the gold file and an existing store name articles by id: a fresh clone elsewhere, or a
    # colleague's copy of the corpus, must give the same ids
    body = "Tariff pause lifts stocks\nDate: 2025-04-09\nStocks jumped.\n"
    here, there = tmp_path / "clone" / "texts" / "pause.txt", tmp_path / "elsewhere" / "pause.txt"
    for p in (here, there):
        p.parent.mkdir(parents=True)
        p.write_text(body)
    a, b = read(here), read(there)
    assert a.url != b.url  # where each copy was read stays on the record
    assert a.article_id == b.article_id
    there.write_text(body.replace("jumped", "slumped"))
    assert read(there).article_id != a.article_id  # another text is another article


def test_txt_first_line_title_second_line_date(tmp_path):
    p = tmp_path / "pause.txt"
    p.write_text("Tariff pause lifts stocks\nDate: 2025-04-09\nStocks jumped.\n")
    art = read(p)
    assert (art.title, art.published_at.date().isoformat(), art.text) == (
        "Tariff pause lifts stocks", "2025-04-09", "Stocks jumped.")


def test_yaml_front_matter(tmp_path):
    p = tmp_path / "r1.md"
    p.write_text("---\ntitle: DeepSeek releases R1\ndate: 2025-01-20\nsource: Night Desk\n---\nBody text here.\n")
    art = read(p)
    assert (art.title, art.source, art.date_source) == ("DeepSeek releases R1", "Night Desk", "feed")
    assert art.published_at == datetime(2025, 1, 20, tzinfo=UTC)
    assert "title:" not in art.text


def test_sidecar_meta_json_with_offset(tmp_path):
    p = tmp_path / "geneva.txt"
    p.write_text("Geneva truce\nThe two sides cut tariffs for 90 days.\n")
    (tmp_path / "geneva.meta.json").write_text(json.dumps({
        "title": "US and China agree truce", "published_at": "2025-05-12T14:00:00-04:00",
        "source": "Lake Notes", "url": "https://lake.example/geneva"}))
    art = read(p)
    assert art.title == "US and China agree truce" and art.source == "Lake Notes"
    assert art.published_at == datetime(2025, 5, 12, 18, 0, tzinfo=UTC)
    assert art.published_precision == "time" and art.url == "https://lake.example/geneva"


def test_text_without_any_date_stays_undated(tmp_path):
    p = tmp_path / "note.txt"
    p.write_text("A note on valuations\nChinese tech trades at a discount.\n")
    art = read(p)
    assert art.published_at is None and art.date_source == "none"


def test_file_opening_with_a_paragraph_gets_a_sentence_title_and_keeps_the_paragraph(tmp_path):
    para = ("Chinese technology shares extended their rally this week as investors bet that new AI models "
            "would lift cloud revenue. Analysts raised targets across the sector.")
    p = tmp_path / "x.txt"
    p.write_text(para + "\n\nMore text.\n")
    art = read(p)
    assert art.title.startswith("Chinese technology shares extended") and len(art.title) <= 121
    assert art.text.startswith("Chinese technology shares extended")


def test_jsonl_batch_reports_bad_lines_and_keeps_good_ones():
    lines = [
        json.dumps({"title": "A", "text": "Alpha story.", "url": "https://b.example/a",
                    "published_at": "2025-01-27T09:00:00+08:00", "source": "Desk"}),
        "{not json",
        json.dumps({"title": "", "text": ""}),
        json.dumps({"title": "B", "text": "Beta story.", "published_at": "someday"}),
    ]
    articles, problems = parse_batch("notes.jsonl", "\n".join(lines).encode(), "jsonl", BatchMapping())
    assert [a.title for a in articles] == ["A", "B"]
    assert articles[0].published_at == datetime(2025, 1, 27, 1, 0, tzinfo=UTC)
    assert articles[1].published_at is None
    assert len(problems) == 3 and problems[0].startswith("notes.jsonl:2:")


def test_csv_batch_with_synonym_columns_and_explicit_mapping():
    raw = b'headline,body,link,date,outlet\n"Truce","Tariffs cut, for now.",https://c.example/1,2025-05-12,Wire\n'
    articles, problems = parse_batch("d.csv", raw, "csv", BatchMapping())
    assert problems == [] and articles[0].title == "Truce" and articles[0].source == "Wire"
    assert articles[0].text == "Tariffs cut, for now."
    custom = b"h,story_text\nTitle X,Body X\n"
    mapped, _ = parse_batch("e.csv", custom, "csv", BatchMapping.parse("title=h,text=story_text"))
    assert (mapped[0].title, mapped[0].text) == ("Title X", "Body X")


def test_bad_mapping_spec_is_a_clear_error():
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        BatchMapping.parse("headline")


@pytest.mark.parametrize(
    "raw, name, kind",
    [
        (b'<?xml version="1.0"?><rss version="2.0"><channel></channel></rss>', "a.txt", "feed"),
        (b"<feed xmlns='http://www.w3.org/2005/Atom'></feed>", "a.html", "feed"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "a.xml", "page"),
        (b'{"text": "x"}\n', "a.txt", "jsonl"),
        (b"a,b\n1,2\n", "a.csv", "csv"),
        (b"Plain words\nmore words", "a.dat", "text"),
    ],
)
def test_kind_is_sniffed_from_content_not_extension(raw, name, kind):
    assert sniff(raw, name) == kind


@pytest.mark.parametrize("raw, reason", [(b"", "empty"), (b"  \n", "empty"), (b"\x89PNG\x00\x00\x01\x02", "binary")])
def test_empty_and_binary_files_are_refused_with_reason(raw, reason):
    with pytest.raises(UnsupportedSource, match=reason):
        sniff(raw, "x.xml")


def test_walk_skips_hidden_sidecars_readmes_and_lensignore(tmp_path):
    for name in ["a.txt", "b/c.md", ".hidden.txt", "a.meta.json", "README.md", "prices/X.csv"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / ".lensignore").write_text("prices/\n")
    assert [p.relative_to(tmp_path).as_posix() for p in walk(tmp_path)] == ["a.txt", "b/c.md"]


def test_latin1_text_is_decoded(tmp_path):
    p = tmp_path / "l.txt"
    p.write_bytes("Caf\xe9 owners cheered the stimulus package announced by Beijing today.\n".encode("latin-1"))
    assert "Café" in read(p).title


def test_offset_aware_declared_time_keeps_its_instant():
    articles, _ = parse_batch("x.jsonl", json.dumps(
        {"title": "t", "text": "b", "published_at": "2025-04-07T09:30:00+08:00"}).encode(), "jsonl", BatchMapping())
    assert articles[0].published_at == datetime(2025, 4, 7, 9, 30, tzinfo=timezone(timedelta(hours=8)))
