"""Silent sources: reported once per episode (ERROR log -> Sentry, email to the operators), cleared
when the source crawls again; `tallywatch status` turns unhealthy meanwhile."""

from __future__ import annotations

import logging
import time

from scheduler.history import Run, record_run
from scheduler.receivers import MailSink
from scheduler.service import FIRST_SCHEDULED_KEY
from scheduler.status import check
from scheduler.watchdog import check_silent_sources
from tallywatch.config import parse_config


def config_for(smtp_port: int):
    return parse_config({
        "settings": {"operator_emails": ["ops@newsroom.invalid"]},
        "smtp": {"host": "127.0.0.1", "port": smtp_port},
        "sources": [
            {"id": "quiet", "kind": "rss", "url": "http://127.0.0.1:9/feed", "schedule": "every 10m"},
            {"id": "busy", "kind": "rss", "url": "http://127.0.0.1:9/feed2", "schedule": "every 10m"},
        ],
    })


def test_silent_source_reported_once_then_cleared(tmp_path, redis_client, caplog):
    sink = MailSink(tmp_path / "mail").start()
    try:
        config = config_for(sink.port)
        now = time.time()
        redis_client.hset(FIRST_SCHEDULED_KEY, mapping={"quiet": now - 3600, "busy": now - 3600})
        record_run(redis_client, Run(job_id="crawl:busy", scheduled_for=now - 60, started=now - 60, ended=now - 59,
                                     outcome="ok"))
        with caplog.at_level(logging.ERROR, logger="tallywatch.scheduler"):
            assert check_silent_sources(redis_client, config, now) == ["quiet"]
        assert any("source quiet is silent" in r.getMessage() for r in caplog.records)
        deadline = time.time() + 5
        while not sink.messages and time.time() < deadline:
            time.sleep(0.05)
        assert len(sink.messages) == 1
        assert sink.messages[0]["To"] == "ops@newsroom.invalid"
        assert "silent source: quiet" in sink.messages[0]["Subject"]
        assert "no successful crawl since never" in sink.messages[0].get_content()

        health = check(redis_client, config)
        assert not health.healthy
        assert ("FAIL", "source quiet: last successful crawl never (silent)") in health.lines

        assert check_silent_sources(redis_client, config, now + 30) == []  # same episode: not again
        assert len(sink.messages) == 1

        record_run(redis_client, Run(job_id="crawl:quiet", scheduled_for=now + 40, started=now + 40,
                                     ended=now + 41, outcome="ok"))
        assert check_silent_sources(redis_client, config, now + 60) == []
        assert not redis_client.hexists("tw:scheduler:silent", "quiet")
    finally:
        sink.stop()


def test_operator_emails_validated():
    import pytest

    from tallywatch.config import ConfigError

    with pytest.raises(ConfigError, match="operator_emails"):
        parse_config({"settings": {"operator_emails": ["not-an-address"]}})
    assert parse_config({"settings": {"operator_emails": "a@b.c"}}).settings.operator_emails == ("a@b.c",)
