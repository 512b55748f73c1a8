"""Config validation: every mistake names the source/subscriber and the field; no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tallywatch.config import ConfigError, load_config, parse_config, parse_schedule

REPO = Path(__file__).resolve().parent.parent

GOOD_SOURCE = {"id": "kyiv", "outlet": "Kyiv Daily", "kind": "rss",
               "url": "https://example.org/feed.xml", "schedule": "*/5 * * * *"}


def config_with(source: dict | None = None, **extra) -> dict:
    raw = {"sources": [GOOD_SOURCE | (source or {})]}
    raw.update(extra)
    return raw


def error_of(raw: dict) -> str:
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    return str(e.value)


def test_example_config_is_valid(monkeypatch):
    monkeypatch.setenv("TALLYWATCH_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    config = load_config(REPO / "tallywatch.example.toml")
    assert [s.id for s in config.enabled_sources] == ["kyiv-independent"]
    assert config.subscribers[1].secret == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert config.settings.smtp.port == 1025


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"url": "ftp://example.org/x"}, "sources[0] (id 'kyiv'): field 'url'"),
        ({"kind": "json"}, "field 'kind': 'json' is not one of rss, atom, html"),
        ({"schedule": "every tuesday"}, "field 'schedule'"),
        ({"schedule": "61 * * * *"}, "field 'schedule'"),
        ({"enabled": "yes"}, "field 'enabled' must be true or false"),
        ({"id": "has space"}, "field 'id'"),
        ({"colour": "red"}, "unknown field(s) 'colour'"),
    ],
)
def test_bad_source_fields_are_named(change, expected):
    assert expected in error_of(config_with(change))


def test_missing_field_is_named():
    raw = {"sources": [{k: v for k, v in GOOD_SOURCE.items() if k != "url"}]}
    assert error_of(raw) == "sources[0] (id 'kyiv'): field 'url' is missing"


def test_duplicate_source_id():
    raw = {"sources": [GOOD_SOURCE, GOOD_SOURCE]}
    assert "sources[1] (id 'kyiv'): field 'id': duplicate id" in error_of(raw)


def test_subscriber_errors():
    assert "give exactly one of 'email' or 'webhook'" in error_of(
        config_with(subscribers=[{"id": "a", "email": "a@b.c", "webhook": "https://x.org/h"}]))
    assert "needs 'secret'" in error_of(config_with(subscribers=[{"id": "a", "webhook": "https://x.org/h"}]))
    assert "field 'kinds': 'weather'" in error_of(
        config_with(subscribers=[{"id": "a", "email": "a@b.c", "kinds": ["weather"]}]))
    assert "not an email address" in error_of(config_with(subscribers=[{"id": "a", "email": "nobody"}]))
    assert "environment variable 'NOPE_NOT_SET'" in error_of(
        config_with(subscribers=[{"id": "a", "webhook": "https://x.org/h", "secret_env": "NOPE_NOT_SET"}]))


def test_smtp_errors():
    assert "smtp: field 'tls'" in error_of(config_with(smtp={"tls": "maybe"}))
    assert "smtp: field 'port'" in error_of(config_with(smtp={"port": 70000}))
    assert parse_config(config_with(smtp={"tls": "ssl"})).settings.smtp.port == 465


def test_schedules():
    assert isinstance(parse_schedule("every 10m"), IntervalTrigger)
    assert parse_schedule("every 30s").interval.total_seconds() == 30
    assert parse_schedule("every 2h").interval.total_seconds() == 7200
    assert isinstance(parse_schedule("*/10 * * * *"), CronTrigger)
    with pytest.raises(ValueError):
        parse_schedule("* * *")


def test_env_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("REDIS_URL", "redis://10.0.0.1:6380/2")
    monkeypatch.setenv("TALLYWATCH_DATA_DIR", str(tmp_path))
    settings = parse_config(config_with()).settings
    assert settings.redis_url == "redis://10.0.0.1:6380/2"
    assert settings.data_dir == tmp_path


def test_toml_syntax_error_names_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[sources]\nid = 1\n")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_config(path)


def test_cli_reports_config_error_without_traceback(tmp_path):
    path = tmp_path / "tw.toml"
    path.write_text('[[sources]]\nid = "x"\nkind = "rss"\nurl = "nope"\nschedule = "every 5m"\n')
    proc = subprocess.run([sys.executable, "-m", "scheduler.cli", "check-config", "--config", str(path)],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "sources[0] (id 'x'): field 'url': 'nope' is not an http(s) URL" in proc.stderr


def test_cli_missing_config_file(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "scheduler.cli", "check-config", "--config",
                           str(tmp_path / "absent.toml")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2
    assert "config file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_unreachable_redis_is_one_line_not_a_traceback(tmp_path):
    import os

    path = tmp_path / "tw.toml"
    path.write_text('[[sources]]\nid = "x"\nkind = "rss"\nurl = "https://example.org/feed"\nschedule = "every 5m"\n')
    env = os.environ | {"REDIS_URL": "redis://127.0.0.1:1/0"}
    for command in (["run"], ["crawl"], ["worker"], ["schedule", "list"]):
        proc = subprocess.run([sys.executable, "-m", "scheduler.cli", *command, "--config", str(path)],
                              capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
        assert proc.returncode in (1, 2), command
        assert "Traceback" not in proc.stderr, proc.stderr
        assert "cannot reach Redis at redis://127.0.0.1:1/0" in proc.stderr


def test_every_setting_in_the_example_exists(monkeypatch, tmp_path):
    """The commented-out settings in tallywatch.example.toml are real ones with valid values."""
    import re

    monkeypatch.setenv("TALLYWATCH_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    monkeypatch.setenv("SMTP_PASSWORD", "x")
    for var in ("REDIS_URL", "TALLYWATCH_DATA_DIR", "SENTRY_DSN"):
        monkeypatch.delenv(var, raising=False)
    text = (REPO / "tallywatch.example.toml").read_text()
    settings, rest = text.split("[smtp]", 1)
    settings = re.sub(r"^# (\w+ = )", r"\1", settings, flags=re.M)
    settings = settings.replace('records_csv = "../shared/data/missile_attacks_daily.csv"', "")
    path = tmp_path / "all.toml"
    path.write_text(settings + "[smtp]" + rest)
    config = load_config(path)
    s = config.settings
    assert s.operator_emails == ("ops@example.org",)
    assert s.redis_url == "redis://localhost:6379/0" and s.sentry_dsn.startswith("https://")
    assert (s.leader_ttl, s.max_concurrent_crawls, s.download_delay, s.allow_private_webhooks) == (15, 8, 0.5, False)
    assert (s.email_rate_limit, s.delivery_max_attempts, s.api_token_env) == (30, 8, "TALLYWATCH_API_TOKEN")
