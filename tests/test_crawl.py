"""End-to-end crawls: Scrapy really crawling the local news site (scheduler/newssite.py) into a real Redis.

Crawls run in subprocesses, a Twisted reactor can't be restarted in one process: most in one crawl
worker (``python -m crawler.run --serve``), the concurrency and kill tests in their own
``python -m crawler.run`` processes. Politeness delays are switched off with ``--set`` for the loopback site.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.newssite import NewsSite, site_from_corpus
from tallywatch.models import Article
from tallywatch.store import (
    ARTICLE_STREAM,
    ARTICLES_INDEX,
    STATS_KEY,
    article_key,
    article_versions_key,
    http_cache_key,
    seen_entry_key,
)

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--set", "DOWNLOAD_DELAY=0", "--set", "AUTOTHROTTLE_ENABLED=0"]


def write_config(path: Path, sources: list[dict], **settings) -> Path:
    lines = ["[settings]"]
    for k, v in {"data_dir": str(path.parent / "data"), **settings}.items():
        lines.append(f"{k} = {json.dumps(v)}")
    for s in sources:
        lines.append("\n[[sources]]")
        for k, v in {"schedule": "every 10m", **s}.items():
            lines.append(f"{k} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


class CrawlWorker:
    """``python -m crawler.run --serve``: one process (one reactor) running crawls on request, so the
    tests pay Python/Scrapy start-up once. Its log goes to a file; ``crawl`` returns the new part."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.log = open(log_path, "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "crawler.run", "--serve", *FAST], cwd=ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def crawl(self, config: Path, redis_url: str, *source_ids: str) -> tuple[dict, str]:
        offset = self.log_path.stat().st_size
        self.proc.stdin.write(json.dumps({"config": str(config), "redis_url": redis_url,
                                          "sources": list(source_ids)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        log = self.log_path.read_text()[offset:]
        assert line, f"crawl worker died: {log[-4000:]}"
        reply = json.loads(line)
        assert reply["ok"], reply["error"] + "\n" + log[-4000:]
        return reply["stats"], log

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    w = CrawlWorker(tmp_path_factory.mktemp("crawl") / "worker.log")
    yield w
    w.stop()


def paragraphs(topic: str, n: int = 4) -> str:
    return "\n".join(
        f"{topic}: paragraph {i}. Officials in the region said the overnight strikes damaged residential "
        f"buildings and power lines, and that emergency crews worked through the morning to reach people "
        f"trapped under rubble while air raid sirens sounded again across the city." for i in range(1, n + 1)
    )


def stored(r) -> dict[str, dict]:
    """url -> article hash, for every stored article."""
    return {h["url"]: h for h in (r.hgetall(article_key(aid)) for aid in r.zrange(ARTICLES_INDEX, 0, -1))}


@pytest.fixture
def seed_site(seed_dir):
    site = site_from_corpus(seed_dir, feed="news", kind="rss")
    yield site
    site.stop()


def test_seed_feed_dedup_304_and_new_version(seed_site: NewsSite, worker, redis_server, redis_client, tmp_path):
    r = redis_client
    feed_path = seed_site.feed_path("news")
    config = write_config(tmp_path / "tw.toml", [
        {"id": "seed", "outlet": "Seed News", "kind": "rss", "url": seed_site.feed_url("news")},
    ])

    # 1st crawl: 5 entries, 4 articles stored, the verbatim Sky copy dropped as a duplicate
    stats, log = worker.crawl(config, redis_server.url, "seed")
    s = stats["seed"]
    assert (s["feeds_fetched"], s["entries"], s["articles_fetched"]) == (1, 5, 5), s
    assert (s["new"], s["duplicate"], s["changed"], s["unchanged"], s["errors"]) == (4, 1, 0, 0, 0), s
    assert s["bytes"] > 10_000
    urls = stored(r)
    assert len(urls) == 4
    sky = [u for u in urls if "sky-live-biggest-attack" in u]
    assert len(sky) == 1, "exactly one of the Sky original/copy is stored"
    assert "verbatim copy" in log
    stream = [f for _, f in r.xrange(ARTICLE_STREAM)]
    assert len(stream) == 4 and all(f["version"] == "1" for f in stream)
    assert {f["article_id"] for f in stream} == set(r.zrange(ARTICLES_INDEX, 0, -1))

    # what was stored: extracted text without the page chrome, feed date, figures from the extractor
    cnn_url = seed_site.url("/cnn-record-drones")
    cnn = Article.from_dict(json.loads(r.lindex(article_versions_key(Article(cnn_url, "", "", "", "").id), 0)))
    assert cnn.title.startswith("Russia launches record number of drones")
    assert "539" in cnn.body
    for chrome in ("Most read", "Sign up to the Morning Briefing", "All rights reserved", "We use cookies"):
        assert chrome not in cnn.body
    assert cnn.published == datetime(2025, 7, 4, 6, 0, tzinfo=UTC)
    assert cnn.outlet == "Seed News" and cnn.source_id == "seed" and cnn.guid
    assert cnn.fetched_at is not None and cnn.version == 1
    assert any(f.metric == "drones_launched" and f.value == 539 for f in cnn.figures), cnn.figures
    assert r.hlen(seen_entry_key("seed")) == 5
    assert r.hget(http_cache_key(seed_site.feed_url("news")), "etag")
    assert int(r.hget(STATS_KEY, "new")) == 4

    # 2nd crawl, nothing changed: the feed costs a 304, no article is requested, nothing new
    seed_site.reset_counters()
    stats, _ = worker.crawl(config, redis_server.url, "seed")
    s = stats["seed"]
    assert (s["not_modified"], s["feeds_fetched"], s["entries"], s["articles_fetched"]) == (1, 0, 0, 0), s
    assert (s["new"], s["changed"], s["duplicate"], s["errors"]) == (0, 0, 0, 0), s
    assert seed_site.statuses[feed_path] == [304]
    assert "If-None-Match" in seed_site.request_headers[feed_path][0]
    assert set(seed_site.requests) == {feed_path, "/robots.txt"}
    assert r.xlen(ARTICLE_STREAM) == 4

    # 3rd crawl: CNN updates its story (the feed entry's <updated> moves) and a new story appears
    seed_site.reset_counters()
    cnn_site = seed_site.article("/cnn-record-drones")
    seed_site.update_article("/cnn-record-drones", body=cnn_site.body + "\nUpdate: the toll rose to 26 injured.")
    seed_site.add_article("/kharkiv-strike", "Glide bombs hit Kharkiv", paragraphs("Kharkiv"),
                          published="2025-07-05T05:00:00+00:00", feed="news")
    stats, _ = worker.crawl(config, redis_server.url, "seed")
    s = stats["seed"]
    assert (s["feeds_fetched"], s["entries"], s["entries_seen"], s["articles_fetched"]) == (1, 6, 4, 2), s
    assert (s["new"], s["changed"], s["duplicate"], s["unchanged"], s["errors"]) == (1, 1, 0, 0, 0), s
    assert set(seed_site.requests) == {feed_path, "/robots.txt", "/cnn-record-drones", "/kharkiv-strike"}
    cnn_id = Article(cnn_url, "", "", "", "").id
    assert r.llen(article_versions_key(cnn_id)) == 2
    v2 = Article.from_dict(json.loads(r.lindex(article_versions_key(cnn_id), 1)))
    assert v2.version == 2 and "toll rose to 26 injured" in v2.body
    assert r.hget(article_key(cnn_id), "version") == "2"
    tail = [f for _, f in r.xrange(ARTICLE_STREAM)][4:]
    assert {"article_id": cnn_id, "version": "2"} in tail and len(tail) == 2


def test_faults_are_logged_counted_and_skipped(news_site: NewsSite, worker, redis_server, redis_client,
                                               tmp_path):
    site, r = news_site, redis_client
    good = site.add_article("/world/good", "Drones shot down over Kyiv", paragraphs("Kyiv"), feed="mixed")
    site.add_article("/world/broken", "Server error story", paragraphs("Odesa"), feed="mixed")
    site.set_raw("/world/broken", status=500, body=b"<h1>Internal Server Error</h1>")
    site.add_article("/world/gone", "Deleted story", paragraphs("Lviv"), feed="mixed")
    site.set_raw("/world/gone", status=404, body=b"<h1>Not found</h1>")
    site.add_article("/world/cafe", "Café in Dnipro hit by a drone", paragraphs("Café Dnipro"), feed="mixed",
                     charset="iso-8859-1")  # declared and valid latin-1: fine
    site.add_article("/world/mislabelled", "Mislabelled page", "x", feed="mixed")
    page = f"<html><body><article><h1>Zaporizhzhia</h1><p>{paragraphs('Zaporizhzhia à é ü')}</p>" \
           f"</article></body></html>"
    site.set_raw("/world/mislabelled", body=page.encode("latin-1"), content_type="text/html; charset=utf-8")
    site.add_article("/world/huge", "Huge page", "x", feed="mixed")
    site.set_raw("/world/huge", body=b"<html><body><p>" + b"padding " * 40_000 + b"</p></body></html>")
    site.add_article("/world/streamed", "Huge page without a length", "x", feed="mixed")
    site.set_raw("/world/streamed", body=b"<html><body><p>" + b"padding " * 40_000 + b"</p></body></html>",
                 content_length=False)
    site.add_article("/world/pdf", "A PDF", "x", feed="mixed")
    site.set_raw("/world/pdf", body=b"%PDF-1.4 ...", content_type="application/pdf")
    site.add_article("/world/moved", "Moved story", "x", feed="mixed")
    site.set_raw("/world/moved", status=301, headers={"Location": "/world/target?utm_source=rss"})
    target = site.add_article("/world/target", "Shelling in Kherson", paragraphs("Kherson"), feed=None)
    # a second source whose feed is broken XML, an Atom source and an html listing source
    site.set_raw("/feeds/broken.xml", body=b"<?xml version='1.0'?><rss version='2.0'><channel><title>Oops"
                 b"</title><item><title>Cut off</item></channel>", content_type="application/rss+xml")
    site.add_feed("wire", kind="atom")
    site.add_article("/wire/odesa", "Port of Odesa struck overnight", paragraphs("Odesa port"), feed="wire")
    site.add_article("/local/one", "Air defence active over Sumy", paragraphs("Sumy"), feed="local")
    site.add_article("/local/two", "Sirens in Chernihiv", paragraphs("Chernihiv"), feed="local")
    config = write_config(tmp_path / "tw.toml", [
        {"id": "mixed", "kind": "rss", "url": site.feed_url("mixed")},
        {"id": "broken", "kind": "rss", "url": site.url("/feeds/broken.xml")},
        {"id": "wire", "kind": "atom", "url": site.feed_url("wire")},
        {"id": "local", "kind": "html", "url": site.listing_url("local"), "link_selector": "a.story"},
    ], max_page_bytes=100_000)

    stats, log = worker.crawl(config, redis_server.url, "mixed", "broken", "wire", "local")
    m = stats["mixed"]
    assert m["entries"] == 9 and m["new"] == 3, m
    assert (m["http_errors"], m["undecodable"], m["oversized"], m["not_html"], m["errors"]) == (2, 1, 2, 1, 6), m
    assert site.requests["/world/broken"] == 2  # one retry for a 5xx, then skipped
    assert site.requests["/world/gone"] == 1
    urls = stored(r)
    assert good in urls and site.url("/world/cafe") in urls
    assert target in urls and site.url("/world/moved") not in urls  # stored under the redirect's target
    cafe = json.loads(r.lindex(article_versions_key(Article(site.url("/world/cafe"), "", "", "", "").id), 0))
    assert cafe["title"] == "Café in Dnipro hit by a drone" and "Café Dnipro" in cafe["body"]
    for message in ("HTTP 500", "HTTP 404", "undecodable", "oversized", "malformed_feeds"):
        assert message in log, message
    b = stats["broken"]
    assert (b["malformed_feeds"], b["errors"], b["entries"], b["new"]) == (1, 1, 0, 0), b
    w = stats["wire"]
    assert (w["entries"], w["new"], w["errors"]) == (1, 1, 0), w
    loc = stats["local"]
    assert (loc["entries"], loc["new"], loc["errors"]) == (2, 2, 0), loc
    # from the listing only the selected same-origin story links: no nav, footer, pager or partner links
    assert {p for p in site.requests if not p.startswith(("/feeds/", "/world/", "/wire/"))} == {
        "/robots.txt", "/sections/local/", "/local/one", "/local/two"}
    assert len(stored(r)) == 6
    # permanent failures are marked seen; the transient 500 is not, and the feed's validators were
    # not saved, so the next crawl downloads the feed again instead of getting a 304
    seen = r.hgetall(seen_entry_key("mixed"))
    assert len(seen) == 8
    assert not r.exists(http_cache_key(site.feed_url("mixed")))
    assert r.exists(http_cache_key(site.feed_url("wire")))

    # the server recovers: the 500 entry is retried and stored; the 404 is not asked for again
    site.clear_raw("/world/broken")
    site.reset_counters()
    stats, _ = worker.crawl(config, redis_server.url, "mixed", "broken")
    m = stats["mixed"]
    assert (m["feeds_fetched"], m["entries_seen"], m["new"], m["errors"]) == (1, 8, 1, 0), m
    assert set(site.requests) == {"/robots.txt", "/feeds/mixed.xml", "/world/broken", "/feeds/broken.xml"}
    assert r.exists(http_cache_key(site.feed_url("mixed")))
    assert stats["broken"]["malformed_feeds"] == 1  # still broken, still counted, never fatal



def test_concurrent_crawls_store_each_text_once(news_site: NewsSite, redis_server, redis_client, tmp_path):
    """Two crawl processes at once over two feeds that share four stories (same URLs) and carry one
    text at two URLs: every text is stored exactly once, as version 1, with one stream entry."""
    site, r = news_site, redis_client
    text = paragraphs("Kyiv record night", 6)
    site.add_article("/a/original", "Record night over Kyiv", text, feed="a")
    site.add_article("/b/syndicated", "Record night over Kyiv", text, feed="b")
    for i in range(4):
        site.add_article(f"/shared/story-{i}", f"Shared story {i}", paragraphs(f"Story {i}"), feed=["a", "b"])
    config = write_config(tmp_path / "tw.toml", [
        {"id": "a", "kind": "rss", "url": site.feed_url("a")},
        {"id": "b", "kind": "rss", "url": site.feed_url("b")},
    ])
    procs = [
        subprocess.Popen([sys.executable, "-m", "crawler.run", "--config", str(config), "--redis-url",
                          redis_server.url, *FAST, "--source", sid], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for sid in ("a", "b")
    ]
    results = {}
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-3000:]
        results.update(json.loads(out))
    totals = {k: sum(s[k] for s in results.values()) for k in ("new", "changed", "duplicate", "unchanged", "errors")}
    # whatever the interleaving: 5 texts stored once; the loser of each race sees unchanged/duplicate
    assert totals == {"new": 5, "changed": 0, "duplicate": 1, "unchanged": 4, "errors": 0}, results
    urls = stored(r)
    assert len(urls) == 5
    assert (site.url("/a/original") in urls) != (site.url("/b/syndicated") in urls)
    assert r.xlen(ARTICLE_STREAM) == 5
    assert all(f["version"] == "1" for _, f in r.xrange(ARTICLE_STREAM))
    assert all(h["version"] == "1" for h in urls.values())


def test_killed_crawl_loses_nothing(news_site: NewsSite, worker, redis_server, redis_client, tmp_path):
    """kill -9 in the middle of a crawl: what was stored stays stored and seen, the entry in flight is
    not marked seen and the feed's validators were never saved, so the next crawl picks it up."""
    site, r = news_site, redis_client
    site.add_article("/n/one", "Strike on Kyiv", paragraphs("Kyiv"), feed="n")
    site.add_article("/n/two", "Strike on Odesa", paragraphs("Odesa"), feed="n")
    slow = site.add_article("/n/slow", "Strike on Kharkiv", paragraphs("Kharkiv"), feed="n")
    site.set_raw("/n/slow", body=b"", delay=60)  # the server hangs on this one
    config = write_config(tmp_path / "tw.toml", [{"id": "n", "kind": "rss", "url": site.feed_url("n")}])
    proc = subprocess.Popen([sys.executable, "-m", "crawler.run", "--config", str(config), "--redis-url",
                             redis_server.url, *FAST, "--source", "n"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not (r.zcard(ARTICLES_INDEX) == 2 and site.requests_started["/n/slow"]):
            time.sleep(0.05)
        assert r.zcard(ARTICLES_INDEX) == 2 and site.requests_started["/n/slow"] == 1
    finally:
        proc.kill()
        proc.wait(10)
    assert r.hlen(seen_entry_key("n")) == 2
    assert not r.exists(http_cache_key(site.feed_url("n")))

    site.clear_raw("/n/slow")
    site.reset_counters()
    stats, _ = worker.crawl(config, redis_server.url, "n")
    s = stats["n"]
    assert (s["feeds_fetched"], s["entries"], s["entries_seen"], s["new"], s["errors"]) == (1, 3, 2, 1, 0), s
    assert slow in stored(r) and r.xlen(ARTICLE_STREAM) == 3
    assert "/n/one" not in site.requests and "/n/two" not in site.requests


def test_listing_refetches_an_article_when_its_headline_changes(news_site: NewsSite, worker, redis_server,
                                                                redis_client, tmp_path):
    site, r = news_site, redis_client
    url = site.add_article("/local/a", "Sirens over Kyiv", paragraphs("Kyiv"), feed="local")
    config = write_config(tmp_path / "tw.toml", [
        {"id": "local", "kind": "html", "url": site.listing_url("local"), "link_selector": "a.story::attr(href)"},
    ])
    s = worker.crawl(config, redis_server.url, "local")[0]["local"]
    assert (s["entries"], s["new"]) == (1, 1), s
    site.update_article("/local/a", title="Sirens over Kyiv: two injured", body=paragraphs("Kyiv update"))
    s = worker.crawl(config, redis_server.url, "local")[0]["local"]
    assert (s["entries"], s["entries_seen"], s["changed"]) == (1, 0, 1), s
    assert stored(r)[url]["title"] == "Sirens over Kyiv: two injured" and stored(r)[url]["version"] == "2"
    # a listing says nothing else about an article: a body-only change is not seen from it
    site.update_article("/local/a", body=paragraphs("Kyiv second update"))
    s = worker.crawl(config, redis_server.url, "local")[0]["local"]
    assert (s["entries"], s["entries_seen"], s["changed"]) == (1, 1, 0), s
