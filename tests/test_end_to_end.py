"""The whole pipeline as `make demo` runs it, on real components: the local news site, `tallywatch run`
processes (APScheduler + Scrapy) on a real redis-server, a real SMTP server (aiosmtpd) and a real webhook
receiver verifying Standard Webhooks signatures. Every alert's content and count is checked: each goes
out exactly once, and a cycle with nothing new sends nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scheduler import demo
from scheduler.history import runs
from scheduler.receivers import MailSink, WebhookReceiver
from tallywatch.store import ARTICLE_STREAM

REPO = Path(__file__).resolve().parent.parent

RECORD = "NEW RECORD: 539 drones in one night (previous 537, 29 June)"
DIVERGING = "DIVERGING: injured 23 (CNN, at least) vs 14 (The Guardian) — Kyiv, night of 3-4 July"
CHANGED = f"CHANGED: injured 23 → {demo.UPDATED_TOLL} (CNN)"


@pytest.fixture
def pipeline(tmp_path, redis_server, redis_client):
    site, paths = demo.build_site()
    sink = MailSink(tmp_path / "mail").start()
    receiver = WebhookReceiver(secret=demo.SECRET, outdir=tmp_path / "webhooks").start()
    config = demo.write_config(tmp_path, site, sink.port, receiver.url)

    def cycle() -> None:
        env = os.environ | {"REDIS_URL": redis_server.url}
        env.pop("SENTRY_DSN", None)
        proc = subprocess.run([sys.executable, "-m", "scheduler.cli", "run", "--cycles", "1", "--config", str(config)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr, proc.stderr[-3000:]

    yield site, paths, sink, receiver, cycle
    receiver.stop()
    sink.stop()
    site.stop()


def webhook_titles(receiver) -> list[str]:
    return [d.payload["data"]["title"] for d in receiver.deliveries]


def test_demo_pipeline_alerts_exactly_once(pipeline, redis_client):
    site, paths, sink, receiver, cycle = pipeline

    cycle()  # first crawl of the five feeds
    assert len(sink.messages) == 1
    msg = sink.messages[0]
    assert msg["To"] == "analyst@newsroom.invalid"
    assert RECORD in msg["Subject"] and DIVERGING in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert "539" in part and "537" in part and "23" in part and "14" in part
    assert "Previous record: 537 drones and missiles" in text
    assert "How each outlet reported it: http://127.0.0.1:8080/events/2025-07-04-kyiv" in text  # the breakdown page
    assert "<html" in html.lower() and "The Guardian" in html

    assert all(d.verified for d in receiver.deliveries), [d.error for d in receiver.deliveries]
    assert sorted(webhook_titles(receiver)) == sorted([RECORD, DIVERGING])
    record = next(d.payload for d in receiver.deliveries if d.payload["type"] == "alert.record")
    assert record["data"]["metric"] == "drones_launched"
    assert record["data"]["previous"]["value"] == 537

    # the syndicated verbatim copy was recognised and dropped: stored once, alerted never
    syndication = runs(redis_client, "crawl:syndication") + runs(redis_client, "crawl:sky")
    assert sum(r.stats.get("duplicate", 0) for r in syndication) == 1
    assert sum(r.stats.get("new", 0) for r in syndication) == 1
    assert redis_client.xlen(ARTICLE_STREAM) == 4  # cnn, guardian, independent, one Sky report

    # second cycle: CNN raises its toll; only the change goes out, no second DIVERGING
    demo.update_toll(site, paths["cnn-record-drones"])
    cycle()
    assert len(sink.messages) == 2
    assert sink.messages[1]["Subject"] == f"[tallywatch] {CHANGED}"
    assert f"at least 23 → at least {demo.UPDATED_TOLL} injured" in sink.messages[1].get_body(("plain",)).get_content()
    assert webhook_titles(receiver).count(CHANGED) == 1
    assert len(receiver.deliveries) == 3
    assert redis_client.xlen(ARTICLE_STREAM) == 5

    # a cycle with nothing new: feeds answer 304, nothing is sent
    cycle()
    assert len(sink.messages) == 2
    assert len(receiver.deliveries) == 3
    assert all(d.verified for d in receiver.deliveries)
    assert sorted(p.name for p in (sink.outdir).iterdir()) == ["001.eml", "002.eml"]


def test_demo_command_runs(tmp_path):
    """`tallywatch demo` (what `make demo` runs) prints the alerts a subscriber received."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SENTRY_DSN")}
    proc = subprocess.run([sys.executable, "-m", "scheduler.cli", "demo", "--out", str(tmp_path / "out")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout
    for expected in (RECORD, DIVERGING, CHANGED, "signature verified", "duplicates dropped 1"):
        assert expected in out
    assert "SIGNATURE INVALID" not in out
    assert len(list((tmp_path / "out" / "mail").glob("*.eml"))) == 2
    assert len(list((tmp_path / "out" / "webhooks").glob("*.json"))) == 3


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    proc = subprocess.run([sys.executable, "-m", "scheduler.cli", "demo", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "was not made by the demo" in proc.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"
