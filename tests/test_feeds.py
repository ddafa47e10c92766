"""Each feed flavour feedparser reads, written here as small fixtures."""

from datetime import UTC, datetime

import pytest

from ingest.errors import IngestError
from ingest.feeds import parse_feed

BODY = "<p>Shares of Tencent fell in Hong Kong on Monday after the listing.</p><p>Second paragraph.</p>"

RSS2 = f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Test Wire</title><link>https://wire.example/</link>
<item><title>Tencent added to list</title><link>https://wire.example/a?utm_source=rss</link>
<pubDate>Mon, 06 Jan 2025 21:15:00 -0500</pubDate><description>Short.</description>
<content:encoded><![CDATA[{BODY}<script>alert(1)</script>]]></content:encoded></item>
<item><title>Undated note</title><link>https://wire.example/b</link><description>No date here.</description></item>
</channel></rss>"""

RSS091 = """<?xml version="1.0"?><rss version="0.91"><channel><title>Old Wire</title>
<link>https://old.example/</link><description>d</description><language>en</language>
<item><title>Fed cuts rates</title><link>https://old.example/fed</link>
<description>The Federal Reserve cut its policy rate by half a point.</description></item>
</channel></rss>"""

RSS1 = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="https://ledger.example/"><title>Ledger</title><link>https://ledger.example/</link>
<description>d</description><items><rdf:Seq><rdf:li resource="https://ledger.example/1"/></rdf:Seq></items></channel>
<item rdf:about="https://ledger.example/1"><title>PBoC cuts RRR</title><link>https://ledger.example/1</link>
<dc:date>2024-09-24T10:00:00+08:00</dc:date><description>The central bank cut the reserve requirement ratio; the S&amp;amp;P 500 rose.</description></item>
</rdf:RDF>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Harbour Desk</title><id>urn:x</id><updated>2025-04-09T20:00:00Z</updated>
<entry><title>Tariff pause lifts Nasdaq</title><id>urn:1</id><link href="https://harbour.example/pause"/>
<published>2025-04-09T16:30:00-04:00</published><updated>2025-04-10T08:00:00-04:00</updated>
<summary>Summary.</summary><content type="html">&lt;p&gt;The Nasdaq jumped after the pause was announced, in its best day in years.&lt;/p&gt;</content></entry>
</feed>"""


def test_rss2_item_has_utc_date_clean_text_and_feed_title_as_source():
    feed = parse_feed(RSS2.encode(), "wire.xml")
    first = feed.items[0].article
    assert feed.title == "Test Wire" and first.source == "Test Wire"
    assert first.published_at == datetime(2025, 1, 7, 2, 15, tzinfo=UTC)
    assert first.date_source == "feed" and first.published_precision == "time"
    assert "Tencent fell" in first.text and "alert" not in first.text
    assert "\n\n" in first.text  # paragraphs survive
    assert first.url == "https://wire.example/a"


def test_item_without_date_is_undated_not_now():
    undated = parse_feed(RSS2.encode(), "wire.xml").items[1].article
    assert undated.published_at is None and undated.date_source == "none"


def test_rss091_is_read():
    feed = parse_feed(RSS091.encode(), "old.xml")
    assert [i.article.title for i in feed.items] == ["Fed cuts rates"]


def test_rss1_rdf_dc_date_with_offset():
    item = parse_feed(RSS1.encode(), "ledger.rdf").items[0].article
    assert item.published_at == datetime(2024, 9, 24, 2, 0, tzinfo=UTC)
    assert item.source == "Ledger"
    assert "the S&P 500 rose" in item.text  # escaped plain text is decoded


def test_atom_uses_published_not_updated():
    item = parse_feed(ATOM.encode(), "desk.atom").items[0].article
    assert item.published_at == datetime(2025, 4, 9, 20, 30, tzinfo=UTC)
    assert "Nasdaq jumped" in item.text


def test_summary_only_items_are_marked_for_fetching():
    feed = parse_feed(RSS2.encode(), "wire.xml")
    assert feed.items[0].summary_only is False
    assert feed.items[1].summary_only is True


def test_malformed_feed_keeps_readable_items_with_a_warning():
    broken = RSS2.replace("</channel></rss>", "<item><title>Cut off")  # truncated download
    feed = parse_feed(broken.encode(), "broken.xml")
    assert feed.warnings and "broken.xml" in feed.warnings[0] and "malformed" in feed.warnings[0]
    assert any(i.article.title == "Tencent added to list" for i in feed.items)


def test_garbage_is_an_error_naming_the_source():
    with pytest.raises(IngestError) as err:
        parse_feed(b"<rss><<<>>>", "junk.xml")
    assert "junk.xml" in str(err.value)
