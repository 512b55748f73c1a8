"""Distributed mode on one machine: a scheduler that only enqueues, two worker processes sharing the
crawls and the alert processing; every request crawled exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from scheduler.distributed import CRAWL_STREAM, WORKERS_GROUP
from scheduler.history import runs
from scheduler.leader import INSTANCES_KEY
from tallywatch.store import ARTICLE_STREAM, ARTICLES_INDEX

REPO = Path(__file__).resolve().parent.parent
SOURCES = [f"outlet{i}" for i in range(6)]


def test_two_workers_share_the_crawls(tmp_path, news_site, redis_server, redis_client):
    for i, sid in enumerate(SOURCES):
        news_site.add_feed(sid)
        news_site.add_article(f"/{sid}/attack", f"Attack report {i}",
                              f"Officials said {i + 3} people were injured in Kharkiv overnight.\nMore text {i}.",
                              published=datetime(2025, 7, 4, 6, i, tzinfo=UTC), outlet=f"Outlet {i}", feed=sid)
    config = tmp_path / "tw.toml"
    config.write_text("[settings]\ndownload_delay = 0\n" + "".join(
        f'[[sources]]\nid = "{sid}"\nkind = "rss"\nurl = "{news_site.feed_url(sid)}"\nschedule = "every 1h"\n'
        for sid in SOURCES))
    env = os.environ | {"REDIS_URL": redis_server.url}
    env.pop("SENTRY_DSN", None)

    def start(*args, log):
        return subprocess.Popen([sys.executable, "-m", "scheduler.cli", *args, "--config", str(config)], cwd=REPO,
                                env=env, stdout=(tmp_path / log).open("w"), stderr=subprocess.STDOUT)

    workers = [start("worker", "--concurrency", "1", log=f"w{i}.log") for i in range(2)]
    deadline = time.monotonic() + 60  # both workers up before anything is queued
    while time.monotonic() < deadline and sum(
            json.loads(v)["role"] == "worker" for v in redis_client.hgetall(INSTANCES_KEY).values()) < 2:
        time.sleep(0.1)
    scheduler = start("run", "--distributed", log="sched.log")
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            done = [sid for sid in SOURCES if runs(redis_client, f"crawl:{sid}")]
            if len(done) == len(SOURCES):
                break
            time.sleep(0.2)
        assert len(done) == len(SOURCES), (tmp_path / "sched.log").read_text()[-2000:]
    finally:
        for p in [scheduler, *workers]:
            p.send_signal(signal.SIGTERM)
        codes = [p.wait(60) for p in [scheduler, *workers]]
    assert codes == [0, 0, 0]

    history = {sid: runs(redis_client, f"crawl:{sid}") for sid in SOURCES}
    assert all(len(h) == 1 and h[0].outcome == "ok" and h[0].stats["new"] == 1 for h in history.values())
    instances = {h[0].instance for h in history.values()}
    assert len(instances) == 2, f"one worker did everything: {instances}"
    assert "queued for the workers" in (tmp_path / "sched.log").read_text()
    # every request acknowledged; every article stored once
    assert redis_client.xpending(CRAWL_STREAM, WORKERS_GROUP)["pending"] == 0
    assert redis_client.xlen(CRAWL_STREAM) == len(SOURCES)
    assert redis_client.zcard(ARTICLES_INDEX) == len(SOURCES) == redis_client.xlen(ARTICLE_STREAM)
    assert redis_client.xpending(ARTICLE_STREAM, "alerts")["pending"] == 0
