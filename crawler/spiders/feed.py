"""RSS/Atom sources: conditional GET of the feed, feedparser, then each new or changed entry's page."""

from __future__ import annotations

import html as html_lib
import re
from datetime import UTC, datetime

import feedparser
from scrapy.http import Response

from crawler import dedup
from crawler.canonical import canonical_url
from crawler.spiders.base import Entry, SourceSpider

# bozo exceptions that don't make a feed unusable: feedparser recovered with certainty
BENIGN_BOZO = (feedparser.CharacterEncodingOverride, feedparser.NonXMLContentType)
_TAGS = re.compile(r"<[^>]+>")


def _own(entry, key: str):
    """``entry[key]`` without feedparser's deprecated updated->published fallback (we do our own)."""
    return dict.get(entry, key)


def _entry_datetime(entry) -> datetime | None:
    parsed = _own(entry, "published_parsed") or _own(entry, "updated_parsed")
    if not parsed:
        return None
    try:
        return datetime(*parsed[:6], tzinfo=UTC)
    except (TypeError, ValueError):
        return None


def _plain(text: str | None) -> str:
    return html_lib.unescape(_TAGS.sub(" ", text or "")).strip()


def entry_of(raw) -> Entry | None:
    """An ``Entry`` from a feedparser entry, or None when it has no link to follow."""
    link = (raw.get("link") or "").strip()
    if not link:
        return None
    guid = (raw.get("id") or "").strip() or None
    try:
        key = guid or canonical_url(link)
    except ValueError:
        key = link
    updated = _own(raw, "updated") or _own(raw, "published") or ""
    title = _plain(raw.get("title"))
    summary = raw.get("summary") or ""
    return Entry(
        key=key,
        fp=dedup.entry_fingerprint(link, updated, title, summary),
        link=link,
        title=title,
        summary=_plain(summary),
        published=_entry_datetime(raw),
        guid=guid,
    )


class FeedSpider(SourceSpider):
    name = "tallywatch-feed"

    async def start(self):
        yield self.listing_request(self.source.url, self.parse_feed)

    def parse_feed(self, response: Response):
        if self.listing_not_modified(response):
            return
        headers = {k.decode("latin-1").lower(): b",".join(v).decode("latin-1")
                   for k, v in response.headers.items()}
        headers.setdefault("content-location", response.url)
        parsed = feedparser.parse(response.body, response_headers=headers)
        if parsed.get("bozo") and not isinstance(parsed.get("bozo_exception"), BENIGN_BOZO):
            self.pending_validators = None  # malformed: look again next time
            self.fail("malformed_feeds", response.url, f"{type(parsed.bozo_exception).__name__}: "
                      f"{parsed.bozo_exception}", transient=False)
            return
        if not parsed.get("version") and not parsed.entries:
            self.pending_validators = None
            self.fail("malformed_feeds", response.url, "not an RSS/Atom feed", transient=False)
            return
        self.logger.info("[%s] feed %s: %d entries", self.source.id, response.url, len(parsed.entries))
        for raw in parsed.entries:
            entry = entry_of(raw)
            if entry is None:
                self.inc("entries")
                self.logger.info("[%s] entry without a link skipped: %r", self.source.id, raw.get("title"))
                continue
            request = self.follow_entry(entry)
            if request is not None:
                yield request
