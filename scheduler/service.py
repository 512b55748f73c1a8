"""The long-running process: APScheduler drives Scrapy crawls in one asyncio loop.

Scrapy's asyncio reactor is installed before anything imports ``twisted.internet.reactor``; the
reactor runs the asyncio loop, on which ``AsyncIOScheduler`` runs coroutine jobs (a crawl job per
enabled source, a digest job) and ``AsyncCrawlerRunner`` runs the spiders.

Jobs live in Redis (``GuardedRedisJobStore``), so they survive restarts and the operator CLI can
change them; every ``tick`` seconds the leader re-reads the store, so a change reaches it within
seconds. Several processes may run: a Redis lock elects one leader, the others stand by
(``leader.py``); each fire time is claimed before it runs, so none runs twice (``jobstore.py``).

After each crawl the alerts stage processes what the crawl stored (in a worker thread: it does
blocking SMTP/HTTP I/O). SIGTERM/SIGINT: no new job starts, running crawls are closed by Scrapy
(each article version is stored in one transaction: nothing half-written), alerts for what was
stored are processed, the leader lock is released, then the process exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scheduler import jobs
from scheduler.history import Run, record_run
from scheduler.jobstore import ClaimingExecutor, GuardedRedisJobStore, inflight_key, scheduled_for, split_inflight
from scheduler.leader import INSTANCES_KEY, LeaderLock, forget_instance, heartbeat, new_instance_id
from tallywatch.config import Config, parse_schedule
from tallywatch.observability import init_sentry, report_exception

log = logging.getLogger("tallywatch.scheduler")

CONFIG_SCHEDULES_KEY = "tw:scheduler:config_schedules"  # source id -> schedule last taken from config
FIRST_SCHEDULED_KEY = "tw:scheduler:first_scheduled"  # source id -> epoch its job was first added
WATCHDOG_SECONDS = 30.0  # how often the leader looks for silent sources
ERROR_KINDS = ("http_errors", "malformed_feeds", "undecodable", "not_html", "oversized", "download_errors",
               "robots_denied", "empty_articles", "store_errors")
JOB_DEFAULTS = {"max_instances": 1, "coalesce": True, "misfire_grace_time": 300}


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
        if k > 0 and self.cycles is not None:
            await self._event(k).wait()
        return True

    async def after_run(self, source_id: str) -> None:
        if self.cycles is None:
            return
        self.runs[source_id] = self.runs.get(source_id, 0) + 1
        k = min(self.runs.get(s, 0) for s in self.source_ids)
        if k > 0 and not self._event(k).is_set():
            log.info("cycle %d complete", k)
            if self.on_cycle:
                await asyncio.to_thread(self.on_cycle, k)
            self._event(k).set()
            if k >= self.cycles:
                self.finished.set()


class Service:
    def __init__(self, config: Config, redis, cycles: int | None = None,
                 on_cycle: Callable[[int], None] | None = None, *, tick: float = 2.0, distributed: bool = False):
        self.config = config
        self.redis = redis
        self.sources = {s.id: s for s in config.sources}
        enabled = tuple(s.id for s in config.enabled_sources)
        self.barrier = CycleBarrier(enabled, cycles, on_cycle)
        self.instance_id = new_instance_id()
        self.lock = LeaderLock(redis, self.instance_id, ttl=config.settings.leader_ttl)
        self.tick_seconds = tick
        self.distributed = distributed  # the leader only enqueues crawl requests for workers
        self.crawl_slots = asyncio.Semaphore(config.settings.max_concurrent_crawls)
        self.is_leader = False
        self.alerts_lock = asyncio.Lock()
        self.stopping = asyncio.Event()
        self.active: set[asyncio.Task] = set()  # jobs in progress
        self.runner = None
        self.scheduler = None
        self.executor: ClaimingExecutor | None = None
        self.delivery_thread = None
        self.store: GuardedRedisJobStore | None = None

    # -- jobs -------------------------------------------------------------------------------------
    async def crawl_job(self, source_id: str) -> Run | None:
        from crawler.run import crawl_source

        if self.stopping.is_set() or not await self.barrier.before_run(source_id):
            return None
        if self.distributed:
            from scheduler.distributed import enqueue_crawl

            enqueue_crawl(self.redis, source_id, scheduled_for.get())
            log.info("crawl %s queued for the workers", source_id)
            return None
        run = self._new_run(jobs.crawl_job_id(source_id))
        task = asyncio.current_task()
        self.active.add(task)
        try:
            source = self.sources.get(source_id)
            if source is None:
                raise LookupError(f"source {source_id!r} is not in {self.config.path or 'the config'} any more")
            async with self.crawl_slots:
                run.stats = dict(await crawl_source(self.runner, source, self.config, self.redis))
            run.outcome = "ok"
            log.info("crawl %s: %s (%.1fs)", source_id, fmt_stats(run.stats), time.time() - run.started)
            if run.stats.get("errors"):  # logged at ERROR: each crawl with failures is a Sentry event
                kinds = ", ".join(f"{k} {run.stats[k]}" for k in ERROR_KINDS if run.stats.get(k))
                log.error("crawl %s had %d errors (%s); see 'tallywatch schedule history %s'",
                          source_id, run.stats["errors"], kinds, run.job_id)
        except Exception as e:  # a failing job is reported; the schedule goes on
            run.outcome, run.error = "error", f"{type(e).__name__}: {e}"
            log.error("crawl %s failed: %s", source_id, e, exc_info=not isinstance(e, LookupError))
            report_exception(e, source=source_id, job="crawl")
        try:
            run.stats["alerts"] = len(await self.process_alerts())
        finally:
            run.ended = time.time()
            record_run(self.redis, run)
            self.active.discard(task)
        await self.barrier.after_run(source_id)
        return run

    def _new_run(self, job_id: str) -> Run:
        """The history record of a run starting now, for the fire time the executor is serving."""
        fire = scheduled_for.get()
        return Run(job_id=job_id, scheduled_for=fire.timestamp() if fire else None, started=time.time(),
                   instance=self.instance_id)

    async def process_alerts(self) -> list:
        from alerts.process import process_pending

        async with self.alerts_lock:
            try:
                sent = await asyncio.to_thread(process_pending, self.redis, self.config)
            except Exception as e:
                log.error("alert processing failed: %s", e, exc_info=True)
                report_exception(e, job="alerts")
                return []
        for alert in sent:
            log.info("alert %s: %s", alert.kind, alert.title)
        return sent

    async def digest_job(self) -> None:
        from alerts.digest import send_digests

        run = self._new_run(jobs.DIGEST_JOB_ID)
        async with self.alerts_lock:
            try:
                run.stats = {"digests": await asyncio.to_thread(send_digests, self.redis, self.config,
                                                                datetime.now(UTC))}
                run.outcome = "ok"
            except Exception as e:
                run.outcome, run.error = "error", f"{type(e).__name__}: {e}"
                log.error("digest failed: %s", e, exc_info=True)
                report_exception(e, job="digest")
        run.ended = time.time()
        record_run(self.redis, run)

    # -- the job store ---------------------------------------------------------------------------
    def sync_jobs_from_config(self) -> None:
        """Add a job for each enabled source that has none; re-schedule one whose schedule changed
        in the config since it was last taken from there. Changes made with ``tallywatch schedule``
        otherwise stand: the store, not the config, is the live schedule."""
        tz = self.config.settings.timezone
        now = datetime.now(UTC)
        taken = self.redis.hgetall(CONFIG_SCHEDULES_KEY)
        broken = self.store.broken_jobs()
        for source in self.config.enabled_sources:
            job_id = jobs.crawl_job_id(source.id)
            if job_id in broken:
                continue  # reported when it was quarantined; the operator decides
            job = self.scheduler.get_job(job_id)
            if job is None:
                self.scheduler.add_job(jobs.CRAWL_FUNC, trigger=source.trigger(tz), args=[source.id], id=job_id,
                                       name=f"crawl {source.outlet}", next_run_time=now, **JOB_DEFAULTS)
                log.info("job %s added from the config (%s)", job_id, source.schedule)
                self.redis.hsetnx(FIRST_SCHEDULED_KEY, source.id, time.time())
            elif taken.get(source.id) not in (None, source.schedule):
                job.reschedule(trigger=source.trigger(tz))
                log.info("job %s re-scheduled: the config now says %s", job_id, source.schedule)
            self.redis.hset(CONFIG_SCHEDULES_KEY, source.id, source.schedule)
        if any(s.cadence == "digest" for s in self.config.subscribers) and not self.scheduler.get_job(
                jobs.DIGEST_JOB_ID):
            self.scheduler.add_job(jobs.DIGEST_FUNC, trigger=parse_schedule(self.config.settings.digest_schedule, tz),
                                   id=jobs.DIGEST_JOB_ID, name="digest emails",
                                   **JOB_DEFAULTS | {"misfire_grace_time": 3600})
        known = {jobs.crawl_job_id(s.id) for s in self.config.sources} | {jobs.DIGEST_JOB_ID}
        for job_id in set(self.store.job_ids()) - known - set(broken):
            log.warning("job %s is in the store but its source is not in the config; it will fail until "
                        "the source is added back or the job removed ('tallywatch schedule remove %s')",
                        job_id, job_id)

    # -- leadership ------------------------------------------------------------------------------
    def tick(self) -> None:
        """Hold or seek the leader lock; as leader, re-read the store so CLI changes take effect."""
        try:
            leader = self.lock.acquire_or_renew()
            heartbeat(self.redis, self.instance_id, "leader" if leader else "standby")
        except Exception as e:  # Redis unreachable: we cannot know we still lead
            log.error("scheduler lost Redis (%s): pausing until it is back", e)
            leader = False
        if leader and not self.is_leader:
            log.info("this process (%s) is the leader: scheduling", self.instance_id)
            self.is_leader = True
            self.sync_jobs_from_config()
            self.scheduler.resume()
            self.recover_unfinished_runs()
        elif not leader and self.is_leader:
            log.error("leadership lost: pausing the scheduler")
            self.is_leader = False
            self.scheduler.pause()
        elif leader:
            self.scheduler.wakeup()

    def recover_unfinished_runs(self) -> None:
        """Fire times claimed by schedulers that died before finishing them are run here, so a
        leader dying mid-run loses no run. Dead = no heartbeat for 2.5 ticks (live ones beat every tick)."""
        now = time.time()
        for instance, raw in self.redis.hgetall(INSTANCES_KEY).items():
            if instance == self.instance_id or now - json.loads(raw)["seen"] <= 2.5 * self.tick_seconds:
                continue
            members = self.redis.smembers(inflight_key(instance))
            by_job: dict[str, list[datetime]] = {}
            for member in members:
                job_id, fire = split_inflight(member)
                by_job.setdefault(job_id, []).append(fire)
            for job_id, fires in by_job.items():
                job = self.scheduler.get_job(job_id)
                if job is not None:
                    self.executor.take_over(job, sorted(fires))
            self.redis.delete(inflight_key(instance))
            forget_instance(self.redis, instance)

    # -- life cycle ------------------------------------------------------------------------------
    def _watchdog(self) -> None:
        from scheduler.watchdog import check_silent_sources

        try:
            check_silent_sources(self.redis, self.config)
        except Exception as e:
            log.error("silent-source check failed: %s", e)

    def _coalesced(self, job_id: str, fire: datetime, into: datetime) -> None:
        """A fire time that queued behind a running crawl and is served by the next run."""
        log.info("job %s at %s coalesced into the run for %s", job_id, fire, into)
        now = time.time()
        record_run(self.redis, Run(job_id=job_id, scheduled_for=fire.timestamp(), started=now, ended=now,
                                   outcome="coalesced", instance=self.instance_id,
                                   error=f"served by the run for {into:%H:%M:%S}"))

    async def main(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from scrapy.crawler import AsyncCrawlerRunner

        from crawler.run import scrapy_settings

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        self.runner = AsyncCrawlerRunner(scrapy_settings(self.config))
        self.store = GuardedRedisJobStore(self.redis)
        self.executor = ClaimingExecutor(self.redis, self.instance_id, self._coalesced)
        self.scheduler = AsyncIOScheduler(
            event_loop=loop, timezone=self.config.settings.timezone, job_defaults=JOB_DEFAULTS,
            jobstores={"default": self.store}, executors={"default": self.executor})
        jobs.bind(self)
        self.scheduler.start(paused=True)
        self.delivery_thread = self.start_delivery_worker()
        log.info("scheduler %s started: %d enabled sources%s", self.instance_id, len(self.barrier.source_ids),
                 f", stopping after {self.barrier.cycles} cycles" if self.barrier.cycles else "")
        if not self.barrier.source_ids:
            log.warning("no enabled sources in %s: nothing to crawl", self.config.path)
            if self.barrier.cycles is not None:
                self.barrier.finished.set()  # no cycle can ever complete
        last_watch = 0.0
        while not (self.stopping.is_set() or self.barrier.finished.is_set()):
            self.tick()
            if self.is_leader and time.monotonic() - last_watch >= WATCHDOG_SECONDS:
                last_watch = time.monotonic()
                self.recover_unfinished_runs()
                await asyncio.to_thread(self._watchdog)
            if not self.is_leader and log.isEnabledFor(logging.DEBUG):
                log.debug("standing by: %s leads", self.lock.holder())
            waiters = [asyncio.ensure_future(self.stopping.wait()), asyncio.ensure_future(self.barrier.finished.wait())]
            await asyncio.wait(waiters, timeout=self.tick_seconds, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()
        await self.shutdown()

    def start_delivery_worker(self):
        """The outbox worker in a thread of its own (blocking SMTP/HTTP): retries with backoff and
        the hourly/daily digests go out on time, not only after a crawl. More can run as
        ``tallywatch deliver`` processes; the outbox's consumer group shares the work."""
        import threading

        from alerts.outbox import run_worker

        self.delivery_stop = threading.Event()
        thread = threading.Thread(target=run_worker, name="delivery", daemon=True,
                                  args=(self.redis, self.config, f"deliver-{self.instance_id}"),
                                  kwargs={"stop": self.delivery_stop, "poll": 1.0})
        thread.start()
        return thread

    def request_stop(self, sig=None) -> None:
        if self.stopping.is_set():
            return
        log.info("received %s: finishing the running crawls, then stopping",
                 signal.Signals(sig).name if sig else "stop")
        self.stopping.set()

    async def shutdown(self) -> None:
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.pause()  # no new job starts
        await self.runner.stop()  # Scrapy closes running spiders cleanly (close_spider runs)
        if self.active:  # let running jobs finish their alerts step and history
            await asyncio.wait(list(self.active), timeout=60)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        if self.delivery_thread is not None:  # finishes the delivery in hand
            self.delivery_stop.set()
            await asyncio.to_thread(self.delivery_thread.join, 60)
        try:
            self.lock.release()
            forget_instance(self.redis, self.instance_id)
        except Exception as e:
            log.warning("could not release the leader lock: %s", e)
        jobs.bind(None)
        log.info("scheduler stopped")


def fmt_stats(stats: dict) -> str:
    keys = ("entries", "new", "changed", "duplicate", "unchanged", "not_modified", "errors")
    return ", ".join(f"{k} {stats.get(k, 0)}" for k in keys)


def prepare(config: Config):
    """Sentry, the Redis connection, the record ledger seeded on first start."""
    from tallywatch.store import connect

    init_sentry(config.settings.sentry_dsn)
    redis = connect(config.settings.redis_url, config.settings.data_dir)
    if config.settings.records_csv:
        from alerts.ledger import ensure_seeded

        ensure_seeded(redis, config.settings.records_csv)
    return redis


def run_service(config: Config, cycles: int | None = None, on_cycle: Callable[[int], None] | None = None,
                redis=None, distributed: bool = False) -> int:
    """``tallywatch run``: blocks until SIGTERM/SIGINT (or until ``cycles`` complete)."""
    from crawler.run import run_in_reactor

    redis = redis or prepare(config)
    holder: dict[str, Service] = {}

    async def main():
        holder["service"] = Service(config, redis, cycles=cycles, on_cycle=on_cycle, distributed=distributed)
        await holder["service"].main()

    run_in_reactor(main)
    return 0 if holder else 1


def crawl_once(config: Config, source_ids: list[str]) -> int:
    """``tallywatch crawl``: crawl the given sources once now, process and deliver alerts, exit."""
    from crawler.run import run_in_reactor

    redis = prepare(config)
    results: list[Run | None] = []

    async def main():
        from scrapy.crawler import AsyncCrawlerRunner

        from crawler.run import scrapy_settings

        service = Service(config, redis)
        service.runner = AsyncCrawlerRunner(scrapy_settings(config))
        for sid in source_ids:
            run = await service.crawl_job(sid)
            results.append(run)
            if run:
                print(f"{sid}: {run.outcome}; {fmt_stats(run.stats)}; alerts {run.stats.get('alerts', 0)}"
                      + (f"; {run.error}" if run.error else ""))

    run_in_reactor(main)
    return 0 if results and all(r and r.outcome == "ok" for r in results) else 1
