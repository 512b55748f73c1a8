"""``tallywatch schedule ...``: the operator's view of the persistent job store.

Changes are written to the Redis job store; a running leader re-reads the store every couple of
seconds, so they take effect without a restart.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import astimezone

from scheduler import jobs
from scheduler.history import runs
from scheduler.jobstore import BROKEN_KEY, GuardedRedisJobStore
from scheduler.service import JOB_DEFAULTS
from tallywatch.config import Config, parse_schedule


class ScheduleError(Exception):
    """A mistake in a schedule command; printed as one line."""


@dataclass
class Ctx:
    sched: JobTable
    store: GuardedRedisJobStore
    redis: object
    config: Config
    args: object
    out: object


class JobTable:
    """The job store, edited directly: no scheduler runs here, so nothing can be executed or have
    its next run consumed by the CLI process (a paused APScheduler instance would, on shutdown)."""

    def __init__(self, config: Config, redis):
        self.tz = config.settings.timezone
        self.store = GuardedRedisJobStore(redis)
        # a never-started scheduler: Job objects need one for time zones and defaults
        self._owner = BlockingScheduler(timezone=self.tz, job_defaults=JOB_DEFAULTS)
        self.store.start(self._owner, "default")

    def get_jobs(self) -> list[Job]:
        return self.store.get_all_jobs()

    def get_job(self, job_id: str) -> Job | None:
        try:
            return self.store.lookup_job(job_id)
        except Exception as e:  # unrestorable: quarantined, reported by `list`
            self.store.quarantine(job_id, e)
            return None

    def add_job(self, func: str, trigger, **kwargs) -> Job:
        fields = {"args": (), "kwargs": {}, "name": func} | JOB_DEFAULTS | kwargs
        job = Job(self._owner, func=func, trigger=trigger, executor="default",
                  next_run_time=trigger.get_next_fire_time(None, datetime.now(UTC)), **fields)
        self.store.add_job(job)
        return job

    def modify_job(self, job_id: str, **changes) -> Job:
        job = self.get_job(job_id)
        job._modify(**changes)
        self.store.update_job(job)
        return job

    def reschedule_job(self, job_id: str, trigger) -> Job:
        return self.modify_job(job_id, trigger=trigger,
                               next_run_time=trigger.get_next_fire_time(None, datetime.now(UTC)))

    def edit_job(self, job_id: str, *, spec: str | None = None, tz: str | None = None, jitter: int | None = None,
                 misfire_grace_time: int | None = None, coalesce: bool | None = None) -> Job:
        """Change a job's schedule and options; what is not given stays. A new ``spec`` (cron or
        "every 10m") replaces the schedule, with ``jitter`` as given (none if not); ``tz`` or
        ``jitter`` alone keep the schedule. The CLI and the web API both edit through here."""
        job = self.get_job(job_id)
        options = {k: v for k, v in (("misfire_grace_time", misfire_grace_time), ("coalesce", coalesce))
                   if v is not None}
        if options:
            job = self.modify_job(job_id, **options)
        if spec is None and tz is None and jitter is None:
            return job
        zone = tz or str(job.trigger.timezone)
        try:
            if spec is not None:
                trigger = parse_schedule(spec, zone, jitter=jitter)
            else:
                trigger = copy.copy(job.trigger)
                trigger.timezone = astimezone(zone)
                if jitter is not None:
                    trigger.jitter = jitter
        except Exception as e:
            what = f"schedule {spec!r}" if spec is not None else f"time zone {zone!r}"
            raise ScheduleError(f"invalid {what}: {e}") from None
        return self.reschedule_job(job_id, trigger)

    def pause_job(self, job_id: str) -> Job:
        return self.modify_job(job_id, next_run_time=None)

    def resume_job(self, job_id: str) -> Job:
        job = self.get_job(job_id)
        return self.modify_job(job_id, next_run_time=job.trigger.get_next_fire_time(None, datetime.now(UTC)))

    def remove_job(self, job_id: str) -> None:
        self.store.remove_job(job_id)


def describe_trigger(trigger) -> str:
    if isinstance(trigger, IntervalTrigger):
        secs = int(trigger.interval.total_seconds())
        text = f"every {secs // 3600}h" if secs % 3600 == 0 else f"every {secs // 60}m" if secs % 60 == 0 \
            else f"every {secs}s"
    elif isinstance(trigger, CronTrigger):
        fields = {f.name: str(f) for f in trigger.fields}
        text = " ".join(fields[k] for k in ("minute", "hour", "day", "month", "day_of_week"))
    else:
        text = str(trigger)
    extras = [str(trigger.timezone)]
    if getattr(trigger, "jitter", None):
        extras.append(f"jitter {trigger.jitter}s")
    return f"{text} ({', '.join(extras)})"


def next_times(trigger, n: int = 3, now: datetime | None = None) -> list[datetime]:
    out: list[datetime] = []
    prev, now = None, now or datetime.now(UTC)
    for _ in range(n):
        t = trigger.get_next_fire_time(prev, now if prev is None else prev)
        if t is None:
            break
        out.append(t)
        prev, now = t, t
    return out


def _trigger_from_args(args, tz: str):
    spec = args.cron or (f"every {args.every}" if args.every else None)
    if spec is None:
        return None
    try:
        return parse_schedule(spec, tz, jitter=args.jitter)
    except Exception as e:
        raise ScheduleError(f"invalid schedule {spec!r}: {e}") from None


def _job(sched, job_id: str):
    job = sched.get_job(job_id)
    if job is None:
        known = ", ".join(j.id for j in sched.get_jobs()) or "none"
        raise ScheduleError(f"no job {job_id!r} (jobs: {known})")
    return job


def _show_next(trigger, out) -> None:
    times = next_times(trigger)
    print("next runs: " + ", ".join(t.strftime("%Y-%m-%d %H:%M:%S %Z") for t in times), file=out)


def cmd_list(c: Ctx) -> int:
    jobs_ = c.sched.get_jobs()  # quarantines any job that cannot be restored
    broken = c.store.broken_jobs()
    print(f"{'JOB':<28} {'STATE':<8} {'NEXT RUN':<26} SCHEDULE", file=c.out)
    for job in jobs_:
        state = "paused" if job.next_run_time is None else "active"
        nxt = job.next_run_time.strftime("%Y-%m-%d %H:%M:%S %Z") if job.next_run_time else "-"
        print(f"{job.id:<28} {state:<8} {nxt:<26} {describe_trigger(job.trigger)}", file=c.out)
    for job_id, reason in broken.items():
        print(f"{job_id:<28} {'BROKEN':<8} {'-':<26} cannot be restored: {reason}", file=c.out)
    return 0


def cmd_add(c: Ctx) -> int:
    c.config.source(c.args.source)  # ConfigError names an unknown source
    tz = c.args.tz or c.config.settings.timezone
    trigger = _trigger_from_args(c.args, tz)
    if trigger is None:
        raise ScheduleError("give --cron 'EXPR' or --every 10m")
    job_id = c.args.id or jobs.crawl_job_id(c.args.source)
    if c.sched.get_job(job_id):
        raise ScheduleError(f"job {job_id!r} exists already: use 'schedule edit {job_id}' or --id NEW_ID")
    options = {"coalesce": not c.args.no_coalesce}
    if c.args.misfire_grace is not None:
        options["misfire_grace_time"] = c.args.misfire_grace
    job = c.sched.add_job(jobs.CRAWL_FUNC, trigger=trigger, args=[c.args.source], id=job_id,
                          name=f"crawl {c.args.source}", **JOB_DEFAULTS | options)
    print(f"added {job.id}: {describe_trigger(trigger)}", file=c.out)
    _show_next(trigger, c.out)
    return 0


def cmd_edit(c: Ctx) -> int:
    job = _job(c.sched, c.args.job)
    spec = c.args.cron or (f"every {c.args.every}" if c.args.every else None)
    coalesce = True if c.args.coalesce else False if c.args.no_coalesce else None
    if spec is None and c.args.tz is None and c.args.jitter is None and c.args.misfire_grace is None \
            and coalesce is None:
        raise ScheduleError("nothing to change: give --cron/--every, --tz, --jitter, --misfire-grace "
                            "or --[no-]coalesce")
    job = c.sched.edit_job(job.id, spec=spec, tz=c.args.tz, jitter=c.args.jitter,
                           misfire_grace_time=c.args.misfire_grace, coalesce=coalesce)
    print(f"{job.id}: {describe_trigger(job.trigger)}; coalesce {job.coalesce}, "
          f"misfire grace {job.misfire_grace_time}s", file=c.out)
    _show_next(job.trigger, c.out)
    return 0


def cmd_pause(c: Ctx) -> int:
    c.sched.pause_job(_job(c.sched, c.args.job).id)
    print(f"paused {c.args.job}", file=c.out)
    return 0


def cmd_resume(c: Ctx) -> int:
    if c.args.job in c.store.broken_jobs():  # the code may be fixed: try to restore it
        c.store.redis.hdel(BROKEN_KEY, c.args.job)
        state = c.store.redis.hget(c.store.jobs_key, c.args.job)
        try:
            c.store._reconstitute_job(state)
        except Exception as e:
            c.store.quarantine(c.args.job, e)
            raise ScheduleError(f"job {c.args.job!r} still cannot be restored: {type(e).__name__}: {e}") from None
    job = c.sched.resume_job(_job(c.sched, c.args.job).id)
    print(f"resumed {c.args.job}; next run {job.next_run_time:%Y-%m-%d %H:%M:%S %Z}", file=c.out)
    return 0


def cmd_remove(c: Ctx) -> int:
    try:
        c.sched.remove_job(c.args.job)
    except JobLookupError:
        if c.store.redis.hdel(BROKEN_KEY, c.args.job):  # a broken job: remove its stored state too
            c.store.redis.hdel(c.store.jobs_key, c.args.job)
        else:
            raise ScheduleError(f"no job {c.args.job!r}") from None
    print(f"removed {c.args.job}", file=c.out)
    return 0


def cmd_run_now(c: Ctx) -> int:
    job = _job(c.sched, c.args.job)
    c.sched.modify_job(job.id, next_run_time=datetime.now(UTC))
    print(f"{job.id} will run within seconds (the running scheduler picks it up)", file=c.out)
    return 0


def cmd_next(c: Ctx) -> int:
    tz = c.args.tz or c.config.settings.timezone
    job = c.sched.get_job(c.args.what)
    if job is not None:
        trigger = job.trigger
    else:
        try:
            trigger = parse_schedule(c.args.what, tz)
        except Exception as e:
            raise ScheduleError(f"{c.args.what!r} is neither a job id nor a valid schedule: {e}") from None
    for t in next_times(trigger, c.args.n):
        print(t.strftime("%Y-%m-%d %H:%M:%S %Z"), file=c.out)
    return 0


def cmd_history(c: Ctx) -> int:
    history = runs(c.redis, c.args.job, c.args.limit)
    if not history:
        print(f"no runs recorded for {c.args.job!r}", file=c.out)
        return 0
    print(f"{'STARTED':<20} {'DURATION':>8}  {'OUTCOME':<8} {'NEW':>4} {'CHG':>4} {'DUP':>4} {'ALERTS':>6}  DETAIL",
          file=c.out)
    for r in history:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.started))
        dur = f"{r.duration:.1f}s" if r.duration is not None else "-"
        s = r.stats
        print(f"{started:<20} {dur:>8}  {r.outcome:<8} {s.get('new', 0):>4} {s.get('changed', 0):>4} "
              f"{s.get('duplicate', 0):>4} {s.get('alerts', 0):>6}  {r.error or ''}", file=c.out)
    return 0


COMMANDS = {
    "list": cmd_list, "add": cmd_add, "edit": cmd_edit, "pause": cmd_pause, "resume": cmd_resume,
    "remove": cmd_remove, "run-now": cmd_run_now, "next": cmd_next, "history": cmd_history,
}


def run_schedule_command(args, config: Config, redis, out) -> int:
    table = JobTable(config, redis)
    return COMMANDS[args.schedule_command](Ctx(table, table.store, redis, config, args, out))


def add_schedule_arguments(with_config, sp) -> None:
    ssub = sp.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")
    add_parser = ssub.add_parser

    def add(name, **kw):
        return add_parser(name, parents=[with_config], **kw)

    ssub.add_parser = add

    def timing(p):
        g = p.add_mutually_exclusive_group()
        g.add_argument("--cron", help="5-field cron expression, e.g. '*/10 * * * *'")
        g.add_argument("--every", help="interval, e.g. 30s, 10m, 2h")
        p.add_argument("--tz", help="time zone, e.g. Europe/Kyiv (default: settings.timezone)")
        p.add_argument("--jitter", type=int, help="add up to N random seconds to each run")
        p.add_argument("--misfire-grace", type=int, help="run a late job if at most N seconds late")
        p.add_argument("--no-coalesce", action="store_true", help="run every missed time, not just once")

    ssub.add_parser("list", help="jobs, their state, next run and schedule")
    p = ssub.add_parser("add", help="add a crawl job for a configured source")
    p.add_argument("source")
    p.add_argument("--id", help="job id (default crawl:SOURCE)")
    timing(p)
    p = ssub.add_parser("edit", help="change a job's schedule or options")
    p.add_argument("job")
    timing(p)
    p.add_argument("--coalesce", action="store_true", help="run missed times once")
    for name, help_ in (("pause", "pause a job"), ("resume", "resume a paused (or repaired broken) job"),
                        ("remove", "remove a job"), ("run-now", "run a job now")):
        ssub.add_parser(name, help=help_).add_argument("job")
    p = ssub.add_parser("next", help="next run times of a job or of a schedule expression")
    p.add_argument("what", help="job id, cron expression or 'every 10m'")
    p.add_argument("-n", type=int, default=3)
    p.add_argument("--tz")
    p = ssub.add_parser("history", help="the last runs of a job")
    p.add_argument("job")
    p.add_argument("--limit", type=int, default=20)
