"""What the spiders hand to the pipelines: one fetched article page, already parsed."""

from __future__ import annotations

from dataclasses import dataclass

from tallywatch.models import Article


@dataclass
class ArticleItem:
    article: Article  # canonical URL, outlet, source, title, body, published, guid, fetched_at
    fetched_url: str  # the URL actually fetched (after redirects)
    # the feed entry (or listing link) this article came from; marked seen once the article is decided
    entry_key: str | None = None
    entry_fp: str | None = None
    # the page's HTTP validators, stored with the version so the next fetch can be conditional
    etag: str | None = None
    last_modified: str | None = None
