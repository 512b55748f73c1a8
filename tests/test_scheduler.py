"""The scheduler as operators run it: real `tallywatch run` processes, a real Redis, Scrapy crawling a
local news site. Persistent jobs, live changes from the CLI, run history, broken jobs, clean SIGTERM,
leader election with fail-over."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scheduler.history import runs
from scheduler.jobstore import BROKEN_KEY, JOBS_KEY
from scheduler.leader import LEADER_KEY
from tallywatch.store import ARTICLE_STREAM, ARTICLES_INDEX, article_key, article_versions_key

REPO = Path(__file__).resolve().parent.parent
JOB = "crawl:local"


def write_config(tmp_path: Path, site, schedule: str = "every 1h", leader_ttl: float = 15) -> Path:
    path = tmp_path / "tallywatch.toml"
    path.write_text(f"""
[settings]
data_dir = "{tmp_path / 'data'}"
leader_ttl = {leader_ttl}
download_delay = 0

[[sources]]
id = "local"
outlet = "Local Daily"
kind = "rss"
url = "{site.feed_url('news')}"
schedule = "{schedule}"
""")
    return path


@pytest.fixture
def site(news_site):
    news_site.add_article("/kyiv/overnight-attack", "Drones hit Kyiv overnight",
                          "Russia launched 120 drones at Ukraine overnight, the air force said.\n"
                          "At least five people were injured in Kyiv, the mayor said.",
                          published=datetime(2025, 7, 4, 6, tzinfo=UTC))
    return news_site


def env_for(redis_server) -> dict:
    env = os.environ | {"REDIS_URL": redis_server.url, "PYTHONUNBUFFERED": "1"}
    env.pop("SENTRY_DSN", None)
    return env


def tallywatch(args: list[str], config: Path, redis_server, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "scheduler.cli", *args, "--config", str(config)],
                          capture_output=True, text=True, cwd=REPO, env=env_for(redis_server), timeout=60)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def start_run(config: Path, redis_server, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scheduler.cli", "run", "--config", str(config)],
                            cwd=REPO, env=env_for(redis_server), stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    return proc.wait(timeout)


def test_jobs_persist_cli_changes_reach_running_scheduler_and_history_is_kept(tmp_path, site, redis_server,
                                                                              redis_client):
    config = write_config(tmp_path, site)
    log = tmp_path / "run.log"
    proc = start_run(config, redis_server, log)
    try:
        first = wait_for(lambda: runs(redis_client, JOB), 30, "the first crawl")[0]
        assert first.outcome == "ok", first
        assert first.stats["new"] == 1 and first.stats["entries"] == 1

        # run-now from the CLI reaches the running scheduler without a restart
        asked = time.time()
        out = tallywatch(["schedule", "run-now", JOB], config, redis_server).stdout
        assert "will run within seconds" in out
        wait_for(lambda: len(runs(redis_client, JOB)) >= 2, 15, "the run-now crawl")
        picked_up = runs(redis_client, JOB)[0].started - asked
        assert picked_up < 5.0, f"run-now took {picked_up:.1f}s to start"
        second = runs(redis_client, JOB)[0]
        assert second.outcome == "ok" and second.stats["new"] == 0  # nothing new the second time

        # an edit is visible to the CLI and survives the restart below
        out = tallywatch(["schedule", "edit", JOB, "--cron", "*/30 * * * *", "--tz", "Europe/Kyiv"],
                         config, redis_server).stdout
        assert "next runs:" in out and out.count("EET") + out.count("EEST") >= 3
    finally:
        assert stop(proc) == 0, log.read_text()
    text = log.read_text()
    assert "scheduler stopped" in text and "Traceback" not in text
    assert redis_client.get(LEADER_KEY) is None  # released on the way out

    listing = tallywatch(["schedule", "list"], config, redis_server).stdout
    assert JOB in listing and "*/30 * * * *" in listing and "Europe/Kyiv" in listing
    history = tallywatch(["schedule", "history", JOB], config, redis_server).stdout
    assert history.count(" ok ") == 2

    # restart: the stored (edited) job is kept, not reset from the config
    proc = start_run(config, redis_server, log)
    try:
        wait_for(lambda: redis_client.get(LEADER_KEY), 20, "leadership after restart")
        time.sleep(1)
    finally:
        assert stop(proc) == 0
    assert "*/30 * * * *" in tallywatch(["schedule", "list"], config, redis_server).stdout


def test_schedule_cli_validates_and_shows_next_runs(tmp_path, site, redis_server, redis_client):
    config = write_config(tmp_path, site)
    bad = tallywatch(["schedule", "add", "local", "--id", "x", "--cron", "61 * * * *"], config, redis_server,
                     check=False)
    assert bad.returncode == 2 and "invalid schedule '61 * * * *'" in bad.stderr and "Traceback" not in bad.stderr
    unknown = tallywatch(["schedule", "add", "nope", "--every", "10m"], config, redis_server, check=False)
    assert unknown.returncode == 2 and "no source with id 'nope'" in unknown.stderr

    out = tallywatch(["schedule", "add", "local", "--id", "nightly", "--cron", "0 3 * * *", "--tz", "Europe/Kyiv",
                      "--jitter", "30", "--misfire-grace", "600"], config, redis_server).stdout
    assert "added nightly" in out and "jitter 30s" in out
    assert out.count(":0") >= 3  # three next run times listed
    nxt = tallywatch(["schedule", "next", "*/15 * * * *", "-n", "4"], config, redis_server).stdout.split("\n")
    times = [line for line in nxt if line.strip()]
    assert len(times) == 4 and all(t[14:16] in ("00", "15", "30", "45") for t in times)

    bad_tz = tallywatch(["schedule", "edit", "nightly", "--tz", "Nowhere/X"], config, redis_server, check=False)
    assert bad_tz.returncode == 2 and "invalid time zone 'Nowhere/X'" in bad_tz.stderr
    assert "Traceback" not in bad_tz.stderr
    out = tallywatch(["schedule", "edit", "nightly", "--tz", "UTC"], config, redis_server).stdout
    assert "0 3 * * * (UTC, jitter 30s)" in out  # the time zone changes, schedule and jitter stay
    tallywatch(["schedule", "pause", "nightly"], config, redis_server)
    assert "paused" in tallywatch(["schedule", "list"], config, redis_server).stdout
    out = tallywatch(["schedule", "resume", "nightly"], config, redis_server).stdout
    assert "next run" in out
    tallywatch(["schedule", "remove", "nightly"], config, redis_server)
    missing = tallywatch(["schedule", "pause", "nightly"], config, redis_server, check=False)
    assert missing.returncode == 2 and "no job 'nightly'" in missing.stderr


def test_unimportable_job_is_reported_not_deleted(tmp_path, site, redis_server, redis_client):
    config = write_config(tmp_path, site)
    tallywatch(["schedule", "add", "local", "--id", "renamed", "--every", "10m"], config, redis_server)
    binary = redis_client.connection_pool  # the job state is a pickle: edit it with a binary client
    import redis as redis_lib

    raw = redis_lib.Redis(connection_pool=redis_lib.ConnectionPool(**(binary.connection_kwargs
                                                                       | {"decode_responses": False})))
    state = pickle.loads(raw.hget(JOBS_KEY, "renamed"))
    state["func"] = "scheduler.jobs_that_were_renamed:crawl"
    raw.hset(JOBS_KEY, "renamed", pickle.dumps(state))

    listing = tallywatch(["schedule", "list"], config, redis_server).stdout
    assert "renamed" in listing and "BROKEN" in listing and "jobs_that_were_renamed" in listing
    assert raw.hexists(JOBS_KEY, "renamed")  # kept, not silently deleted
    status = tallywatch(["status"], config, redis_server, check=False)
    assert status.returncode == 1 and "job renamed cannot be restored" in status.stdout

    log = tmp_path / "run.log"
    proc = start_run(config, redis_server, log)
    try:
        wait_for(lambda: runs(redis_client, JOB), 30, "the crawl of the healthy job")
    finally:
        assert stop(proc) == 0
    assert raw.hexists(JOBS_KEY, "renamed") and redis_client.hexists(BROKEN_KEY, "renamed")

    # once the code is back, resume restores it
    state["func"] = "scheduler.jobs:crawl"
    raw.hset(JOBS_KEY, "renamed", pickle.dumps(state))
    assert "resumed renamed" in tallywatch(["schedule", "resume", "renamed"], config, redis_server).stdout
    assert not redis_client.hexists(BROKEN_KEY, "renamed")


def test_sigterm_during_a_crawl_stops_cleanly_with_nothing_half_written(tmp_path, site, redis_server, redis_client):
    for i in range(30):
        site.add_article(f"/live/{i}", f"Update {i}", f"Officials said {i + 2} people were injured in Odesa.\n"
                         f"Paragraph two of update {i}.", published=datetime(2025, 7, 4, 7, i, tzinfo=UTC))
    config = write_config(tmp_path, site)
    log = tmp_path / "run.log"
    proc = start_run(config, redis_server, log)
    wait_for(lambda: sum(n for p, n in site.requests.items() if p.startswith("/live/")) >= 3, 30,
             "the crawl to be under way")
    assert stop(proc, signal.SIGTERM, timeout=30) == 0
    text = log.read_text()
    assert "received SIGTERM" in text and "scheduler stopped" in text and "Traceback" not in text
    # every stored article is whole: its hash, its versions and its stream entries agree
    ids = redis_client.zrange(ARTICLES_INDEX, 0, -1)
    assert ids, "some articles were stored before the stop"
    for article_id in ids:
        versions = redis_client.lrange(article_versions_key(article_id), 0, -1)
        assert len(versions) == int(redis_client.hget(article_key(article_id), "version"))
        assert json.loads(versions[-1])["body"]
    assert redis_client.xlen(ARTICLE_STREAM) == sum(redis_client.llen(article_versions_key(a)) for a in ids)
    assert redis_client.get(LEADER_KEY) is None


def test_one_leader_and_failover_without_skipped_or_doubled_runs(tmp_path, site, redis_server, redis_client):
    config = write_config(tmp_path, site, schedule="every 3s", leader_ttl=6)
    tallywatch(["schedule", "add", "local", "--every", "3s", "--no-coalesce", "--misfire-grace", "120"],
               config, redis_server)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [start_run(config, redis_server, logs[0]), start_run(config, redis_server, logs[1])]
    try:
        wait_for(lambda: len(runs(redis_client, JOB)) >= 3, 40, "three runs")
        leader_pid = int(redis_client.get(LEADER_KEY).split(":")[1])
        assert leader_pid in (procs[0].pid, procs[1].pid)
        assert {r.instance for r in runs(redis_client, JOB)} == {redis_client.get(LEADER_KEY)}  # only the leader
        leader = procs[0] if procs[0].pid == leader_pid else procs[1]
        standby = procs[1] if leader is procs[0] else procs[0]
        # from now on each crawl takes 1.5 s (the feed answers slowly): kill the leader mid-run
        feed_path = site.feed_path("news")
        body, content_type, _ = site.render_feed("news")
        site.set_raw(feed_path, body=body, content_type=content_type, delay=1.5, conditional=False)
        seen = site.requests_started[feed_path]
        wait_for(lambda: site.requests_started[feed_path] > seen, 10, "a crawl to start")
        time.sleep(0.3)
        assert redis_client.smembers(f"tw:scheduler:inflight:{redis_client.get(LEADER_KEY)}"), "no run in flight"
        leader.kill()
        killed_at = time.time()
        leader.wait(10)
        new_leader = wait_for(lambda: (redis_client.get(LEADER_KEY) or "").split(":")[1:2] == [str(standby.pid)],
                              30, "the standby to take over")
        assert new_leader
        took_over = time.time() - killed_at
        assert took_over < 30
        wait_for(lambda: any(r.scheduled_for and r.scheduled_for > killed_at + 12 for r in runs(redis_client, JOB)),
                 40, "runs after the take-over")
    finally:
        for p in procs:
            stop(p)
    history = sorted(runs(redis_client, JOB), key=lambda r: r.scheduled_for or 0)
    fires = [r.scheduled_for for r in history if r.scheduled_for]
    new_leader_log = logs[0 if standby is procs[0] else 1].read_text()
    assert "a dead scheduler left unfinished" in new_leader_log  # the run killed mid-way was run again
    assert len(fires) == len(set(fires)), "a fire time ran twice"
    gaps = [b - a for a, b in zip(fires, fires[1:], strict=False)]
    assert max(gaps) <= 3.0 + 0.01, f"a fire time was skipped: gaps {gaps}"
    assert all(r.outcome == "ok" for r in history)
