"""What both spiders share: conditional GETs, article parsing with trafilatura, failure accounting.

A spider crawls ONE source. It gets ``source``, ``config`` and ``redis`` as crawl kwargs. Counters go
to the crawler's stats under ``tallywatch/<name>`` (see ``STAT_NAMES``); ``crawler.run`` turns them
into the plain dict a crawl returns.

Failures never end the run: each is logged, counted (``errors`` plus a specific counter) and the
entry skipped. A *permanent* failure (4xx, oversized, undecodable, robots.txt) marks the entry seen, so
it is not fetched again until the feed entry changes; a *transient* one (5xx, timeout, connection,
Redis) leaves it unseen and also keeps the feed's new ETag/Last-Modified unsaved, so the next crawl
downloads the feed again and retries the entry instead of getting a 304.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import scrapy
import trafilatura
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure
from w3lib.encoding import html_body_declared_encoding, http_content_type_encoding, read_bom, resolve_encoding

from crawler import dedup
from crawler.canonical import canonical_url
from crawler.items import ArticleItem
from tallywatch.config import Config, Source
from tallywatch.models import Article

STAT_PREFIX = "tallywatch/"
STAT_NAMES = (
    "feeds_fetched",  # feed/listing responses with a body (200)
    "not_modified",  # 304s (feed, listing or article page)
    "entries",  # entries/links found in fetched feeds/listings
    "entries_seen",  # entries skipped: seen unchanged before
    "articles_fetched",  # article pages downloaded (200)
    "new",
    "changed",
    "duplicate",
    "unchanged",
    "errors",  # every failure below, once
    "http_errors",
    "malformed_feeds",
    "undecodable",
    "not_html",
    "oversized",
    "download_errors",
    "robots_denied",
    "empty_articles",
    "store_errors",
)
TRANSIENT_STATUSES = {408, 425, 429}
HTML_TYPES = {"text/html", "application/xhtml+xml", "text/xml", "application/xml", "text/plain"}


@dataclass(frozen=True)
class Entry:
    """A feed entry or listing link to follow."""

    key: str  # GUID, else canonical link
    fp: str  # dedup.entry_fingerprint
    link: str
    title: str = ""
    summary: str = ""
    published: datetime | None = None
    guid: str | None = None


def strict_text(response: Response) -> str | None:
    """The page's text, or None when it can't be decoded faithfully: not text at all, bytes invalid in
    the declared charset (HTTP header, BOM or <meta>), or no declaration and not valid UTF-8. A page
    that declares latin-1/windows-1251 and is valid in it is fine; guessing is not."""
    if not isinstance(response, TextResponse):
        return None
    body = response.body
    bom_enc, _ = read_bom(body)
    declared = (
        bom_enc
        or http_content_type_encoding(response.headers.get("Content-Type", b"").decode("latin-1"))
        or html_body_declared_encoding(body)
    )
    encoding = resolve_encoding(declared) if declared else "utf-8"
    if encoding is None:
        return None
    try:
        text = body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None
    return text.lstrip("\ufeff")


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = datetime.combine(date.fromisoformat(value[:10]), time())
        except ValueError:
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def extract_article(html: str, url: str) -> tuple[str, str, datetime | None, bool]:
    """(title, body text, published, published_has_time) from an article page, via trafilatura."""
    doc = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
        date_extraction_params={"extensive_search": False, "original_date": True,
                                "outputformat": "%Y-%m-%dT%H:%M:%S"},
    )
    if doc is None:
        return "", "", None, False
    title = (getattr(doc, "title", None) or "").strip()
    body = (getattr(doc, "text", None) or "").strip()
    raw_date = getattr(doc, "date", None)
    published = _parse_date(raw_date)
    has_time = bool(published and (published.hour, published.minute, published.second) != (0, 0, 0))
    return title, body, published, has_time


class SourceSpider(scrapy.Spider):
    """Base: one source, its Redis, its config. Subclasses implement ``start`` and the listing parse."""

    custom_settings: dict = {}

    def __init__(self, source: Source, config: Config, redis, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.source = source
        self.config = config
        self.redis = redis
        self.transient_failures = 0
        self.pending_validators: tuple[str, str | None, str | None] | None = None
        self._requested: set[str] = set()

    # -- stats ------------------------------------------------------------------------------------
    def inc(self, name: str, n: int = 1) -> None:
        self.crawler.stats.inc_value(STAT_PREFIX + name, n)

    def fail(self, kind: str, url: str, why: str, *, transient: bool, entry: Entry | None = None) -> None:
        """Log and count one failure; a permanent one marks its entry seen."""
        self.inc("errors")
        self.inc(kind)
        self.logger.warning("[%s] %s: %s (%s) — skipped", self.source.id, kind, url, why)
        if transient:
            self.transient_failures += 1
        elif entry is not None:
            self.mark_seen(entry)

    def mark_seen(self, entry: Entry) -> None:
        try:
            dedup.mark_entry_seen(self.redis, self.source.id, entry.key, entry.fp)
        except Exception as e:  # Redis down: the entry is retried next time, which is safe
            self.transient_failures += 1
            self.logger.error("[%s] cannot mark entry %s seen: %s", self.source.id, entry.key, e)

    # -- conditional GET --------------------------------------------------------------------------
    def conditional_headers(self, url: str) -> dict[str, str]:
        validators = dedup.get_http_validators(self.redis, url)
        headers = {}
        if validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        return headers

    @staticmethod
    def validators_of(response: Response) -> tuple[str | None, str | None]:
        def header(name: str) -> str | None:
            v = response.headers.get(name)
            return v.decode("latin-1") if v else None

        return header("ETag"), header("Last-Modified")

    def listing_request(self, url: str, callback) -> scrapy.Request:
        """The feed/listing page: conditional, 304 handled as 'unchanged'."""
        return scrapy.Request(
            url,
            callback=callback,
            errback=self.listing_failed,
            headers=self.conditional_headers(url),
            meta={"handle_httpstatus_list": [304]},
            dont_filter=True,
        )

    def listing_failed(self, failure: Failure) -> None:
        url = failure.request.url if hasattr(failure, "request") else self.source.url
        kind, why, transient = self.classify(failure)
        self.fail(kind, url, why, transient=transient)

    def listing_not_modified(self, response: Response) -> bool:
        if response.status == 304:
            self.inc("not_modified")
            self.logger.info("[%s] %s not modified (304)", self.source.id, response.url)
            return True
        self.inc("feeds_fetched")
        # Saved at close, and only if every entry was decided: see the module docstring.
        etag, last_modified = self.validators_of(response)
        # keyed by the source URL: after a redirect Scrapy carries the conditional headers along
        self.pending_validators = (self.source.url, etag, last_modified)
        return False

    # -- articles ---------------------------------------------------------------------------------
    def follow_entry(self, entry: Entry):
        self.inc("entries")
        if dedup.entry_is_seen(self.redis, self.source.id, entry.key, entry.fp):
            self.inc("entries_seen")
            return None
        try:
            canonical = canonical_url(entry.link)
        except ValueError:
            self.fail("download_errors", entry.link, "not an http(s) link", transient=False, entry=entry)
            return None
        if canonical in self._requested:  # the same article twice in one feed
            self.mark_seen(entry)
            self.inc("entries_seen")
            return None
        self._requested.add(canonical)
        return scrapy.Request(
            entry.link,
            callback=self.parse_article,
            errback=self.article_failed,
            headers=self.conditional_headers(entry.link),
            meta={"handle_httpstatus_list": [304]},
            cb_kwargs={"entry": entry},
        )

    def article_failed(self, failure: Failure) -> None:
        entry: Entry = failure.request.cb_kwargs["entry"]
        kind, why, transient = self.classify(failure)
        self.fail(kind, failure.request.url, why, transient=transient, entry=entry)

    @staticmethod
    def classify(failure: Failure) -> tuple[str, str, bool]:
        """(stat name, reason, transient?) for a failed request."""
        if failure.check(HttpError):
            status = failure.value.response.status
            return "http_errors", f"HTTP {status}", status >= 500 or status in TRANSIENT_STATUSES
        if failure.check(DownloadCancelledError):
            return "oversized", str(failure.value) or "download cancelled (larger than DOWNLOAD_MAXSIZE)", False
        if failure.check(IgnoreRequest):
            return "robots_denied", str(failure.value) or "forbidden by robots.txt", False
        return "download_errors", f"{failure.type.__name__}: {failure.value}", True

    def parse_article(self, response: Response, entry: Entry):
        if response.status == 304:
            self.inc("not_modified")
            self.inc("unchanged")
            self.mark_seen(entry)
            return
        self.inc("articles_fetched")
        ctype = response.headers.get("Content-Type", b"").decode("latin-1").split(";")[0].strip().lower()
        if ctype and ctype not in HTML_TYPES:
            self.fail("not_html", response.url, f"content type {ctype}", transient=False, entry=entry)
            return
        html = strict_text(response)
        if html is None:
            ctype = response.headers.get("Content-Type", b"").decode("latin-1")
            self.fail("undecodable", response.url, f"not decodable text ({ctype or 'no content type'})",
                      transient=False, entry=entry)
            return
        title, body, published, has_time = extract_article(html, response.url)
        if not body:
            self.fail("empty_articles", response.url, "no article text found", transient=False, entry=entry)
            return
        title = title or entry.title
        if published is None or (not has_time and entry.published and entry.published.date() == published.date()):
            published = entry.published or published
        redirected = bool(response.meta.get("redirect_urls"))
        etag, last_modified = (None, None) if redirected else self.validators_of(response)
        yield ArticleItem(
            article=Article(url=canonical_url(response.url), outlet=self.source.outlet, source_id=self.source.id,
                            title=title, body=body, published=published, guid=entry.guid,
                            fetched_at=datetime.now(UTC)),
            fetched_url=response.request.url if not redirected else response.meta["redirect_urls"][0],
            entry_key=entry.key,
            entry_fp=entry.fp,
            etag=etag,
            last_modified=last_modified,
        )

    # -- end of the crawl -------------------------------------------------------------------------
    def closed(self, reason: str) -> None:
        stats = self.crawler.stats
        if self.pending_validators and not self.transient_failures and reason == "finished":
            try:
                dedup.set_http_validators(self.redis, *self.pending_validators)
            except Exception as e:
                self.logger.error("[%s] cannot save HTTP validators: %s", self.source.id, e)
        elif self.pending_validators:
            self.logger.info("[%s] %d transient failure(s) or reason %r: feed validators not saved, "
                             "the next crawl downloads it again", self.source.id, self.transient_failures, reason)
        counters = {name: stats.get_value(STAT_PREFIX + name, 0) for name in STAT_NAMES}
        try:
            dedup.add_stats(self.redis, counters)
        except Exception as e:
            self.logger.error("[%s] cannot update global stats: %s", self.source.id, e)
