"""Persistent jobs in Redis, with the two guards APScheduler 3.x lacks.

1. ``GuardedRedisJobStore``: APScheduler's RedisJobStore DELETES a job it cannot restore (say its
   function was renamed in a deploy). Ours keeps the job, takes it off the run-time index so it is
   not retried every second, records it as broken and reports it (log ERROR + Sentry). ``schedule
   resume`` puts it back once the code is fixed.
2. ``ClaimingExecutor``: each fire time of a job is claimed in Redis (SET NX) before it runs, so a
   fire time is never run twice, even across a leader change.
"""

from __future__ import annotations

import contextvars
import logging
from datetime import UTC, datetime

import redis as redis_lib
from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.executors.base import run_coroutine_job
from apscheduler.jobstores.redis import RedisJobStore
from apscheduler.util import iscoroutinefunction_partial

from tallywatch.observability import report_exception

log = logging.getLogger("tallywatch.scheduler")

JOBS_KEY = "tw:scheduler:jobs"
RUN_TIMES_KEY = "tw:scheduler:run_times"
BROKEN_KEY = "tw:scheduler:broken"  # hash job id -> why it can't be restored
CLAIM_TTL = 7 * 24 * 3600

# The fire time the current job run serves (set by ClaimingExecutor for the job's task).
scheduled_for: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("scheduled_for", default=None)


def binary_client(client: redis_lib.Redis) -> redis_lib.Redis:
    """A client on the same server without decode_responses (APScheduler stores pickles)."""
    pool = client.connection_pool
    kwargs = dict(pool.connection_kwargs)
    kwargs["decode_responses"] = False
    return redis_lib.Redis(connection_pool=redis_lib.ConnectionPool(connection_class=pool.connection_class, **kwargs))


class GuardedRedisJobStore(RedisJobStore):
    def __init__(self, client: redis_lib.Redis):
        super().__init__(jobs_key=JOBS_KEY, run_times_key=RUN_TIMES_KEY,
                         connection_pool=binary_client(client).connection_pool)

    def _reconstitute_jobs(self, job_states):
        jobs = []
        for job_id, job_state in job_states:
            try:
                jobs.append(self._reconstitute_job(job_state))
            except Exception as e:  # never delete: quarantine and report
                self.quarantine(job_id, e)
        return jobs

    def quarantine(self, job_id, exc: Exception) -> None:
        job_id = job_id.decode() if isinstance(job_id, bytes) else job_id
        reason = f"{type(exc).__name__}: {exc}"
        with self.redis.pipeline() as pipe:
            pipe.hset(BROKEN_KEY, job_id, reason)
            pipe.zrem(self.run_times_key, job_id)
            first, *_ = pipe.execute()
        if first:
            log.error("job %r cannot be restored (%s): kept in the store, not scheduled; fix the code "
                      "and run 'tallywatch schedule resume %s'", job_id, reason, job_id)
            report_exception(exc, job=job_id, problem="unrestorable job")

    def broken_jobs(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.redis.hgetall(BROKEN_KEY).items()}

    def job_ids(self) -> list[str]:
        return sorted(k.decode() for k in self.redis.hkeys(self.jobs_key))


def claim_key(job_id: str, run_time: datetime) -> str:
    return f"tw:scheduler:fired:{job_id}:{int(run_time.timestamp())}"


def inflight_key(instance_id: str) -> str:
    """Set of "job_id|epoch" fire times this instance claimed and has not finished yet."""
    return f"tw:scheduler:inflight:{instance_id}"


def inflight_member(job_id: str, t: datetime) -> str:
    return f"{job_id}|{t.timestamp()}"


def split_inflight(member: str) -> tuple[str, datetime]:
    job_id, _, ts = member.rpartition("|")
    return job_id, datetime.fromtimestamp(float(ts), UTC)


class ClaimingExecutor(AsyncIOExecutor):
    """Runs coroutine jobs on the event loop, one run of a job at a time, dropping no fire time.

    Each fire time is claimed in Redis first (a fire time already claimed, by this or another
    scheduler, is not run again). A fire time that comes while the job's previous run is still
    going is queued, not skipped as APScheduler's max_instances would; with ``coalesce`` the
    queued ones are folded into one run and recorded as coalesced (``on_coalesced``)."""

    def __init__(self, client: redis_lib.Redis, instance_id: str, on_coalesced=None):
        super().__init__()
        self.client = client
        self.instance_id = instance_id
        self.on_coalesced = on_coalesced
        self._queued: dict[str, list[datetime]] = {}

    def submit_job(self, job, run_times):
        fresh = [t for t in run_times
                 if self.client.set(claim_key(job.id, t), self.instance_id, nx=True, ex=CLAIM_TTL)]
        if not fresh:
            log.info("job %s at %s was already run by another scheduler; skipped", job.id, run_times[-1])
            return
        self._run(job, fresh)

    def take_over(self, job, run_times: list[datetime]) -> None:
        """Run fire times a dead scheduler had claimed but not finished."""
        for t in run_times:
            self.client.set(claim_key(job.id, t), self.instance_id, ex=CLAIM_TTL)
        log.warning("job %s: running %d fire time(s) a dead scheduler left unfinished", job.id, len(run_times))
        self._run(job, run_times)

    def _run(self, job, fresh: list[datetime]) -> None:
        self.client.sadd(inflight_key(self.instance_id), *(inflight_member(job.id, t) for t in fresh))
        if not iscoroutinefunction_partial(job.func):
            super().submit_job(job, fresh)
            return
        with self._lock:
            if job.id in self._queued:  # a run is going: these wait for it
                self._queued[job.id].extend(fresh)
                return
            self._queued[job.id] = []
        task = self._eventloop.create_task(self._drain(job, fresh))
        self._pending_futures.add(task)
        task.add_done_callback(self._pending_futures.discard)

    async def _drain(self, job, run_times: list[datetime]) -> None:
        try:
            while run_times:
                if job.coalesce and len(run_times) > 1:
                    for t in run_times[:-1]:
                        if self.on_coalesced:
                            self.on_coalesced(job.id, t, run_times[-1])
                    run_times = run_times[-1:]
                for t in run_times:
                    token = scheduled_for.set(t)
                    try:
                        events = await run_coroutine_job(job, job._jobstore_alias, [t], self._logger.name)
                    except Exception:
                        self._logger.exception("error running job %s", job.id)
                        events = []
                    finally:
                        scheduled_for.reset(token)
                        self.client.srem(inflight_key(self.instance_id), inflight_member(job.id, t))
                    for event in events:
                        self._scheduler._dispatch_event(event)
                with self._lock:
                    run_times = self._queued[job.id]
                    self._queued[job.id] = []
        finally:
            with self._lock:
                self._queued.pop(job.id, None)
