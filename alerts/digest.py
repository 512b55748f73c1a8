"""Digests: for subscribers with cadence "digest", one message with the alerts since their last
digest (grouped by event, newest first). Nothing new, nothing sent."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime, timedelta

from alerts import mail, webhook
from alerts.history import (
    alerts_between,
    clear_delivery_error,
    delivered_to,
    mark_delivered,
    note_delivery_error,
)
from alerts.models import Alert
from tallywatch.config import Config, Subscriber
from tallywatch.store import DIGEST_LAST_KEY

log = logging.getLogger(__name__)

# A subscriber's first digest covers this much history.
FIRST_DIGEST_WINDOW = timedelta(days=1)


def last_digest(redis, subscriber_id: str) -> datetime | None:
    raw = redis.hget(DIGEST_LAST_KEY, subscriber_id)
    return datetime.fromtimestamp(float(raw), UTC) if raw else None


def digest_alerts(redis, subscriber: Subscriber, now: datetime) -> list[Alert]:
    """The alerts a subscriber's digest at ``now`` would carry: created since its last digest, of
    the kinds it wants, not delivered to it yet."""
    since = last_digest(redis, subscriber.id) or now - FIRST_DIGEST_WINDOW
    return [a for a in alerts_between(redis, since, now)
            if a.kind in subscriber.kinds and subscriber.id not in delivered_to(redis, a.key)]


def send_digests(redis, config: Config, now: datetime | None = None) -> int:
    """Send each digest subscriber its digest; returns how many digests were sent. A failed send keeps
    the alerts for the next digest."""
    now = now or datetime.now(UTC)
    settings = config.settings
    sent = 0
    for sub in config.subscribers:
        if sub.cadence != "digest":
            continue
        alerts = digest_alerts(redis, sub, now)
        if not alerts:
            continue
        try:
            if sub.email:
                mail.send_alerts_email(alerts, sub, settings.smtp, public_url=settings.public_url,
                                       digest=True, now=now)
            elif sub.webhook:
                ident = "digest:" + hashlib.sha256(
                    "\n".join([sub.id, *sorted(a.key for a in alerts)]).encode()).hexdigest()[:24]
                webhook.send_digest(alerts, sub, ident, timeout=settings.webhook_timeout)
            else:
                continue
        except (mail.MailError, webhook.WebhookError) as e:
            log.warning("digest for %s failed, %d alerts kept for the next one: %s", sub.id, len(alerts), e)
            note_delivery_error(redis, sub.id, f"digest: {e}", len(alerts))
            continue
        clear_delivery_error(redis, sub.id)
        mark_delivered(redis, [a.key for a in alerts], sub.id)
        redis.hset(DIGEST_LAST_KEY, sub.id, now.timestamp())
        sent += 1
        log.info("digest for %s: %d alerts", sub.id, len(alerts))
    return sent
