"""Run history per job, kept in Redis (the last ``KEEP`` runs), and last success per source."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

KEEP = 100


def history_key(job_id: str) -> str:
    return f"tw:scheduler:history:{job_id}"


LAST_OK_KEY = "tw:scheduler:last_ok"  # hash source_id -> epoch of the last successful crawl


@dataclass
class Run:
    job_id: str
    scheduled_for: float | None  # epoch of the fire time this run served
    started: float
    ended: float | None = None
    outcome: str = "running"  # ok | error | skipped
    instance: str = ""
    stats: dict = field(default_factory=dict)  # fetched/new/duplicate/..., figures, alerts
    error: str | None = None

    @property
    def duration(self) -> float | None:
        return None if self.ended is None else self.ended - self.started


def record_run(redis, run: Run) -> None:
    key = history_key(run.job_id)
    with redis.pipeline() as pipe:
        pipe.lpush(key, json.dumps(asdict(run)))
        pipe.ltrim(key, 0, KEEP - 1)
        if run.outcome == "ok" and run.job_id.startswith("crawl:"):
            pipe.hset(LAST_OK_KEY, run.job_id.removeprefix("crawl:"), run.ended or time.time())
        pipe.execute()


def runs(redis, job_id: str, limit: int = KEEP) -> list[Run]:
    return [Run(**json.loads(raw)) for raw in redis.lrange(history_key(job_id), 0, limit - 1)]


def last_ok(redis) -> dict[str, float]:
    return {k: float(v) for k, v in redis.hgetall(LAST_OK_KEY).items()}
