"""Crawl benchmark: N local feeds (served on 127.0.0.1) of M entries each, crawled by the real crawler
(Scrapy, dedup, trafilatura, figure extraction, Redis) with the scheduler's concurrency.

Prints, per cycle: wall time, feeds/s, entries/s, bytes received, RSS. Cycle 1 fetches everything;
later cycles are conditional GETs (the feeds answer 304), so they transfer a small fraction of the
bytes; memory must not grow across cycles.

    .venv/bin/python bench/crawl.py                  # 1000 feeds x 20 entries, 50 cycles
    .venv/bin/python bench/crawl.py --feeds 100 --cycles 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scheduler.newssite import NewsSite  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402

FIGURES = [
    "Russia launched {n} attack drones and {m} missiles at Ukraine overnight, the air force said on {day}.",
    "Air defences shot down {k} of the drones over the {region} region, officials said in a statement.",
    "At least {w} people were injured in {city}, the regional governor wrote on Telegram.",
]
PROSE = [
    "Emergency crews worked through the night to put out fires in residential buildings and warehouses, "
    "and volunteers handed out water and blankets to families who had spent hours in basements and metro "
    "stations while explosions echoed across the city.",
    "The attack came hours after talks between the two sides ended without agreement, and diplomats in "
    "several European capitals said they expected new sanctions to be discussed at a meeting next week.",
    "Residents described a long and sleepless night. Windows were blown out in apartment blocks, cars "
    "burned in a courtyard and a kindergarten was damaged, according to local officials and witnesses.",
    "Analysts say the pattern of the strikes suggests an effort to exhaust air defences before winter, "
    "when damage to the power grid would weigh most heavily on civilians.",
]
CITIES = ["Kyiv", "Kharkiv", "Odesa", "Dnipro", "Lviv", "Zaporizhzhia", "Sumy", "Poltava"]


def body(i: int, j: int) -> str:
    words = dict(n=100 + i % 400, m=5 + j % 20, k=80 + i % 300, w=1 + (i + j) % 40, day="Friday",
                 region=CITIES[(i + 1) % 8], city=CITIES[(i + j) % 8])
    # a typical ~600-word report: three sentences with figures, the rest prose
    paras = [p.format(**words) for p in FIGURES] + PROSE * 4
    return "\n".join(paras)


def serve_site(feeds: int, entries: int, ready) -> None:
    site = NewsSite(name="bench")
    t0 = datetime(2025, 7, 4, 6, tzinfo=UTC)
    for i in range(feeds):
        site.add_feed(f"f{i}")
        for j in range(entries):
            site.add_article(f"/f{i}/a{j}", f"Overnight attack report {i}-{j}", body(i, j),
                             published=t0 + timedelta(minutes=j), outlet=f"Outlet {i}", feed=f"f{i}")
    site.start()
    ready.put(site.base_url)
    while True:
        time.sleep(3600)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--feeds", type=int, default=1000)
    ap.add_argument("--entries", type=int, default=20)
    ap.add_argument("--cycles", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    import tempfile

    workdir = Path(tempfile.mkdtemp(prefix="tw-bench-"))
    redis_server = RedisServer(workdir, appendonly=False)
    redis_server.start()
    # the site runs in a process of its own: in this one it would compete with the crawl for the GIL
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    ready = ctx.Queue()
    site_proc = ctx.Process(target=serve_site, args=(args.feeds, args.entries, ready), daemon=True)
    site_proc.start()
    base_url = ready.get(timeout=300)
    config_path = workdir / "tw.toml"
    config_path.write_text(
        f"[settings]\ndownload_delay = 0\nmax_concurrent_crawls = {args.concurrency}\n"
        + "".join(f'[[sources]]\nid = "f{i}"\nkind = "rss"\nurl = "{base_url}/feeds/f{i}.xml"\n'
                  f'schedule = "every 1h"\n' for i in range(args.feeds)))
    os.environ["REDIS_URL"] = redis_server.url

    import logging

    logging.basicConfig(level=logging.WARNING)
    from tallywatch.config import load_config

    config = load_config(config_path)
    from crawler.run import run_in_reactor, scrapy_settings
    from tallywatch.store import connect

    redis = connect(redis_server.url)
    print(f"bench/crawl.py: {args.feeds} feeds x {args.entries} entries, concurrency {args.concurrency}, "
          f"{args.cycles} cycles; {os.cpu_count()} CPUs; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{'cycle':>5} {'wall s':>8} {'feeds/s':>8} {'entries/s':>10} {'new':>6} {'304s':>6} {'MB recv':>8} "
          f"{'RSS MB':>7}")
    results = []

    async def run() -> None:
        from scrapy.crawler import AsyncCrawlerRunner

        from crawler.run import crawl_source

        runner = AsyncCrawlerRunner(scrapy_settings(config))
        slots = asyncio.Semaphore(args.concurrency)

        async def one(source):
            async with slots:
                return await crawl_source(runner, source, config, redis)

        for cycle in range(1, args.cycles + 1):
            started = time.perf_counter()
            stats = await asyncio.gather(*(one(s) for s in config.sources))
            wall = time.perf_counter() - started
            entries = sum(s["entries"] for s in stats)
            row = dict(cycle=cycle, wall=wall, feeds_s=len(stats) / wall, entries_s=entries / wall,
                       new=sum(s["new"] for s in stats), not_modified=sum(s["not_modified"] for s in stats),
                       mb=sum(s["bytes"] for s in stats) / 2**20, rss=rss_mb(),
                       errors=sum(s["errors"] for s in stats))
            results.append(row)
            print(f"{cycle:>5} {wall:>8.1f} {row['feeds_s']:>8.1f} {row['entries_s']:>10.1f} {row['new']:>6} "
                  f"{row['not_modified']:>6} {row['mb']:>8.2f} {row['rss']:>7.0f}", flush=True)

    try:
        run_in_reactor(run)
    finally:
        site_proc.terminate()
        redis_server.stop()
    first, second, last = results[0], results[min(1, len(results) - 1)], results[-1]
    print(f"\ncycle 1: {first['wall']:.1f}s, {first['feeds_s']:.1f} feeds/s, {first['entries_s']:.0f} entries/s, "
          f"{first['mb']:.1f} MB, errors {first['errors']}")
    print(f"cycle 2 transferred {second['mb'] / first['mb']:.2%} of cycle 1's bytes "
          f"({second['not_modified']} feeds answered 304)")
    rss2 = results[1]["rss"] if len(results) > 1 else first["rss"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS after cycle 2: {rss2:.0f} MB; after cycle {last['cycle']}: {last['rss']:.0f} MB "
          f"(growth {last['rss'] - rss2:+.0f} MB); peak RSS {peak:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
