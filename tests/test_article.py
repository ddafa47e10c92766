from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingest.article import build_article, canonical_url, content_hash, make_article_id


def test_canonical_url_drops_tracking_and_fragment_and_sorts_query():
    a = canonical_url("HTTPS://News.Example:443/story/?utm_source=rss&b=2&a=1&fbclid=x#top")
    assert a == "https://news.example/story?a=1&b=2"


def test_same_story_from_feed_and_newsletter_gets_one_id():
    feed = make_article_id("https://news.example/a?utm_medium=feed", "text one")
    mail = make_article_id("https://news.example/a?utm_campaign=daily&mc_cid=9", "other text")
    assert feed == mail


def test_id_falls_back_to_normalised_text_without_url():
    a = make_article_id(None, "Tariffs  rose\non Monday.", "Title")
    b = make_article_id(None, "tariffs rose on monday.", "TITLE")
    c = make_article_id(None, "Tariffs fell on Monday.", "Title")
    assert a == b and a != c


def test_content_hash_ignores_whitespace_and_case_only():
    assert content_hash("A  b\nC") == content_hash("a b c")
    assert content_hash("a b c") != content_hash("a b d")


def test_published_at_is_converted_to_utc():
    hk = timezone(timedelta(hours=8))
    art = build_article(url="https://x.example/1", source="s", title="t", text="body",
                        published_at=datetime(2025, 4, 7, 9, 30, tzinfo=hk), date_source="feed")
    assert art.published_at == datetime(2025, 4, 7, 1, 30, tzinfo=UTC)


def test_missing_date_is_null_with_source_none_never_now():
    art = build_article(url=None, source="s", title="t", text="body", published_at=None, date_source="feed")
    assert art.published_at is None and art.date_source == "none"


def test_unknown_date_source_is_rejected():
    with pytest.raises(ValueError):
        build_article(url=None, source="s", title="t", text="x", published_at=None, date_source="guess")
