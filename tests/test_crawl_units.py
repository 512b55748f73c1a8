"""Crawler pieces without a network: Scrapy settings, feed entries, strict decoding, listing links."""

from datetime import UTC, datetime

import feedparser
from scrapy.http import HtmlResponse, Response, TextResponse

from crawler.run import REACTOR, scrapy_settings
from crawler.spiders import FeedSpider, ListingSpider, spider_for
from crawler.spiders.base import strict_text
from crawler.spiders.feed import entry_of
from scheduler.newssite import NewsSite
from tallywatch.config import parse_config

CONFIG = parse_config({
    "settings": {"max_page_bytes": 123_456, "user_agent": "tw-test/1.0"},
    "sources": [{"id": "l", "kind": "html", "url": "http://127.0.0.1:1/sections/x/", "schedule": "every 5m",
                 "link_selector": "a.story::attr(href)"}],
})


def test_scrapy_settings_from_config():
    s = scrapy_settings(CONFIG)
    assert s["TWISTED_REACTOR"] == REACTOR
    assert s.getint("DOWNLOAD_MAXSIZE") == 123_456 and 0 < s.getint("DOWNLOAD_WARNSIZE") < 123_456
    assert s["USER_AGENT"] == "tw-test/1.0"
    assert s.getbool("ROBOTSTXT_OBEY") and not s.getbool("HTTPCACHE_ENABLED")
    assert s.getint("RETRY_TIMES") <= 2 and s.getint("DOWNLOAD_TIMEOUT") <= 60
    assert s.getint("CONCURRENT_REQUESTS_PER_DOMAIN") <= 4 and s.getfloat("DOWNLOAD_DELAY") > 0
    assert s["LOG_LEVEL"] == "INFO"
    assert not s.getbool("REMOTE_CONTROL_ENABLED") and not s.getbool("TELNETCONSOLE_ENABLED")
    assert "crawler.pipelines.StorePipeline" in s.getdict("ITEM_PIPELINES")
    fast = scrapy_settings(CONFIG, {"DOWNLOAD_DELAY": "0", "AUTOTHROTTLE_ENABLED": "0"})
    assert fast.getfloat("DOWNLOAD_DELAY") == 0 and not fast.getbool("AUTOTHROTTLE_ENABLED")
    fixed = scrapy_settings(parse_config({"settings": {"download_delay": 0}}))
    assert fixed.getfloat("DOWNLOAD_DELAY") == 0 and not fixed.getbool("AUTOTHROTTLE_ENABLED")
    assert spider_for("rss") is FeedSpider and spider_for("atom") is FeedSpider
    assert spider_for("html") is ListingSpider


RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title><link>http://news.test/</link>
<item><title>Kyiv &amp; Odesa hit</title><link>/world/kyiv?utm_source=rss</link><guid isPermaLink="false">g-1</guid>
<pubDate>Fri, 04 Jul 2025 06:30:00 GMT</pubDate>
<description>&lt;p&gt;At least &lt;b&gt;23&lt;/b&gt; hurt&lt;/p&gt;</description></item>
<item><title>No guid</title><link>http://news.test/world/b#top</link></item>
<item><title>No link</title></item>
</channel></rss>"""


def test_feed_entries():
    parsed = feedparser.parse(RSS, response_headers={"content-location": "http://news.test/feeds/all.xml"})
    a, b, c = (entry_of(e) for e in parsed.entries)
    assert a.key == "g-1" and a.guid == "g-1" and a.link == "http://news.test/world/kyiv?utm_source=rss"
    assert a.title == "Kyiv & Odesa hit" and a.summary == "At least  23  hurt"
    assert a.published == datetime(2025, 7, 4, 6, 30, tzinfo=UTC)
    assert b.key == "http://news.test/world/b" and b.guid is None and b.published is None
    assert c is None
    # the entry fingerprint moves with what the feed says about the entry
    changed = feedparser.parse(RSS.replace(b"23", b"26"), response_headers={
        "content-location": "http://news.test/feeds/all.xml"})
    assert entry_of(changed.entries[0]).fp != a.fp and entry_of(changed.entries[1]).fp == b.fp


def _resp(body: bytes, ctype: str | None, cls=HtmlResponse):
    headers = {"Content-Type": ctype} if ctype else {}
    return cls(url="http://news.test/a", body=body, headers=headers)


def test_strict_text_decoding():
    cafe = "<html><body><p>Café in Dnipro</p></body></html>"
    assert strict_text(_resp(cafe.encode(), "text/html; charset=utf-8")) == cafe
    assert strict_text(_resp(cafe.encode(), "text/html")) == cafe  # undeclared, valid UTF-8
    assert strict_text(_resp(cafe.encode("latin-1"), "text/html; charset=iso-8859-1")) == cafe
    meta = '<html><head><meta charset="windows-1251"></head><body>Київ</body></html>'
    assert "Київ" in strict_text(_resp(meta.encode("cp1251"), "text/html"))
    assert strict_text(_resp(cafe.encode("latin-1"), "text/html; charset=utf-8")) is None  # mis-declared
    assert strict_text(_resp(cafe.encode("latin-1"), "text/html")) is None  # undeclared, not UTF-8
    assert strict_text(_resp(b"\xef\xbb\xbf" + cafe.encode(), "text/html")) == cafe  # BOM
    assert strict_text(Response(url="http://news.test/a.pdf", body=b"%PDF")) is None
    assert strict_text(_resp(b"plain words", "text/plain", TextResponse)) == "plain words"


def test_listing_links_and_their_text():
    site = NewsSite()
    try:
        site.add_article("/local/a", "Sirens over Kyiv", "x", feed="local")
        body = site.render_listing("local")
    finally:
        site.stop()
    resp = HtmlResponse(url="http://127.0.0.1:1/sections/local/", body=body, headers={"Content-Type": "text/html"})
    by_href = ListingSpider(source=CONFIG.source("l"), config=CONFIG, redis=None).links(resp)
    assert by_href == [("/local/a", "Sirens over Kyiv")]
    elements = CONFIG.source("l").__class__(**{**CONFIG.source("l").__dict__, "link_selector": "li.story-card"})
    assert ListingSpider(source=elements, config=CONFIG, redis=None).links(resp) == [("/local/a", "Sirens over Kyiv")]
