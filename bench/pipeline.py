"""Dedup throughput and end-to-end latency.

1. dedup ops/s: ``crawler.dedup.store_article`` deciding new / duplicate (verbatim copy at another
   URL) / unchanged against a real redis-server, side by side with a bare ``SET NX`` baseline in the
   same run (the ratio is what to compare across machines).
2. end-to-end latency: a `tallywatch run` process (APScheduler + Scrapy, every 1 s) watches a local
   feed; an article is published; we time until the signed webhook for its alert arrives. Repeated;
   median and max printed. Half a schedule interval on average is waiting for the next crawl.

    .venv/bin/python bench/pipeline.py [--ops 5000] [--latency-runs 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from crawler.dedup import Decision, store_article  # noqa: E402
from scheduler.newssite import NewsSite  # noqa: E402
from scheduler.receivers import WebhookReceiver  # noqa: E402
from tallywatch.models import Article  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402

SECRET = "whsec_YmVuY2gtc2VjcmV0LWZvci13ZWJob29rcy0wMDE="


def dedup_bench(r: redis.Redis, n: int) -> None:
    r.flushdb()
    arts = [Article(url=f"https://news.example/a/{i}", outlet="Bench", source_id="bench", title=f"Report {i}",
                    body=f"Russia launched {i} drones overnight. Paragraph {i} of a bench article.")
            for i in range(n)]
    copies = [Article(url=f"https://mirror.example/a/{i}", outlet="Mirror", source_id="mirror", title=a.title,
                      body=a.body) for i, a in enumerate(arts)]

    def timed(label, items, expect):
        t = time.perf_counter()
        for a in items:
            out = store_article(r, a, figures=lambda _a: [])
            assert out.decision == expect, (label, out)
        dt = time.perf_counter() - t
        return label, len(items) / dt

    rows = [timed("new article stored", arts, Decision.NEW),
            timed("verbatim copy dropped", copies, Decision.DUPLICATE),
            timed("same article unchanged", arts, Decision.UNCHANGED)]
    t = time.perf_counter()
    for i in range(n):
        r.set(f"bench:setnx:{i}", "x", nx=True)
    baseline = n / (time.perf_counter() - t)
    print(f"dedup, {n} articles, one client, real redis-server on loopback:")
    print(f"  {'baseline SET NX':<26} {baseline:>9.0f} ops/s   1.00")
    for label, rate in rows:
        print(f"  {label:<26} {rate:>9.0f} ops/s   {rate / baseline:.2f} of baseline")


def latency_bench(redis_url: str, runs: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="tw-latency-"))
    site = NewsSite(name="bench").start()
    site.add_feed("news")
    receiver = WebhookReceiver(secret=SECRET).start()
    config = workdir / "tw.toml"
    config.write_text(f"""[settings]
download_delay = 0
allow_private_webhooks = true
[[sources]]
id = "news"
kind = "rss"
url = "{site.feed_url('news')}"
schedule = "every 1s"
[[subscribers]]
id = "hook"
webhook = "{receiver.url}"
secret = "{SECRET}"
""")
    env = os.environ | {"REDIS_URL": redis_url}
    env.pop("SENTRY_DSN", None)
    proc = subprocess.Popen([sys.executable, "-m", "scheduler.cli", "run", "--config", str(config)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    latencies = []
    try:
        time.sleep(6)  # start-up, first (empty) crawls
        for i in range(runs):
            before = len(receiver.deliveries)
            t0 = time.monotonic()
            site.add_article(f"/night-{i}", f"Record attack on night {i}",
                             f"Russia launched a record {900 + i} drones at Ukraine overnight, the air force said.",
                             published=datetime.now(UTC))
            while len(receiver.deliveries) == before and time.monotonic() - t0 < 60:
                time.sleep(0.01)
            latencies.append(time.monotonic() - t0)
            time.sleep(1.5)
    finally:
        proc.terminate()
        proc.wait(30)
        receiver.stop()
        site.stop()
    print(f"end-to-end latency, article published -> signed webhook received ({runs} runs, schedule every 1 s):")
    print(f"  median {statistics.median(latencies):.2f} s, min {min(latencies):.2f} s, max {max(latencies):.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ops", type=int, default=5000)
    ap.add_argument("--latency-runs", type=int, default=8)
    args = ap.parse_args()
    server = RedisServer(Path(tempfile.mkdtemp(prefix="tw-redis-")), appendonly=False)
    server.start()
    try:
        print(f"bench/pipeline.py; {os.cpu_count()} CPUs; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        dedup_bench(redis.Redis.from_url(server.url, decode_responses=True), args.ops)
        redis.Redis.from_url(server.url).flushdb()
        latency_bench(server.url, args.latency_runs)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
