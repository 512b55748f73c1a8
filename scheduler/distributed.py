"""Distributed mode: the scheduler only enqueues crawl requests; workers on any number of machines
crawl them and process their alerts.

- ``tallywatch run --distributed``: the leader puts one request per fire time on the Redis stream
  ``tw:stream:crawl`` instead of crawling itself.
- ``tallywatch worker [--concurrency N]``: reads requests with the consumer group ``workers``
  (each request goes to one worker), crawls, processes alerts (the alerts stream has its own
  consumer group, so article versions are also shared out), records the run, acknowledges.
  A request a dead worker held is taken over after ``CLAIM_IDLE_MS``; a crawl run twice is harmless
  (dedup), a crawl never run is not possible.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import UTC, datetime

import redis as redis_lib

from scheduler.jobstore import scheduled_for
from scheduler.leader import forget_instance, heartbeat, new_instance_id
from tallywatch import store
from tallywatch.config import Config

log = logging.getLogger("tallywatch.worker")

CRAWL_STREAM = "tw:stream:crawl"
WORKERS_GROUP = "workers"
CLAIM_IDLE_MS = 10 * 60 * 1000  # a crawl request unacknowledged this long is taken over
STREAM_MAXLEN = 100_000


def enqueue_crawl(redis, source_id: str, fire: datetime | None) -> str:
    return redis.xadd(CRAWL_STREAM, {"source_id": source_id, "scheduled_for": fire.timestamp() if fire else ""},
                      maxlen=STREAM_MAXLEN, approximate=True)


def ensure_group(redis) -> None:
    store.ensure_group(redis, CRAWL_STREAM, WORKERS_GROUP)


def queue_depth(redis) -> dict:
    """Requests waiting and in progress (for ``tallywatch status``)."""
    try:
        groups = {g["name"]: g for g in redis.xinfo_groups(CRAWL_STREAM)}
    except redis_lib.ResponseError:
        return {"waiting": 0, "in_progress": 0}
    g = groups.get(WORKERS_GROUP)
    if not g:
        return {"waiting": redis.xlen(CRAWL_STREAM), "in_progress": 0}
    return {"waiting": int(g.get("lag") or 0), "in_progress": int(g.get("pending") or 0)}


class Worker:
    def __init__(self, config: Config, redis, concurrency: int = 2):
        from scheduler.service import Service

        self.config = config
        self.redis = redis
        self.concurrency = concurrency
        self.id = new_instance_id()
        self.service = Service(config, redis)
        self.service.instance_id = self.id
        self.stopping = asyncio.Event()
        self.done = 0

    def request_stop(self, sig=None) -> None:
        if not self.stopping.is_set():
            log.info("worker %s: %s received, finishing the crawls in progress", self.id,
                     signal.Signals(sig).name if sig else "stop")
            self.stopping.set()

    async def main(self) -> None:
        from scrapy.crawler import AsyncCrawlerRunner

        from crawler.run import scrapy_settings

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig)
        self.service.runner = AsyncCrawlerRunner(scrapy_settings(self.config))
        ensure_group(self.redis)
        log.info("worker %s started: %d crawls at a time", self.id, self.concurrency)
        consumers = [asyncio.ensure_future(self.consume(f"{self.id}/{i}")) for i in range(self.concurrency)]
        while not self.stopping.is_set():
            heartbeat(self.redis, self.id, "worker")
            try:
                await asyncio.wait_for(self.stopping.wait(), timeout=2.0)
            except TimeoutError:
                pass
        done, pending = await asyncio.wait(consumers, timeout=120)
        if pending:
            await self.service.runner.stop()
            await asyncio.wait(pending, timeout=30)
        forget_instance(self.redis, self.id)
        log.info("worker %s stopped after %d crawls", self.id, self.done)

    async def _next(self, consumer: str):
        claimed = await asyncio.to_thread(self.redis.xautoclaim, CRAWL_STREAM, WORKERS_GROUP, consumer,
                                          CLAIM_IDLE_MS, "0-0", 1)
        if claimed and claimed[1]:
            entry_id, fields = claimed[1][0]
            if fields:
                log.warning("worker %s takes over crawl request %s left by a dead worker", consumer, entry_id)
                return entry_id, fields
            await asyncio.to_thread(self.redis.xack, CRAWL_STREAM, WORKERS_GROUP, entry_id)
        resp = await asyncio.to_thread(self.redis.xreadgroup, WORKERS_GROUP, consumer, {CRAWL_STREAM: ">"},
                                       count=1, block=1000)
        if resp and resp[0][1]:
            return resp[0][1][0]
        return None

    async def consume(self, consumer: str) -> None:
        while not self.stopping.is_set():
            try:
                item = await self._next(consumer)
            except redis_lib.RedisError as e:
                log.error("worker %s: Redis error %s; retrying", consumer, e)
                await asyncio.sleep(2)
                continue
            if item is None:
                continue
            entry_id, fields = item
            fire = fields.get("scheduled_for")
            token = scheduled_for.set(datetime.fromtimestamp(float(fire), UTC) if fire else None)
            try:
                await self.service.crawl_job(fields["source_id"])
            finally:
                scheduled_for.reset(token)
            await asyncio.to_thread(self.redis.xack, CRAWL_STREAM, WORKERS_GROUP, entry_id)
            self.done += 1


def run_worker(config: Config, concurrency: int = 2) -> int:
    """``tallywatch worker``: crawl requests from the queue until SIGTERM/SIGINT."""
    from crawler.run import run_in_reactor
    from scheduler.service import prepare

    redis = prepare(config)

    async def main():
        await Worker(config, redis, concurrency).main()

    run_in_reactor(main)
    return 0
