"""Operator alerts about the service itself: a source with no successful crawl for three of its
intervals is "silent". The leader checks every half minute; each silent episode is reported once
(ERROR log, hence a Sentry event, and an email to ``settings.operator_emails``) and cleared when the
source crawls again."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from email.message import EmailMessage

from scheduler.status import silent_sources
from tallywatch.config import Config

log = logging.getLogger("tallywatch.scheduler")

SILENT_KEY = "tw:scheduler:silent"  # hash source id -> epoch the silence was first reported


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC") if epoch else "never"


def check_silent_sources(redis, config: Config, now: float | None = None) -> list[str]:
    """Report sources that went silent since the last check; returns their ids."""
    now = now or time.time()
    silent = dict(silent_sources(redis, config, now))
    reported = set(redis.hkeys(SILENT_KEY))
    for recovered in reported - set(silent):
        redis.hdel(SILENT_KEY, recovered)
        log.info("source %s crawls again", recovered)
    newly = [sid for sid in silent if redis.hsetnx(SILENT_KEY, sid, now)]
    for sid in newly:
        log.error("source %s is silent: no successful crawl since %s (3 scheduled intervals); "
                  "see 'tallywatch schedule history crawl:%s'", sid, _when(silent[sid]), sid)
    if newly and config.settings.operator_emails:
        _email_operators(config, newly, silent)
    return newly


def _email_operators(config: Config, sources: list[str], silent: dict) -> None:
    from alerts.mail import send_message

    msg = EmailMessage()
    msg["From"] = config.settings.smtp.sender
    msg["To"] = ", ".join(config.settings.operator_emails)
    msg["Subject"] = f"[tallywatch operator] silent source{'s' if len(sources) > 1 else ''}: {', '.join(sources)}"
    lines = [f"- {sid}: no successful crawl since {_when(silent[sid])}" for sid in sources]
    msg.set_content("These sources have had no successful crawl for three of their scheduled intervals:\n\n"
                    + "\n".join(lines) + "\n\nCheck with: tallywatch status; tallywatch schedule history crawl:<id>\n")
    try:
        send_message(msg, config.settings.smtp)
    except Exception as e:  # the log line above already went to Sentry
        log.error("could not email the operators about silent sources: %s", e)
