from datetime import UTC, datetime

import pytest

from ingest.errors import IngestError
from ingest.pages import page_date, parse_page

ARTICLE = """
<article><h1>Alibaba lifts AI budget</h1>
<p>Alibaba said on Monday it would spend more than planned on cloud and artificial intelligence over three years, its chief executive told investors.</p>
<p>The shares rose in Hong Kong and New York as analysts raised their estimates for the cloud unit.</p>
<p>Rivals including Tencent and Baidu have also raised spending on data centres this year.</p>
</article>"""

BOILER = """<header><nav><a href="/">Home</a><a href="/markets">Markets</a><a href="/tech">Tech</a></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies?</div>
<aside><h3>Most read</h3><ul><li><a href="/1">Oil slips as demand worries linger</a></li>
<li><a href="/2">Ten stocks to watch this week</a></li></ul></aside>
<div class="newsletter">Sign up for our morning newsletter and never miss a market move.</div>
<footer>Copyright 2025 Example Ledger. All rights reserved. Terms. Privacy.</footer>"""


def page(head: str, body_extra: str = "") -> str:
    return f"<html><head><title>Alibaba lifts AI budget | Example Ledger</title>{head}</head><body>{BOILER}{ARTICLE}{body_extra}</body></html>"


def test_main_text_without_boilerplate_and_title():
    art = parse_page(page('<meta property="og:site_name" content="Example Ledger">'), "p.html")
    assert art.title == "Alibaba lifts AI budget"
    assert "spend more than planned" in art.text and "Rivals including Tencent" in art.text
    for junk in ("cookies", "newsletter", "Most read", "Copyright", "Oil slips"):
        assert junk not in art.text
    assert art.source == "Example Ledger"
    assert art.text.count("\n\n") == 2  # three paragraphs


@pytest.mark.parametrize(
    "head, url, expected_source",
    [
        ('<meta property="article:published_time" content="2025-02-24T09:30:00+08:00">', None, "html-meta"),
        ('<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2025-02-24"}</script>', None, "html-meta"),
        ('</head><body><time datetime="2025-02-24T21:10:00-05:00">Feb. 24</time><head>', None, "html-meta"),
        ('<link rel="canonical" href="https://ledger.example/2025/02/24/alibaba-ai">', None, "url"),
        ("", "https://ledger.example/2025/02/24/alibaba-ai", "url"),
    ],
)
def test_publication_date_fallback_chain(head, url, expected_source):
    when, source = page_date(page(head), url)
    assert (when, source) == (datetime(2025, 2, 24, tzinfo=UTC), expected_source)


def test_date_in_visible_text_only():
    when, source = page_date(page("", "<p class='byline'>Published 24 February 2025</p>"), None)
    assert (when, source) == (datetime(2025, 2, 24, tzinfo=UTC), "text")


def test_page_without_any_date_is_undated():
    assert page_date(page(""), None) == (None, "none")


def test_local_page_takes_its_canonical_url_as_identity():
    art = parse_page(page('<link rel="canonical" href="https://ledger.example/2025/02/24/alibaba-ai">'), "p.html")
    assert art.url == "https://ledger.example/2025/02/24/alibaba-ai"


def test_page_without_text_is_an_error_naming_it():
    with pytest.raises(IngestError, match="empty.html"):
        parse_page("<html><body><nav><a href='/'>Home</a></nav></body></html>", "empty.html")
