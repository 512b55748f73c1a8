"""The crawl schedule in the web app: pages for operators (jobs, run history) and a JSON API that
changes jobs the same way ``tallywatch schedule`` does (the running leader picks changes up within
seconds)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from scheduler.history import runs
from scheduler.schedule_cli import JobTable, ScheduleError, describe_trigger, next_times
from web.deps import get_config, get_redis, require_token
from web.templating import templates

router = APIRouter()
api = APIRouter(prefix="/api/schedule", tags=["schedule"], dependencies=[Depends(require_token)])


def _table(request: Request) -> JobTable:
    return JobTable(get_config(request), get_redis(request))


def _job_view(job) -> dict:
    return {
        "id": job.id,
        "name": job.name,
        "state": "paused" if job.next_run_time is None else "active",
        "next_run": job.next_run_time.isoformat() if job.next_run_time else None,
        "schedule": describe_trigger(job.trigger),
        "coalesce": job.coalesce,
        "misfire_grace_time": job.misfire_grace_time,
    }


def _run_view(r) -> dict:
    return {
        "scheduled_for": datetime.fromtimestamp(r.scheduled_for, UTC).isoformat() if r.scheduled_for else None,
        "started": datetime.fromtimestamp(r.started, UTC).isoformat(),
        "duration": round(r.duration, 2) if r.duration is not None else None,
        "outcome": r.outcome,
        "instance": r.instance,
        "stats": r.stats,
        "error": r.error,
    }


@router.get("/schedule", response_class=HTMLResponse, include_in_schema=False)
def schedule_page(request: Request):
    table = _table(request)
    jobs = [_job_view(j) for j in table.get_jobs()]
    for j in jobs:
        history = runs(get_redis(request), j["id"], 1)
        j["last"] = _run_view(history[0]) if history else None
    return templates.TemplateResponse(request, "schedule.html",
                                      {"jobs": jobs, "broken": table.store.broken_jobs()})


@router.get("/schedule/{job_id}", response_class=HTMLResponse, include_in_schema=False)
def job_page(request: Request, job_id: str):
    job = _table(request).get_job(job_id)
    history = [_run_view(r) for r in runs(get_redis(request), job_id, 100)]
    if job is None and not history:
        raise HTTPException(404, f"no job {job_id!r}")
    return templates.TemplateResponse(request, "schedule_job.html",
                                      {"job": _job_view(job) if job else None, "job_id": job_id, "runs": history})


class JobChange(BaseModel):
    schedule: str | None = Field(None, description="5-field cron expression or 'every 10m'")
    timezone: str | None = Field(None, description="e.g. Europe/Kyiv")
    jitter: int | None = Field(None, ge=0, description="up to N random seconds added to each run")
    misfire_grace_time: int | None = Field(None, ge=1)
    coalesce: bool | None = None


@api.get("/jobs")
def list_jobs(request: Request) -> dict:
    table = _table(request)
    return {"jobs": [_job_view(j) for j in table.get_jobs()], "broken": table.store.broken_jobs()}


def _existing(table: JobTable, job_id: str):
    job = table.get_job(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


@api.patch("/jobs/{job_id}")
def edit_job(request: Request, job_id: str, change: JobChange) -> dict:
    table = _table(request)
    _existing(table, job_id)
    try:
        job = table.edit_job(job_id, spec=change.schedule, tz=change.timezone, jitter=change.jitter,
                             misfire_grace_time=change.misfire_grace_time, coalesce=change.coalesce)
    except ScheduleError as e:
        raise HTTPException(422, str(e)) from None
    view = _job_view(job)
    view["next_runs"] = [t.isoformat() for t in next_times(job.trigger)]
    return view


@api.post("/jobs/{job_id}/pause")
def pause_job(request: Request, job_id: str) -> dict:
    table = _table(request)
    _existing(table, job_id)
    return _job_view(table.pause_job(job_id))


@api.post("/jobs/{job_id}/resume")
def resume_job(request: Request, job_id: str) -> dict:
    table = _table(request)
    _existing(table, job_id)
    return _job_view(table.resume_job(job_id))


@api.post("/jobs/{job_id}/run-now")
def run_now(request: Request, job_id: str) -> dict:
    table = _table(request)
    _existing(table, job_id)
    return _job_view(table.modify_job(job_id, next_run_time=datetime.now(UTC)))


@api.get("/jobs/{job_id}/history")
def job_history(request: Request, job_id: str, limit: int = 20) -> dict:
    return {"job": job_id, "runs": [_run_view(r) for r in runs(get_redis(request), job_id, limit)],
            "as_of": time.time()}


router.include_router(api)
