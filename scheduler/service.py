"""The one long-running process: APScheduler drives Scrapy crawls in the same asyncio loop.

Scrapy's asyncio reactor is installed before anything imports ``twisted.internet.reactor``; the
reactor then runs the asyncio loop, on which ``AsyncIOScheduler`` runs coroutine jobs (a crawl job
per enabled source, a digest job) and ``AsyncCrawlerRunner`` runs the spiders.

After each crawl the alerts stage processes what the crawl stored (in a worker thread: it does
blocking SMTP/HTTP I/O). SIGTERM/SIGINT: no new job starts, running crawls are closed by Scrapy
(pipelines finish their item, nothing half-written: each version is stored in one transaction),
alerts for what was stored are processed, then the loop stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tallywatch.config import Config, parse_schedule
from tallywatch.observability import init_sentry, report_exception

log = logging.getLogger("tallywatch.scheduler")

REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"


def install_asyncio_reactor() -> None:
    from scrapy.utils.reactor import install_reactor, is_asyncio_reactor_installed, is_reactor_installed

    if is_reactor_installed():
        if not is_asyncio_reactor_installed():
            raise RuntimeError("a non-asyncio Twisted reactor was installed before the scheduler started")
        return
    install_reactor(REACTOR)


@dataclass
class CycleBarrier:
    """``--cycles N``: a cycle is every enabled source crawled once. Run k+1 of a source waits until
    cycle k is complete (and its ``on_cycle`` hook has run); after cycle N the service stops."""

    source_ids: tuple[str, ...]
    cycles: int | None
    on_cycle: Callable[[int], None] | None = None
    runs: dict[str, int] = field(default_factory=dict)
    done: dict[int, asyncio.Event] = field(default_factory=dict)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    def _event(self, k: int) -> asyncio.Event:
        return self.done.setdefault(k, asyncio.Event())

    async def before_run(self, source_id: str) -> bool:
        """Wait for the previous cycle; False when this source has done all its cycles."""
        k = self.runs.get(source_id, 0)
        if self.cycles is not None and k >= self.cycles:
            return False
        if k > 0:
            await self._event(k).wait()
        return True

    async def after_run(self, source_id: str) -> None:
        self.runs[source_id] = self.runs.get(source_id, 0) + 1
        k = min(self.runs.get(s, 0) for s in self.source_ids)
        if k > 0 and not self._event(k).is_set():
            log.info("cycle %d complete", k)
            if self.on_cycle:
                await asyncio.to_thread(self.on_cycle, k)
            self._event(k).set()
            if self.cycles is not None and k >= self.cycles:
                self.finished.set()


class Service:
    def __init__(self, config: Config, redis, cycles: int | None = None,
                 on_cycle: Callable[[int], None] | None = None):
        self.config = config
        self.redis = redis
        self.sources = {s.id: s for s in config.enabled_sources}
        self.barrier = CycleBarrier(tuple(self.sources), cycles, on_cycle)
        self.alerts_lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.exit_code = 0
        self.active: set[asyncio.Task] = set()  # crawl jobs in progress
        self.runner = None
        self.scheduler = None

    # -- jobs -------------------------------------------------------------------------------------
    async def crawl_job(self, source_id: str) -> None:
        from crawler.run import crawl_source

        if self.stopping.is_set() or not await self.barrier.before_run(source_id):
            return
        source = self.sources[source_id]
        started = time.monotonic()
        self.active.add(asyncio.current_task())
        try:
            stats = await crawl_source(self.runner, source, self.config, self.redis)
            log.info("crawl %s: %s (%.1fs)", source_id, _fmt_stats(stats), time.monotonic() - started)
        except Exception as e:  # a failing job is reported, the schedule goes on
            log.error("crawl %s failed: %s", source_id, e, exc_info=True)
            report_exception(e, source=source_id, job="crawl")
        try:
            await self.process_alerts()
        finally:
            self.active.discard(asyncio.current_task())
        await self.barrier.after_run(source_id)

    async def process_alerts(self) -> None:
        from alerts.process import process_pending

        async with self.alerts_lock:
            try:
                sent = await asyncio.to_thread(process_pending, self.redis, self.config)
                for alert in sent:
                    log.info("alert %s: %s", alert.kind, alert.title)
            except Exception as e:
                log.error("alert processing failed: %s", e, exc_info=True)
                report_exception(e, job="alerts")

    async def digest_job(self) -> None:
        from alerts.digest import send_digests

        async with self.alerts_lock:
            try:
                n = await asyncio.to_thread(send_digests, self.redis, self.config, datetime.now(UTC))
                log.info("digest: %d sent", n)
            except Exception as e:
                log.error("digest failed: %s", e, exc_info=True)
                report_exception(e, job="digest")

    # -- life cycle ------------------------------------------------------------------------------
    def _add_jobs(self) -> None:
        tz = self.config.settings.timezone
        now = datetime.now(UTC)
        for source in self.sources.values():
            self.scheduler.add_job(
                self.crawl_job, trigger=source.trigger(tz), args=[source.id], id=f"crawl:{source.id}",
                name=f"crawl {source.id} ({source.outlet})", max_instances=1, coalesce=True,
                misfire_grace_time=300, next_run_time=now,  # first crawl right away
            )
        if any(s.cadence == "digest" for s in self.config.subscribers):
            self.scheduler.add_job(
                self.digest_job, trigger=parse_schedule(self.config.settings.digest_schedule, tz),
                id="digest", name="digest emails", max_instances=1, coalesce=True, misfire_grace_time=3600,
            )

    async def main(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from scrapy.crawler import AsyncCrawlerRunner

        from crawler.run import scrapy_settings

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        self.runner = AsyncCrawlerRunner(scrapy_settings(self.config))
        self.scheduler = AsyncIOScheduler(event_loop=loop, timezone=self.config.settings.timezone)
        self._add_jobs()
        self.scheduler.start()
        log.info("scheduler running: %d sources%s", len(self.sources),
                 f", stopping after {self.barrier.cycles} cycles" if self.barrier.cycles else "")
        if not self.sources:
            log.warning("no enabled sources in %s: nothing to crawl", self.config.path)
        finished = asyncio.ensure_future(self.barrier.finished.wait())
        stopping = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait([finished, stopping], return_when=asyncio.FIRST_COMPLETED)
        await self.shutdown()

    def request_stop(self, sig=None) -> None:
        if self.stopping.is_set():
            return
        log.info("received %s: finishing the running crawls, then stopping",
                 signal.Signals(sig).name if sig else "stop")
        self.stopping.set()

    async def shutdown(self) -> None:
        self.stopping.set()
        self.scheduler.shutdown(wait=False)  # no new job starts
        await self.runner.stop()  # Scrapy closes running spiders cleanly (close_spider runs)
        if self.active:  # let running jobs finish their alerts step
            await asyncio.wait(list(self.active), timeout=60)
        await self.process_alerts()
        log.info("scheduler stopped")


def _fmt_stats(stats: dict) -> str:
    keys = ("entries", "new", "changed", "duplicate", "unchanged", "not_modified", "errors")
    return ", ".join(f"{k} {stats.get(k, 0)}" for k in keys)


def _run_in_reactor(coro_factory) -> None:
    install_asyncio_reactor()
    from twisted.internet import reactor

    def start():
        task = asyncio.get_event_loop().create_task(coro_factory())
        task.add_done_callback(lambda t: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)


def _connect(config: Config):
    from tallywatch.store import connect

    return connect(config.settings.redis_url, config.settings.data_dir)


def _prepare(config: Config):
    init_sentry(config.settings.sentry_dsn)
    redis = _connect(config)
    if config.settings.records_csv:
        from alerts.ledger import ensure_seeded

        ensure_seeded(redis, config.settings.records_csv)
    return redis


def run_service(config: Config, cycles: int | None = None,
                on_cycle: Callable[[int], None] | None = None) -> int:
    """``tallywatch run``: blocks until SIGTERM/SIGINT (or ``cycles`` complete)."""
    redis = _prepare(config)
    holder: dict[str, Service] = {}

    async def main():
        holder["service"] = Service(config, redis, cycles=cycles, on_cycle=on_cycle)
        await holder["service"].main()

    _run_in_reactor(main)
    return holder["service"].exit_code if holder else 1


def crawl_once(config: Config, source_ids: list[str]) -> int:
    """``tallywatch crawl``: crawl the given sources once, process and deliver alerts, exit."""
    from crawler.run import crawl_source, scrapy_settings

    redis = _prepare(config)
    failures = 0

    async def main():
        nonlocal failures
        from scrapy.crawler import AsyncCrawlerRunner

        service = Service(config, redis)
        service.runner = runner = AsyncCrawlerRunner(scrapy_settings(config))
        for sid in source_ids:
            try:
                stats = await crawl_source(runner, config.source(sid), config, redis)
                print(f"{sid}: {_fmt_stats(stats)}")
            except Exception as e:
                failures += 1
                log.error("crawl %s failed: %s", sid, e, exc_info=True)
                report_exception(e, source=sid, job="crawl")
        await service.process_alerts()

    _run_in_reactor(main)
    return 1 if failures else 0
