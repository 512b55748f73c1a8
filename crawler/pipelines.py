"""Item pipelines: dedup + figures + storage of an accepted article version, in one Redis transaction.

``StorePipeline`` takes an ``ArticleItem`` from a spider (``spider.redis`` is the client), decides with
``crawler.dedup.store_article`` whether it is new, changed, a verbatim duplicate of another URL or
unchanged, and for new/changed versions extracts figures and writes everything in one MULTI/EXEC.
Duplicates and unchanged articles are dropped (DropItem, logged at DEBUG) and only counted; the feed
entry is marked seen in every decided case. Any failure to store (Redis, the figure extractor) is
transient: counted in ``store_errors``, nothing half-written, the entry stays unseen and the next crawl
retries it.
"""

from __future__ import annotations

import redis
from scrapy.exceptions import DropItem

from crawler import dedup
from crawler.items import ArticleItem
from tallywatch.models import Article, Figure


def figures_of(article: Article) -> list[Figure]:
    from crawler.figures import extract_figures  # the figure extractor; imported when first needed

    return extract_figures(article.title, article.body, article.published.date() if article.published else None)


class StorePipeline:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_item(self, item):
        if not isinstance(item, ArticleItem):
            return item
        spider = self.crawler.spider
        r = spider.redis
        stats = self.crawler.stats
        article = item.article
        seen = dedup.SeenMark(article.source_id, item.entry_key, item.entry_fp) if item.entry_key else None
        validators = (item.fetched_url, item.etag, item.last_modified) if (item.etag or item.last_modified) else None
        try:
            # figures are extracted only once the article is decided new/changed: duplicates never pay
            outcome = dedup.store_article(r, article, figures=figures_of, seen=seen, validators=validators)
            if not outcome.stored:
                with r.pipeline(transaction=True) as pipe:
                    if seen:
                        dedup.mark_entry_seen(pipe, seen.source_id, seen.entry_key, seen.entry_fp)
                    if validators:
                        dedup.set_http_validators(pipe, *validators)
                    pipe.execute()
        except Exception as e:  # Redis down, or the figure extractor failed: retried next crawl
            spider.transient_failures += 1
            stats.inc_value("tallywatch/errors")
            stats.inc_value("tallywatch/store_errors")
            if isinstance(e, redis.RedisError | OSError):
                spider.logger.error("[%s] cannot store %s: %s", article.source_id, article.url, e)
            else:
                spider.logger.exception("[%s] cannot store %s", article.source_id, article.url)
            raise DropItem(f"store failed: {e}", log_level="DEBUG") from e
        stats.inc_value(f"tallywatch/{outcome.decision.value}")
        if outcome.decision is dedup.Decision.DUPLICATE:
            spider.logger.info("[%s] duplicate: %s is a verbatim copy of %s", article.source_id, article.url,
                               outcome.claimed_by)
            raise DropItem(f"duplicate of {outcome.claimed_by}", log_level="DEBUG")
        if outcome.decision is dedup.Decision.UNCHANGED:
            raise DropItem("unchanged", log_level="DEBUG")
        spider.logger.info("[%s] %s: %s v%d (%d figures)", article.source_id, outcome.decision.value, article.url,
                           outcome.version, len(article.figures))
        return item
