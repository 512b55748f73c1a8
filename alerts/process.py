"""The alerts stage's main loop: read new article versions from the stream, decide, record, deliver.

``process_pending`` is synchronous (the scheduler runs it in a thread) and safe to re-run:

1. XREADGROUP on ``ARTICLE_STREAM`` with group ``ALERTS_GROUP``: first this consumer's own pending
   entries (read before a crash, never acknowledged), then entries other consumers left pending for
   longer than ``claim_idle_ms`` (XAUTOCLAIM), then new ones.
2. For each entry, :func:`alerts.detect.detect` on the version and its predecessor; each alert is
   recorded once (SET NX on its key, see :mod:`alerts.history`) and queued for the instant
   subscribers whose kinds include it; then the entry is XACKed.
3. The outbox is delivered: one email per subscriber with all its queued alerts, one signed POST per
   alert for webhooks. Only a success marks (alert, subscriber) delivered; a failure stays queued and
   is retried on the next call.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime

import redis as redis_lib

from alerts import mail, webhook
from alerts.detect import detect
from alerts.history import (
    clear_delivery_error,
    is_delivered,
    load_alerts,
    mark_delivered,
    note_delivery_error,
    record_alert,
    split_outbox_member,
)
from alerts.models import Alert
from tallywatch.config import Config, Subscriber
from tallywatch.models import Article
from tallywatch.store import (
    ALERTS_DEAD_LETTER,
    ALERTS_GROUP,
    ALERTS_OUTBOX,
    ARTICLE_STREAM,
    article_versions_key,
)

log = logging.getLogger(__name__)

DEFAULT_CONSUMER = "alerts"
# an entry whose processing failed this many times is moved to the dead-letter list and acknowledged
MAX_ATTEMPTS = 5


def ensure_group(redis) -> None:
    """Create the consumer group (from the start of the stream) unless it exists."""
    try:
        redis.xgroup_create(ARTICLE_STREAM, ALERTS_GROUP, id="0", mkstream=True)
    except redis_lib.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


def load_version(redis, article_id: str, version: int) -> Article | None:
    if version < 1:
        return None
    raw = redis.lindex(article_versions_key(article_id), version - 1)
    return Article.from_dict(json.loads(raw)) if raw else None


def wants(subscriber: Subscriber, alert: Alert, cadence: str = "instant") -> bool:
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


def handle_entry(redis, config: Config, fields: dict | None, now: datetime) -> list[Alert]:
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
    for alert in detect(redis, article, previous, now):
        subs = [s.id for s in config.subscribers if wants(s, alert)]
        if record_alert(redis, alert, subs):
            log.info("alert %s: %s", alert.key, alert.title)
            new.append(alert)
    return new


def deliver_outbox(redis, config: Config) -> int:
    """Try every queued (subscriber, alert); returns how many deliveries succeeded."""
    by_sub: dict[str, list[str]] = defaultdict(list)
    for member in redis.zrange(ALERTS_OUTBOX, 0, -1):
        sid, key = split_outbox_member(member)
        by_sub[sid].append(key)
    subscribers = {s.id: s for s in config.subscribers}
    settings = config.settings
    done = 0
    for sid, keys in by_sub.items():
        sub = subscribers.get(sid)
        found = load_alerts(redis, keys)
        gone = [k for k in keys if k not in found or sub is None]
        if gone:  # subscriber removed from the config, or alert missing: drop from the outbox
            log.info("outbox: dropping %d entries of %s", len(gone), sid)
            redis.zrem(ALERTS_OUTBOX, *[f"{sid}|{k}" for k in gone])
        if sub is None:
            continue
        pending = [found[k] for k in keys if k in found and not is_delivered(redis, k, sid)]
        already = [k for k in keys if k in found and k not in {a.key for a in pending}]
        if already:
            mark_delivered(redis, already, sid)
        if not pending:
            continue
        if sub.email:
            try:
                mail.send_alerts_email(pending, sub, settings.smtp, public_url=settings.public_url)
            except mail.MailError as e:
                log.warning("email to %s failed, %d alerts kept for retry: %s", sid, len(pending), e)
                note_delivery_error(redis, sid, str(e), len(pending))
                continue
            mark_delivered(redis, [a.key for a in pending], sid)
            clear_delivery_error(redis, sid)
            done += len(pending)
        elif sub.webhook:
            for alert in sorted(pending, key=lambda a: (a.created_at, a.key)):
                try:
                    webhook.send_alert(alert, sub, timeout=settings.webhook_timeout)
                except webhook.WebhookError as e:
                    log.warning("webhook %s failed for %s, kept for retry: %s", sid, alert.key, e)
                    note_delivery_error(redis, sid, str(e), len(pending))
                    break  # keep order; the receiver is likely down
                mark_delivered(redis, [alert.key], sid)
                clear_delivery_error(redis, sid)
                done += 1
    return done


def _attempts(redis, entry_id: str) -> int:
    """How many times the group has delivered this entry (XPENDING's delivery counter)."""
    rows = redis.xpending_range(ARTICLE_STREAM, ALERTS_GROUP, min=entry_id, max=entry_id, count=1)
    return int(rows[0]["times_delivered"]) if rows else 0


def process_pending(
    redis, config: Config, consumer: str = DEFAULT_CONSUMER, *, count: int = 100,
    claim_idle_ms: int | None = 300_000, deliver: bool = True, now: datetime | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> list[Alert]:
    """Process every unacknowledged and new stream entry; returns the alerts created by this call
    (already-known alerts are not returned, nor sent again)."""
    ensure_group(redis)
    created: list[Alert] = []
    for entry_id, fields in _entries(redis, consumer, count, claim_idle_ms):
        try:
            created.extend(handle_entry(redis, config, fields, now or datetime.now(UTC)))
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
    if deliver:
        deliver_outbox(redis, config)
    return created
