"""Running crawls: Scrapy settings from the config, one source at a time, stats as plain dicts.

In a long-running process (the scheduler) install the asyncio reactor first, make one
``AsyncCrawlerRunner(scrapy_settings(config))`` and ``await crawl_source(runner, source, config, redis)``.
For a one-shot run, ``crawl_sync(config, source_ids, redis)`` installs the reactor, runs the crawls one
after another and stops it; a Twisted reactor can't be restarted, so call it once per process
(``python -m crawler.run --config X --source ID`` prints the stats as JSON). ``serve()`` /
``python -m crawler.run --serve`` keeps one reactor up and runs crawls requested on stdin.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from scrapy.settings import Settings

from tallywatch.config import Config, Source

log = logging.getLogger("tallywatch.crawler")

T = TypeVar("T")

REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"

# the keys crawl_source always returns (extra finer-grained counters come with them)
STATS_KEYS = ("feeds_fetched", "not_modified", "entries", "entries_seen", "articles_fetched", "new", "changed",
              "duplicate", "unchanged", "errors", "bytes")


def scrapy_settings(config: Config, overrides: dict[str, Any] | None = None) -> Settings:
    """Scrapy settings for tallywatch: ``crawler.scrapy_settings`` + user agent, size limits and
    ``download_delay`` (a fixed delay turns AutoThrottle off) from ``config.settings``, then
    ``overrides`` (e.g. ``{"DOWNLOAD_DELAY": 0}`` for a local test site)."""
    settings = Settings()
    settings.setmodule("crawler.scrapy_settings", priority="project")
    max_bytes = int(config.settings.max_page_bytes)
    settings.set("USER_AGENT", config.settings.user_agent, priority="project")
    settings.set("DOWNLOAD_MAXSIZE", max_bytes, priority="project")
    settings.set("DOWNLOAD_WARNSIZE", max(1, max_bytes // 2), priority="project")
    delay = config.settings.download_delay
    if delay is not None:  # a fixed delay from the config: AutoThrottle off
        settings.set("DOWNLOAD_DELAY", float(delay), priority="project")
        settings.set("AUTOTHROTTLE_ENABLED", False, priority="project")
    if overrides:
        settings.setdict(overrides, priority="cmdline")
    return settings


def install_reactor() -> None:
    """Install the asyncio reactor (no-op if it already is; error if another reactor is)."""
    from scrapy.utils.reactor import install_reactor as _install
    from scrapy.utils.reactor import is_asyncio_reactor_installed, is_reactor_installed

    if is_reactor_installed():
        if not is_asyncio_reactor_installed():
            raise RuntimeError("a non-asyncio Twisted reactor is already installed")
        return
    _install(REACTOR)


def _plain_stats(scrapy_stats: dict[str, Any]) -> dict[str, Any]:
    from crawler.spiders.base import STAT_NAMES, STAT_PREFIX

    out: dict[str, Any] = {name: int(scrapy_stats.get(STAT_PREFIX + name, 0)) for name in STAT_NAMES}
    out["bytes"] = int(scrapy_stats.get("downloader/response_bytes", 0))
    out["requests"] = int(scrapy_stats.get("downloader/request_count", 0))
    out["finish_reason"] = scrapy_stats.get("finish_reason")
    return out


async def crawl_source(runner, source: Source, config: Config, redis) -> dict[str, Any]:
    """Crawl one source with the spider for its kind; return its stats as a plain dict with at least
    ``STATS_KEYS`` (plus http_errors, malformed_feeds, undecodable, not_html, oversized, download_errors,
    robots_denied, empty_articles, store_errors, requests, finish_reason)."""
    from crawler.spiders import spider_for

    crawler = runner.create_crawler(spider_for(source.kind))
    await runner.crawl(crawler, source=source, config=config, redis=redis)
    stats = _plain_stats(crawler.stats.get_stats())
    log.info("crawl %s: %s", source.id, json.dumps({k: stats[k] for k in STATS_KEYS}))
    return stats


def run_in_reactor(coro_factory: Callable[[], Awaitable[T]]) -> T:
    """Install the asyncio reactor, run ``coro_factory()`` on it, stop it; return the coroutine's
    result or raise its exception. A Twisted reactor can't be restarted: once per process."""
    install_reactor()
    import asyncio

    from twisted.internet import defer, reactor

    outcome: dict[str, Any] = {}

    def start() -> None:
        d = defer.Deferred.fromFuture(asyncio.ensure_future(coro_factory()))
        d.addCallbacks(lambda value: outcome.setdefault("value", value),
                       lambda failure: outcome.setdefault("error", failure.value))
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def crawl_sync(config: Config, source_ids, redis, overrides: dict[str, Any] | None = None
               ) -> dict[str, dict[str, Any]]:
    """Crawl ``source_ids`` one after another in this process; stats per source id. Runs (and stops)
    the Twisted reactor, so it can be called once per process."""
    sources = [config.source(sid) for sid in source_ids]

    async def main() -> dict[str, dict[str, Any]]:
        from scrapy.crawler import AsyncCrawlerRunner

        runner = AsyncCrawlerRunner(scrapy_settings(config, overrides))
        return {source.id: await crawl_source(runner, source, config, redis) for source in sources}

    return run_in_reactor(main)


def serve(stdin=None, stdout=None, overrides: dict[str, Any] | None = None) -> None:
    """A crawl worker: the reactor stays up and crawls run on request, so many crawls in one process
    pay Python/Scrapy start-up once. Reads JSON lines ``{"config": path, "sources": [ids],
    "redis_url": url?}`` from ``stdin``; writes one JSON line per request, ``{"ok": true, "stats":
    {source_id: stats}}`` or ``{"ok": false, "error": "..."}``; stops at EOF."""
    import asyncio

    from scrapy.crawler import AsyncCrawlerRunner

    from tallywatch.config import load_config
    from tallywatch.store import connect

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout

    async def handle(request: dict) -> dict:
        config = load_config(request["config"])
        ids = request.get("sources") or [s.id for s in config.enabled_sources]
        sources = [config.source(sid) for sid in ids]
        redis = connect(request.get("redis_url") or config.settings.redis_url, config.settings.data_dir)
        try:
            runner = AsyncCrawlerRunner(scrapy_settings(config, {**(overrides or {}), **request.get("set", {})}))
            return {source.id: await crawl_source(runner, source, config, redis) for source in sources}
        finally:
            redis.close()

    async def loop() -> None:
        while True:
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                return
            if not line.strip():
                continue
            try:
                reply = {"ok": True, "stats": await handle(json.loads(line))}
            except Exception as e:  # one bad request doesn't end the worker
                log.exception("crawl request failed")
                reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            stdout.write(json.dumps(reply, sort_keys=True) + "\n")
            stdout.flush()

    try:
        run_in_reactor(loop)
    except Exception:
        log.exception("crawl worker failed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.run", description="Crawl sources once; "
                                     "print their stats as JSON {source_id: stats}.")
    parser.add_argument("--config", help="tallywatch TOML config (required unless --serve)")
    parser.add_argument("--serve", action="store_true",
                        help="crawl worker: read JSON requests from stdin, one stats line each (see serve())")
    parser.add_argument("--source", action="append", dest="sources", default=[],
                        help="source id (repeatable; default: all enabled sources)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a Scrapy setting, e.g. --set DOWNLOAD_DELAY=0 (repeatable)")
    parser.add_argument("--redis-url", help="overrides settings.redis_url / REDIS_URL")
    args = parser.parse_args(argv)

    from scrapy.utils.log import configure_logging

    from tallywatch.config import ConfigError, load_config
    from tallywatch.store import connect

    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set wants NAME=VALUE, got {item!r}")
        overrides[name.strip()] = value
    if args.serve:
        settings = Settings()
        settings.setmodule("crawler.scrapy_settings", priority="project")
        configure_logging(settings)
        serve(overrides=overrides)
        return 0
    if not args.config:
        parser.error("--config is required")
    try:
        config = load_config(args.config)
        ids = args.sources or [s.id for s in config.enabled_sources]
        for sid in ids:
            config.source(sid)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    configure_logging(scrapy_settings(config, overrides))  # logs go to stderr; stdout is the JSON
    redis = connect(args.redis_url or config.settings.redis_url, config.settings.data_dir)
    stats = crawl_sync(config, ids, redis, overrides)
    json.dump(stats, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
