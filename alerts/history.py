"""The alert log: each alert stored once under its idempotency key, and who it was delivered to.

``record_alert`` is one Lua script: SET NX the alert, add it to the log and queue it for its instant
subscribers, all or nothing, so a crash can neither lose an alert nor queue it twice.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from alerts.models import Alert
from tallywatch.store import (
    ALERTS_DEAD_LETTER,
    ALERTS_LOG,
    ALERTS_OUTBOX,
    DELIVERY_ERRORS_KEY,
    alert_delivered_key,
    alert_key,
)

_RECORD_SCRIPT = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
for i = 4, #ARGV do redis.call('ZADD', KEYS[3], ARGV[2], ARGV[i]) end
return 1
"""


def outbox_member(subscriber_id: str, key: str) -> str:
    return f"{subscriber_id}|{key}"


def split_outbox_member(member: str) -> tuple[str, str]:
    subscriber_id, _, key = member.rpartition("|")  # keys never hold "|", ids might
    return subscriber_id, key


def record_alert(redis, alert: Alert, subscriber_ids: list[str] = ()) -> bool:
    """Store the alert if its key is new, log it, queue it for ``subscriber_ids``; True if new."""
    members = [outbox_member(s, alert.key) for s in subscriber_ids]
    return bool(redis.eval(
        _RECORD_SCRIPT, 3, alert_key(alert.key), ALERTS_LOG, ALERTS_OUTBOX,
        json.dumps(alert.to_dict(), ensure_ascii=False), alert.created_at.timestamp(), alert.key, *members,
    ))


def load_alerts(redis, keys: list[str]) -> dict[str, Alert]:
    if not keys:
        return {}
    raws = redis.mget([alert_key(k) for k in keys])
    return {k: Alert.from_dict(json.loads(r)) for k, r in zip(keys, raws, strict=True) if r}


def get_alert(redis, key: str) -> Alert | None:
    return load_alerts(redis, [key]).get(key)


def recent_alerts(redis, limit: int = 20) -> list[Alert]:
    """The most recent alerts, newest first."""
    if limit <= 0:
        return []
    keys = redis.zrevrange(ALERTS_LOG, 0, limit - 1)
    found = load_alerts(redis, keys)
    return [found[k] for k in keys if k in found]


def alerts_between(redis, since: datetime | None, until: datetime) -> list[Alert]:
    """Alerts created in (since, until], oldest first."""
    low = f"({since.timestamp()}" if since else "-inf"
    keys = redis.zrangebyscore(ALERTS_LOG, low, until.timestamp())
    found = load_alerts(redis, keys)
    return [found[k] for k in keys if k in found]


def is_delivered(redis, key: str, subscriber_id: str) -> bool:
    return bool(redis.sismember(alert_delivered_key(key), subscriber_id))


def delivered_to(redis, key: str) -> set[str]:
    return set(redis.smembers(alert_delivered_key(key)))


def mark_delivered(redis, keys: list[str], subscriber_id: str) -> None:
    """Mark delivered and take off the outbox, in one transaction."""
    pipe = redis.pipeline(transaction=True)
    for k in keys:
        pipe.sadd(alert_delivered_key(k), subscriber_id)
        pipe.zrem(ALERTS_OUTBOX, outbox_member(subscriber_id, k))
    pipe.execute()


def note_delivery_error(redis, subscriber_id: str, error: str, pending: int) -> None:
    redis.hset(DELIVERY_ERRORS_KEY, subscriber_id,
               json.dumps({"at": time.time(), "error": str(error)[:500], "pending": pending}))


def clear_delivery_error(redis, subscriber_id: str) -> None:
    redis.hdel(DELIVERY_ERRORS_KEY, subscriber_id)


# an alert queued longer than this is a failure of the delivery, not a hiccup
STUCK_AFTER = 3600.0


def delivery_health(redis, now: float | None = None) -> list[tuple[str, str]]:
    """(level, text) lines for ``tallywatch status``: OK / WARN / FAIL about queued deliveries (staged,
    in the outbox stream, waiting for a retry), dead-lettered ones, failing addresses and subscribers
    whose last delivery failed."""
    from tallywatch.store import BOUNCES_KEY, OUTBOX_DEAD, OUTBOX_DELAYED, OUTBOX_STREAM

    now = time.time() if now is None else now
    lines: list[tuple[str, str]] = []
    firsts: list[float] = []
    staged = redis.zcard(ALERTS_OUTBOX)
    if staged:
        firsts.append(redis.zrange(ALERTS_OUTBOX, 0, 0, withscores=True)[0][1])
    delayed = redis.zrange(OUTBOX_DELAYED, 0, -1)
    firsts += [float(json.loads(m).get("first") or now) for m in delayed]
    stream = redis.xrange(OUTBOX_STREAM, count=1) if redis.exists(OUTBOX_STREAM) else []
    backlog = redis.xlen(OUTBOX_STREAM) if stream else 0
    if stream:
        firsts.append(float(stream[0][1].get("first") or now))
    queued = staged + len(delayed) + backlog
    if queued:
        age = now - min(firsts)
        level = "FAIL" if age > STUCK_AFTER else "WARN"
        lines.append((level, f"alert deliveries queued for retry: {queued} (oldest {age / 60:.0f} min)"))
    else:
        lines.append(("OK", "alert deliveries queued for retry: 0"))
    for sid, raw in sorted(redis.hgetall(DELIVERY_ERRORS_KEY).items()):
        d = json.loads(raw)
        when = datetime.fromtimestamp(d["at"]).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(("WARN", f"subscriber {sid}: last delivery failed at {when}: {d['error']}"))
    dead = redis.hlen(OUTBOX_DEAD)
    if dead:
        lines.append(("WARN", f"deliveries given up on: {dead} (tallywatch deliveries --failed; --redrive to retry)"))
    from alerts.subscriptions import BOUNCE_LIMIT

    for sid, n in sorted(redis.hgetall(BOUNCES_KEY).items()):
        if int(n) >= BOUNCE_LIMIT:
            lines.append(("WARN", f"subscriber {sid}: email address failing ({n} refusals in a row)"))
    dead = redis.llen(ALERTS_DEAD_LETTER)
    if dead:
        lines.append(("WARN", f"article versions the alerts stage gave up on: {dead} (see {ALERTS_DEAD_LETTER})"))
    return lines
