"""Digests: one message per subscriber with the alerts since its last digest that match it and were
not delivered to it (grouped by event, newest first). Nothing new, nothing sent.

Cadences (:mod:`alerts.subscriptions`): ``hourly`` and ``daily`` (at a local time in a time zone) are
queued by :func:`alerts.outbox.enqueue_digests`, which every delivery pass runs; ``digest`` (TOML
subscribers) is queued by :func:`send_digests`, which the scheduler's digest job calls on
``settings.digest_schedule``. Either way the digest is an outbox delivery: retried, never sent twice.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from alerts import outbox
from alerts.history import delivered_to
from alerts.models import Alert
from alerts.outbox import FIRST_DIGEST_WINDOW
from alerts.subscriptions import Subscription, all_subscriptions, from_subscriber, matches
from tallywatch.config import Config, Subscriber
from tallywatch.store import DIGEST_LAST_KEY

log = logging.getLogger(__name__)

__all__ = ["FIRST_DIGEST_WINDOW", "digest_alerts", "last_digest", "send_digests"]


def last_digest(redis, subscriber_id: str) -> datetime | None:
    raw = redis.hget(DIGEST_LAST_KEY, subscriber_id)
    return datetime.fromtimestamp(float(raw), UTC) if raw else None


def digest_alerts(redis, subscriber: Subscriber | Subscription, now: datetime) -> list[Alert]:
    """The alerts a subscriber's digest at ``now`` would carry: created since its last digest,
    matching it, not delivered to it yet."""
    from alerts.history import alerts_between

    sub = subscriber if isinstance(subscriber, Subscription) else from_subscriber(subscriber)
    since = last_digest(redis, sub.id) or now - FIRST_DIGEST_WINDOW
    return [a for a in alerts_between(redis, since, now)
            if matches(sub, a) and sub.id not in delivered_to(redis, a.key)]


def send_digests(redis, config: Config, now: datetime | None = None, *, policy: outbox.Policy | None = None,
                 consumer: str = "digest-deliver") -> int:
    """Queue a digest for each "digest"-cadence subscriber with something new, queue the hourly/daily
    digests that are due, and run a delivery pass; returns how many digests were delivered by it (a
    failed one is retried by the outbox)."""
    now = now or datetime.now(UTC)
    subs = all_subscriptions(redis, config)
    period = f"digest:{now.timestamp():.0f}"
    for sub in subs:
        if sub.cadence == "digest":
            outbox.enqueue_digest(redis, sub, period, now, once_per_period=False)
    outbox.enqueue_digests(redis, subs, now)
    stats = outbox.deliver_pass(redis, config, consumer, policy)
    if stats.digests:
        log.info("digests delivered: %d", stats.digests)
    return stats.digests
