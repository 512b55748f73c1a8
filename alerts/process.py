"""The alerts stage's main loop: read new article versions from the stream, decide, record, deliver.

``process_pending`` is synchronous (the scheduler runs it in a thread) and safe to re-run:

1. XREADGROUP on ``ARTICLE_STREAM`` with group ``ALERTS_GROUP``: first this consumer's own pending
   entries (read before a crash, never acknowledged), then entries other consumers left pending for
   longer than ``claim_idle_ms`` (XAUTOCLAIM), then new ones.
2. For each entry, :func:`alerts.detect.detect` on the version and its predecessor; each alert is
   recorded once (SET NX on its key, see :mod:`alerts.history`) and staged for the instant
   subscriptions (config and stored, :mod:`alerts.subscriptions`) whose kinds and filters it passes;
   then the entry is XACKed.
3. The staged deliveries go into the outbox stream (:mod:`alerts.outbox`: one email per subscriber
   with the batch, one signed POST per alert for webhooks) and, unless ``deliver=False``, one
   delivery pass runs (consumer ``<consumer>-deliver-<host>-<pid>``): a success marks (alert, subscriber)
   delivered before the entry is acknowledged; a failure is retried with backoff, then dead-lettered.
   A separate ``tallywatch deliver`` worker may run the passes instead (or as well).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from datetime import UTC, datetime

from alerts import outbox
from alerts.detect import detect
from alerts.history import record_alert
from alerts.models import Alert
from alerts.subscriptions import Subscription, all_subscriptions, matches
from tallywatch import store
from tallywatch.config import Config, Subscriber
from tallywatch.models import Article
from tallywatch.store import (
    ALERTS_DEAD_LETTER,
    ALERTS_GROUP,
    ARTICLE_STREAM,
    article_versions_key,
)

log = logging.getLogger(__name__)

DEFAULT_CONSUMER = "alerts"
# an entry whose processing failed this many times is moved to the dead-letter list and acknowledged
MAX_ATTEMPTS = 5


def ensure_group(redis) -> None:
    store.ensure_group(redis, ARTICLE_STREAM, ALERTS_GROUP)


def load_version(redis, article_id: str, version: int) -> Article | None:
    if version < 1:
        return None
    raw = redis.lindex(article_versions_key(article_id), version - 1)
    return Article.from_dict(json.loads(raw)) if raw else None


def wants(subscriber: Subscriber | Subscription, alert: Alert, cadence: str = "instant") -> bool:
    if isinstance(subscriber, Subscription):
        return subscriber.cadence == cadence and matches(subscriber, alert)
    return subscriber.cadence == cadence and alert.kind in subscriber.kinds


def _entries(redis, consumer: str, count: int, claim_idle_ms: int):
    """Yield (entry id, fields): own pending first, then stale ones of other consumers, then new."""
    last = "0"
    while True:  # own pending entries: re-read until we have seen them all
        resp = redis.xreadgroup(ALERTS_GROUP, consumer, {ARTICLE_STREAM: last}, count=count)
        batch = resp[0][1] if resp else []
        if not batch:
            break
        yield from batch
        last = batch[-1][0]
    if claim_idle_ms is not None:
        start = "0-0"
        while True:
            resp = redis.xautoclaim(ARTICLE_STREAM, ALERTS_GROUP, consumer, claim_idle_ms, start, count=count)
            start, claimed = resp[0], resp[1]
            yield from claimed
            if not claimed or start in ("0-0", b"0-0"):
                break
    while True:
        resp = redis.xreadgroup(ALERTS_GROUP, consumer, {ARTICLE_STREAM: ">"}, count=count)
        batch = resp[0][1] if resp else []
        if not batch:
            break
        yield from batch


def handle_entry(redis, config: Config, fields: dict | None, now: datetime,
                 subs: list[Subscription] | None = None) -> list[Alert]:
    """Detect and record the alerts of one stream entry; returns the new ones."""
    if not fields:  # a deleted entry (XAUTOCLAIM / pending of a trimmed stream): nothing to do
        return []
    article_id = fields.get("article_id")
    try:
        version = int(fields.get("version", 0))
    except ValueError:
        version = 0
    article = load_version(redis, article_id, version) if article_id else None
    if article is None:
        log.warning("stream entry %r: no article version stored; skipped", fields)
        return []
    previous = load_version(redis, article_id, version - 1)
    new: list[Alert] = []
    if subs is None:
        subs = all_subscriptions(redis, config)
    for alert in detect(redis, article, previous, now):
        if record_alert(redis, alert, [s.id for s in subs if wants(s, alert)]):
            log.info("alert %s: %s", alert.key, alert.title)
            new.append(alert)
    return new


def deliver_outbox(redis, config: Config, consumer: str = DEFAULT_CONSUMER + "-deliver",
                   policy: outbox.Policy | None = None) -> int:
    """One delivery pass (see :mod:`alerts.outbox`); returns how many deliveries succeeded."""
    return outbox.deliver_pass(redis, config, consumer, policy).sent


def _attempts(redis, entry_id: str) -> int:
    """How many times the group has delivered this entry (XPENDING's delivery counter)."""
    rows = redis.xpending_range(ARTICLE_STREAM, ALERTS_GROUP, min=entry_id, max=entry_id, count=1)
    return int(rows[0]["times_delivered"]) if rows else 0


def process_pending(
    redis, config: Config, consumer: str = DEFAULT_CONSUMER, *, count: int = 100,
    claim_idle_ms: int | None = 300_000, deliver: bool = True, now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS, policy: outbox.Policy | None = None,
) -> list[Alert]:
    """Process every unacknowledged and new stream entry; returns the alerts created by this call
    (already-known alerts are not returned, nor sent again)."""
    ensure_group(redis)
    created: list[Alert] = []
    subs = all_subscriptions(redis, config)
    for entry_id, fields in _entries(redis, consumer, count, claim_idle_ms):
        try:
            created.extend(handle_entry(redis, config, fields, now or datetime.now(UTC), subs))
        except Exception as e:
            if _attempts(redis, entry_id) >= max_attempts:
                log.exception("stream entry %s failed %d times; moved to %s", entry_id, max_attempts,
                              ALERTS_DEAD_LETTER)
                redis.rpush(ALERTS_DEAD_LETTER, json.dumps(
                    {"entry_id": entry_id, "fields": fields, "error": f"{type(e).__name__}: {e}",
                     "at": time.time()}))
                redis.xack(ARTICLE_STREAM, ALERTS_GROUP, entry_id)
            else:
                log.exception("stream entry %s failed; left pending for the next run", entry_id)
            continue
        redis.xack(ARTICLE_STREAM, ALERTS_GROUP, entry_id)
    outbox.enqueue_staged(redis, {s.id: s for s in subs})
    if deliver:
        outbox.enqueue_digests(redis, subs)
        # a consumer name of this process alone: two processes reading one name's pending entries
        # could both send them; what a dead process leaves is claimed by the next pass after claim_idle
        deliver_outbox(redis, config, f"{consumer}-deliver-{socket.gethostname()}-{os.getpid()}", policy)
    return created
