"""``tallywatch status``: is the service healthy? Exit code 0 when it is, 1 when not."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scheduler.history import last_ok
from scheduler.jobstore import BROKEN_KEY
from scheduler.leader import INSTANCES_KEY, LEADER_KEY
from scheduler.service import FIRST_SCHEDULED_KEY
from tallywatch.config import Config
from tallywatch.store import ALERTS_GROUP, ARTICLE_STREAM

STALE_AFTER = 30.0  # seconds without a heartbeat: the process is gone
SILENT_INTERVALS = 3  # a source with no successful crawl for this many intervals is silent


@dataclass
class Health:
    lines: list[tuple[str, str]] = field(default_factory=list)  # (OK|WARN|FAIL, text)

    def add(self, level: str, text: str) -> None:
        self.lines.append((level, text))

    @property
    def healthy(self) -> bool:
        return all(level != "FAIL" for level, _ in self.lines)


def source_interval(source, tz: str) -> float:
    """Seconds between two runs of the source's schedule (the gap after the next run)."""
    trigger = source.trigger(tz)
    now = datetime.now(UTC)
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first)
    return (second - first).total_seconds() if first and second else 0.0


def silent_sources(redis, config: Config, now: float | None = None) -> list[tuple[str, float | None]]:
    """(source id, last success epoch or None) for enabled sources with no success in 3 intervals.
    A source never crawled counts from when the scheduler first took its schedule."""
    now = now or time.time()
    ok = last_ok(redis)
    first_seen = {k: float(v) for k, v in redis.hgetall(FIRST_SCHEDULED_KEY).items()}
    out = []
    for s in config.enabled_sources:
        since = ok.get(s.id) or first_seen.get(s.id)
        if since is None:
            continue
        if now - since > SILENT_INTERVALS * source_interval(s, config.settings.timezone):
            out.append((s.id, ok.get(s.id)))
    return out


def check(redis, config: Config) -> Health:
    h = Health()
    try:
        redis.ping()
        h.add("OK", "Redis reachable")
    except Exception as e:
        h.add("FAIL", f"Redis unreachable: {e}")
        return h
    now = time.time()
    instances = {k: json.loads(v) for k, v in redis.hgetall(INSTANCES_KEY).items()}
    live = {k: v for k, v in instances.items() if now - v["seen"] < STALE_AFTER}
    leader = redis.get(LEADER_KEY)
    if leader and leader in live:
        standby = len(live) - 1
        h.add("OK", f"scheduler alive: leader {leader}" + (f", {standby} standing by" if standby else ""))
    elif config.enabled_sources:
        h.add("FAIL", "no scheduler is running (start 'tallywatch run')")
    for job_id, reason in redis.hgetall(BROKEN_KEY).items():
        h.add("FAIL", f"job {job_id} cannot be restored: {reason}")
    ok = last_ok(redis)
    silent = dict(silent_sources(redis, config, now))
    for s in config.enabled_sources:
        when = ok.get(s.id)
        text = f"source {s.id}: last successful crawl " + (
            datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if when else "never")
        h.add("FAIL" if s.id in silent else "OK", text + (" (silent)" if s.id in silent else ""))
    from scheduler.distributed import queue_depth

    workers = [k for k, v in live.items() if v.get("role") == "worker"]
    depth = queue_depth(redis)
    if workers or depth["waiting"] or depth["in_progress"]:
        h.add("OK" if workers or not depth["waiting"] else "FAIL",
              f"distributed: {len(workers)} live workers, {depth['waiting']} crawl requests waiting, "
              f"{depth['in_progress']} in progress")
    try:
        pending = redis.xpending(ARTICLE_STREAM, ALERTS_GROUP)["pending"]
    except Exception:
        pending = 0
    h.add("OK" if pending == 0 else "WARN", f"article versions awaiting alert processing: {pending}")
    try:
        from alerts.history import delivery_health

        for level, text in delivery_health(redis):
            h.add(level, text)
    except ImportError:
        pass
    return h


def print_health(h: Health, out) -> int:
    for level, text in h.lines:
        print(f"{level:<5} {text}", file=out)
    print("healthy" if h.healthy else "UNHEALTHY", file=out)
    return 0 if h.healthy else 1
