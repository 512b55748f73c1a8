"""One spider per source kind; ``spider_for(kind)`` picks it."""

from __future__ import annotations

from crawler.spiders.feed import FeedSpider
from crawler.spiders.listing import ListingSpider

SPIDERS = {"rss": FeedSpider, "atom": FeedSpider, "html": ListingSpider}


def spider_for(kind: str):
    try:
        return SPIDERS[kind]
    except KeyError:
        raise ValueError(f"no spider for source kind {kind!r}") from None


__all__ = ["FeedSpider", "ListingSpider", "SPIDERS", "spider_for"]
