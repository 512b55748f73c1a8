"""Dedup and storage against a real redis-server: decisions, the stored shape, concurrent claims."""

import json
import threading
from datetime import UTC, datetime

import pytest
import redis

from crawler import dedup
from crawler.dedup import Decision, SeenMark
from tallywatch.models import Article, Figure
from tallywatch.store import (
    ARTICLE_STREAM,
    ARTICLES_INDEX,
    article_key,
    article_versions_key,
    content_claim_key,
    http_cache_key,
    seen_entry_key,
)

WHEN = datetime(2025, 7, 4, 6, 30, tzinfo=UTC)
FIG = Figure(metric="drones_launched", value=539, record=True, sentence="a record 539 drones")


def art(url="https://news.example/kyiv", title="Record attack", body="Russia launched 539 drones.", **kw):
    return Article(url=url, outlet="Example", source_id="ex", title=title, body=body, published=WHEN,
                   fetched_at=WHEN, **kw)


def no_figures(_a):
    return []


def test_new_then_unchanged_then_changed(redis_client):
    r = redis_client
    calls = []

    def figures(a):
        calls.append(a.url)
        return [FIG]

    first = dedup.store_article(r, art(), figures=figures, seen=SeenMark("ex", "guid-1", "fp1"),
                                validators=("https://news.example/kyiv", '"e1"', None), now=100.0)
    assert (first.decision, first.version) == (Decision.NEW, 1)
    aid = first.article_id
    # the stored shape the alerts stage reads
    h = r.hgetall(article_key(aid))
    assert h["url"] == "https://news.example/kyiv" and h["version"] == "1" and h["outlet"] == "Example"
    assert h["published"] == WHEN.isoformat() and h["fingerprint"] == art().fingerprint
    (v1,) = [json.loads(x) for x in r.lrange(article_versions_key(aid), 0, -1)]
    assert v1["version"] == 1 and v1["figures"][0]["value"] == 539 and v1["published"] == WHEN.isoformat()
    assert r.zscore(ARTICLES_INDEX, aid) == 100.0
    assert [f for _, f in r.xrange(ARTICLE_STREAM)] == [{"article_id": aid, "version": "1"}]
    assert r.hget(seen_entry_key("ex"), "guid-1") == "fp1"
    assert r.hget(http_cache_key("https://news.example/kyiv"), "etag") == '"e1"'

    # same text again (whitespace/case differences don't count): nothing written, figures not recomputed
    again = dedup.store_article(r, art(body="  russia launched   539 drones. "), figures=figures)
    assert (again.decision, again.version) == (Decision.UNCHANGED, 1)
    assert r.xlen(ARTICLE_STREAM) == 1 and len(calls) == 1

    changed = dedup.store_article(r, art(body="Russia launched 550 drones."), figures=figures, now=200.0)
    assert (changed.decision, changed.version) == (Decision.CHANGED, 2)
    assert r.llen(article_versions_key(aid)) == 2 and r.hget(article_key(aid), "version") == "2"
    assert r.zscore(ARTICLES_INDEX, aid) == 100.0  # first-seen time kept
    assert [f["version"] for _, f in r.xrange(ARTICLE_STREAM)] == ["1", "2"]

    # back to the first text: its claim is this URL's own, so it's a change (v3), not a duplicate
    back = dedup.store_article(r, art(), figures=figures)
    assert (back.decision, back.version) == (Decision.CHANGED, 3)


def test_verbatim_copy_at_another_url_is_a_duplicate(redis_client):
    r = redis_client
    original = dedup.store_article(r, art(url="https://a.example/story"), figures=no_figures)
    copy = dedup.store_article(r, art(url="https://b.example/syndicated", title="RECORD  attack"),
                               figures=lambda a: pytest.fail("figures extracted for a duplicate"))
    assert original.decision is Decision.NEW
    assert copy.decision is Decision.DUPLICATE and copy.claimed_by == "https://a.example/story"
    assert r.zcard(ARTICLES_INDEX) == 1 and r.xlen(ARTICLE_STREAM) == 1
    assert not r.exists(article_key(copy.article_id))
    assert r.get(content_claim_key(art().fingerprint)) == "https://a.example/story"


def test_entry_seen_marks():
    fp = dedup.entry_fingerprint("https://x/a", "2025-07-04T06:00:00Z", "Title", "Summary")
    assert fp == dedup.entry_fingerprint("https://x/a", "2025-07-04T06:00:00Z", "Title", "Summary")
    assert fp != dedup.entry_fingerprint("https://x/a", "2025-07-04T07:00:00Z", "Title", "Summary")
    assert fp != dedup.entry_fingerprint("https://x/a", "2025-07-04T06:00:00Z", "Title", "Summary 2")


def test_entry_seen_roundtrip(redis_client):
    assert not dedup.entry_is_seen(redis_client, "ex", "guid", "fp")
    dedup.mark_entry_seen(redis_client, "ex", "guid", "fp")
    assert dedup.entry_is_seen(redis_client, "ex", "guid", "fp")
    assert not dedup.entry_is_seen(redis_client, "ex", "guid", "fp2")


def test_failed_figure_extraction_writes_nothing(redis_client):
    def boom(_a):
        raise RuntimeError("extractor crashed")

    with pytest.raises(RuntimeError):
        dedup.store_article(redis_client, art(), figures=boom, seen=SeenMark("ex", "g", "fp"))
    # nothing claimed, nothing seen: the next crawl retries the entry
    assert redis_client.dbsize() == 0


def _race(redis_url, n, make_article):
    barrier = threading.Barrier(n)
    outcomes = [None] * n

    def worker(i):
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        a = make_article(i)
        barrier.wait()
        outcomes[i] = dedup.store_article(client, a, figures=no_figures)
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_concurrent_claims_one_winner(redis_server, redis_client):
    """12 crawlers store the same text under 12 URLs at the same moment: exactly one stores it."""
    outcomes = _race(redis_server.url, 12, lambda i: art(url=f"https://mirror{i}.example/story"))
    decisions = sorted(o.decision.value for o in outcomes)
    assert decisions == ["duplicate"] * 11 + ["new"]
    winner = next(o for o in outcomes if o.decision is Decision.NEW)
    assert {o.claimed_by for o in outcomes if o.claimed_by} == {redis_client.hget(article_key(winner.article_id),
                                                                                "url")}
    assert redis_client.zcard(ARTICLES_INDEX) == 1 and redis_client.xlen(ARTICLE_STREAM) == 1


def test_concurrent_versions_never_collide(redis_server, redis_client):
    """12 crawlers store 12 different texts for one URL at once: versions 1..12, each exactly once."""
    outcomes = _race(redis_server.url, 12, lambda i: art(body=f"Update {i}: Russia launched {500 + i} drones."))
    assert sorted(o.version for o in outcomes) == list(range(1, 13))
    aid = outcomes[0].article_id
    versions = [json.loads(x)["version"] for x in redis_client.lrange(article_versions_key(aid), 0, -1)]
    assert versions == list(range(1, 13))
    assert [f["version"] for _, f in redis_client.xrange(ARTICLE_STREAM)] == [str(v) for v in range(1, 13)]
