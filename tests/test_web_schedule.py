"""Schedule pages and the schedule API of the web app, on a real Redis."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from scheduler.history import Run, record_run
from scheduler.schedule_cli import JobTable
from tallywatch.config import parse_config, parse_schedule
from web.app import create_app

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def app_and_table(redis_client, monkeypatch):
    monkeypatch.setenv("TALLYWATCH_API_TOKEN", TOKEN)
    config = parse_config({"sources": [{"id": "kyiv", "kind": "rss", "url": "https://example.org/feed",
                                        "schedule": "every 10m"}]})
    table = JobTable(config, redis_client)
    table.add_job("scheduler.jobs:crawl", parse_schedule("every 10m"), id="crawl:kyiv", args=["kyiv"],
                  name="crawl kyiv")
    return TestClient(create_app(config, redis_client)), table


def auth(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_pages_show_jobs_and_escaped_history(app_and_table, redis_client):
    client, _ = app_and_table
    now = time.time()
    record_run(redis_client, Run(job_id="crawl:kyiv", scheduled_for=now - 5, started=now - 5, ended=now - 3,
                                 outcome="error", stats={"new": 2, "alerts": 1},
                                 error="HTTP 500 <script>alert(1)</script>"))
    page = client.get("/schedule")
    assert page.status_code == 200
    assert "crawl:kyiv" in page.text and "every 10m" in page.text and "error" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    detail = client.get("/schedule/crawl:kyiv")
    assert detail.status_code == 200 and "Run history" in detail.text and ">2<" in detail.text
    assert client.get("/schedule/nope").status_code == 404


def test_api_needs_a_token(app_and_table, monkeypatch):
    client, _ = app_and_table
    assert client.get("/api/schedule/jobs").status_code == 401
    assert client.get("/api/schedule/jobs", headers=auth("wrong")).status_code == 401
    monkeypatch.delenv("TALLYWATCH_API_TOKEN")
    closed = client.get("/api/schedule/jobs", headers=auth())
    assert closed.status_code == 503 and "TALLYWATCH_API_TOKEN" in closed.json()["detail"]


def test_api_changes_reach_the_store(app_and_table):
    client, table = app_and_table
    jobs = client.get("/api/schedule/jobs", headers=auth()).json()["jobs"]
    assert [j["id"] for j in jobs] == ["crawl:kyiv"]

    edited = client.patch("/api/schedule/jobs/crawl:kyiv", headers=auth(),
                          json={"schedule": "*/5 * * * *", "timezone": "Europe/Kyiv", "jitter": 10})
    assert edited.status_code == 200, edited.text
    assert len(edited.json()["next_runs"]) == 3
    assert "Europe/Kyiv" in str(table.get_job("crawl:kyiv").trigger.timezone)
    assert table.get_job("crawl:kyiv").trigger.jitter == 10

    kept = client.patch("/api/schedule/jobs/crawl:kyiv", headers=auth(), json={"timezone": "UTC"})
    assert kept.json()["schedule"] == "*/5 * * * * (UTC, jitter 10s)"  # only the time zone changed
    bad = client.patch("/api/schedule/jobs/crawl:kyiv", headers=auth(), json={"schedule": "99 * * * *"})
    assert bad.status_code == 422 and "invalid schedule" in bad.json()["detail"]
    assert client.patch("/api/schedule/jobs/crawl:kyiv", headers=auth(), json={"jitter": -1}).status_code == 422

    assert client.post("/api/schedule/jobs/crawl:kyiv/pause", headers=auth()).json()["state"] == "paused"
    assert table.get_job("crawl:kyiv").next_run_time is None
    assert client.post("/api/schedule/jobs/crawl:kyiv/resume", headers=auth()).json()["state"] == "active"
    before = time.time()
    client.post("/api/schedule/jobs/crawl:kyiv/run-now", headers=auth())
    assert table.get_job("crawl:kyiv").next_run_time.timestamp() <= before + 2
    assert client.post("/api/schedule/jobs/nope/pause", headers=auth()).status_code == 404
    assert "/api/schedule/jobs/{job_id}" in client.get("/openapi.json").json()["paths"]
