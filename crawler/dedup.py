"""Deduplication and storage of article versions in Redis.

Three layers, cheapest first:

1. feed entries: ``seen_entry_key(source_id)`` maps an entry key (GUID, else canonical link) to a
   fingerprint of what the feed says about it (link, updated, title, summary). An entry already seen
   unchanged is not fetched again. It is marked seen only once its article has been decided (stored,
   found duplicate/unchanged, or permanently failed), so a crash mid-crawl loses nothing.
2. content claims: ``content_claim_key(fp)`` holds the canonical URL that first published exactly this
   text. A different URL with the same fingerprint is a verbatim copy: dropped as a duplicate.
3. versions: the article hash keeps the latest fingerprint; same text -> unchanged, new text -> a new
   version (previous + 1).

``store_article`` makes the decision and the write one optimistic transaction (WATCH the claim and
the article hash, decide, MULTI/EXEC): if a concurrent crawl touches either key in between, EXEC
fails and the decision is made again, so two crawls can never both claim the same content or both
write version n.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import redis

from tallywatch.models import Article, Figure
from tallywatch.store import (
    ARTICLE_STREAM,
    ARTICLES_INDEX,
    STATS_KEY,
    article_key,
    article_versions_key,
    content_claim_key,
    http_cache_key,
    seen_entry_key,
)


class Decision(StrEnum):
    NEW = "new"  # first version of an article
    CHANGED = "changed"  # same URL, new text: stored as version n+1
    DUPLICATE = "duplicate"  # this exact text is claimed by another URL
    UNCHANGED = "unchanged"  # same URL, same text as its latest version


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    article_id: str
    version: int  # the stored version for NEW/CHANGED, the latest version for UNCHANGED, 0 for DUPLICATE
    claimed_by: str | None = None  # for DUPLICATE: the canonical URL that owns the text

    @property
    def stored(self) -> bool:
        return self.decision in (Decision.NEW, Decision.CHANGED)


def _sha(*parts: str | None) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update((p or "").encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()[:32]


def entry_fingerprint(link: str | None, updated: str | None, title: str | None, summary: str | None) -> str:
    """What the feed says about an entry; when it changes, the article is fetched again."""
    return _sha(link, updated, title, summary)


def entry_is_seen(r: redis.Redis, source_id: str, entry_key: str, entry_fp: str) -> bool:
    return r.hget(seen_entry_key(source_id), entry_key) == entry_fp


def mark_entry_seen(r: redis.Redis | redis.client.Pipeline, source_id: str, entry_key: str, entry_fp: str):
    return r.hset(seen_entry_key(source_id), entry_key, entry_fp)


def get_http_validators(r: redis.Redis, url: str) -> dict[str, str]:
    """{etag, last_modified} stored for ``url`` (either may be missing)."""
    return {k: v for k, v in r.hgetall(http_cache_key(url)).items() if v}


def set_http_validators(r: redis.Redis | redis.client.Pipeline, url: str, etag: str | None,
                        last_modified: str | None):
    mapping = {k: v for k, v in (("etag", etag), ("last_modified", last_modified)) if v}
    if mapping:
        r.delete(http_cache_key(url))
        r.hset(http_cache_key(url), mapping=mapping)


@dataclass(frozen=True)
class SeenMark:
    """Mark a feed entry seen in the same transaction that stores its article."""

    source_id: str
    entry_key: str
    entry_fp: str


def store_article(
    r: redis.Redis,
    article: Article,
    *,
    figures: Callable[[Article], list[Figure]] | None = None,
    seen: SeenMark | None = None,
    validators: tuple[str, str | None, str | None] | None = None,
    now: float | None = None,
    max_attempts: int = 50,
) -> Outcome:
    """Decide what ``article`` (canonical ``url``, text, no version yet) is and store it if it's new.

    For NEW/CHANGED, one MULTI/EXEC writes: the content claim, RPUSH of the version JSON (with
    ``figures(article)`` computed once), HSET of the article hash, ZADD NX into the index, XADD
    {"article_id", "version"} to the stream, and optionally the feed-entry seen mark and the page's
    HTTP validators (``validators`` = (url, etag, last_modified)). For DUPLICATE/UNCHANGED nothing is
    written here (the caller marks the entry seen). ``article.version``/``.figures`` are set in place.
    """
    aid = article.id
    fp = article.fingerprint
    claim = content_claim_key(fp)
    akey = article_key(aid)
    computed_figures: list[Figure] | None = None
    with r.pipeline(transaction=True) as pipe:
        for _ in range(max_attempts):
            try:
                pipe.watch(claim, akey)
                claimed = pipe.get(claim)
                if claimed is not None and claimed != article.url:
                    pipe.unwatch()
                    return Outcome(Decision.DUPLICATE, aid, 0, claimed_by=claimed)
                latest_fp, latest_version = pipe.hmget(akey, "fingerprint", "version")
                latest_version = int(latest_version or 0)
                if latest_fp == fp:
                    pipe.unwatch()
                    return Outcome(Decision.UNCHANGED, aid, latest_version)
                version = latest_version + 1
                if computed_figures is None:
                    computed_figures = list(figures(article)) if figures else list(article.figures)
                article.version = version
                article.figures = computed_figures
                pipe.multi()
                if claimed is None:
                    pipe.set(claim, article.url, nx=True)
                pipe.rpush(article_versions_key(aid), json.dumps(article.to_dict(), ensure_ascii=False))
                pipe.hset(
                    akey,
                    mapping={
                        "url": article.url,
                        "outlet": article.outlet,
                        "source_id": article.source_id,
                        "title": article.title,
                        "version": version,
                        "fingerprint": fp,
                        "published": article.published.isoformat() if article.published else "",
                    },
                )
                pipe.zadd(ARTICLES_INDEX, {aid: now if now is not None else time.time()}, nx=True)
                pipe.xadd(ARTICLE_STREAM, {"article_id": aid, "version": str(version)})
                if seen:
                    mark_entry_seen(pipe, seen.source_id, seen.entry_key, seen.entry_fp)
                if validators:
                    set_http_validators(pipe, *validators)
                pipe.execute()
                return Outcome(Decision.NEW if version == 1 else Decision.CHANGED, aid, version)
            except redis.WatchError:
                continue  # someone touched the claim or the article meanwhile: decide again
    raise RuntimeError(f"could not store article {article.url} after {max_attempts} attempts")


def add_stats(r: redis.Redis, counters: dict[str, int]) -> None:
    """Add one crawl's counters to the global ``STATS_KEY`` hash."""
    counters = {k: int(v) for k, v in counters.items() if isinstance(v, int) and v}
    if not counters:
        return
    with r.pipeline(transaction=True) as pipe:
        for k, v in counters.items():
            pipe.hincrby(STATS_KEY, k, v)
        pipe.execute()
