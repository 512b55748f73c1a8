"""The delivery outbox: a Redis Stream read by a consumer group, so no delivery is lost to a crash or
restart of any process, and none is sent twice to a subscriber.

Flow::

    record_alert (Lua)  -> staged set ALERTS_OUTBOX ("sub|alert key")
    enqueue_staged      -> OUTBOX_STREAM entries: one per (webhook subscriber, alert), one per
                           (email subscriber, batch of alerts); staged members removed in the same
                           MULTI (a crash leaves them staged, never half-moved)
    enqueue_digests     -> one entry per due digest (hourly / daily at a local time), with the
                           alerts since the subscriber's last digest; period and watermark advanced
                           in the same MULTI
    deliver_pass        -> XREADGROUP (own pending first, then XAUTOCLAIM of entries idle longer
                           than ``claim_idle_ms`` — a killed worker's —, then new ones); per entry:
                           skip what the (alert, subscriber) marks say was delivered; send; then
                           mark delivered + XACK + XDEL in one MULTI (mark before ack)

An entry is one *delivery*; its id (:func:`delivery_id`) is derived from subscriber, digest period
and alert keys, so a resend after a crash carries the same Message-ID / webhook-id (for an instant
webhook, the webhook-id is the alert key) and a receiver can drop the repeat. The only window for a
repeat is between the receiver's acceptance and the MULTI that marks it (one round trip to Redis).

Failures: the entry is re-queued in OUTBOX_DELAYED (score = due time) with ``attempt + 1`` and moved
back into the stream when due; the delay doubles each attempt (``base_delay`` · 2^attempt, capped at
``max_delay``) with jitter (50-100 % of it); a webhook's 429/503 ``Retry-After`` is honoured (capped).
After ``max_attempts`` tries, or at once for a permanent failure (4xx other than 408/429, a refused
private address), the delivery goes to OUTBOX_DEAD (``tallywatch deliveries --failed``, re-driven
with ``--redrive``). A webhook answering 410 Gone is unsubscribed. A mail server refusing the
recipient with 5xx counts a bounce; ``bounce_limit`` bounces in a row mark the address failing (no
more mail to it until the subscription is re-made or a delivery is re-driven); 4xx is retried.
Emails are limited per subscriber per hour (``settings.email_rate_limit``); over it, the delivery
waits for the next hour without counting an attempt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import redis as redis_lib

from alerts import mail, subscriptions, webhook
from alerts.history import (
    alerts_between,
    clear_delivery_error,
    load_alerts,
    note_delivery_error,
    split_outbox_member,
)
from alerts.subscriptions import Subscription, all_subscriptions, matches
from alerts.unsubscribe import make_token, server_secret, unsubscribe_url
from tallywatch import store
from tallywatch.config import Config
from tallywatch.store import (
    ALERTS_OUTBOX,
    BOUNCES_KEY,
    DELIVERY_ERRORS_KEY,
    DIGEST_LAST_KEY,
    DIGEST_PERIOD_KEY,
    OUTBOX_DEAD,
    OUTBOX_DELAYED,
    OUTBOX_GROUP,
    OUTBOX_STREAM,
    alert_delivered_key,
    rate_key,
)

log = logging.getLogger(__name__)

# A digest subscriber's first digest (cadence "digest", the scheduler's job) covers this much history.
FIRST_DIGEST_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    base_delay: float = 5.0  # seconds before the first retry; doubles each attempt
    max_delay: float = 3600.0
    max_attempts: int = 8
    max_retry_after: float = 3600.0  # a receiver's Retry-After is honoured up to this
    claim_idle_ms: int = 60_000  # a pending entry idle this long belongs to a dead worker: claim it
    batch: int = 50
    bounce_limit: int = subscriptions.BOUNCE_LIMIT
    mark_patience: float = 120.0  # seconds to keep trying to record a delivery while Redis is away

    @classmethod
    def from_config(cls, config: Config, **overrides) -> Policy:
        return cls(**{"max_attempts": config.settings.delivery_max_attempts, **overrides})

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based): exponential, jittered."""
        full = min(self.max_delay, self.base_delay * (2 ** attempt))
        return full * random.uniform(0.5, 1.0)


@dataclass
class PassStats:
    sent: int = 0  # deliveries accepted by the receiver
    alerts: int = 0  # alerts in them
    digests: int = 0
    failed: int = 0  # attempts that failed (will be retried)
    dead: int = 0  # gave up: dead-lettered
    skipped: int = 0  # already delivered / subscriber gone
    deferred: int = 0  # rate limited
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.dead + self.skipped + self.deferred


def delivery_id(fields: dict) -> str:
    keys = sorted(entry_keys(fields))
    raw = "\n".join([fields.get("sub", ""), fields.get("digest", ""), *keys])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:20]


def ensure_group(redis) -> None:
    store.ensure_group(redis, OUTBOX_STREAM, OUTBOX_GROUP)


def entry_keys(fields: dict) -> list[str]:
    """The alert keys of an outbox entry (a JSON array: keys may hold any character)."""
    try:
        keys = json.loads(fields.get("alerts") or "[]")
    except ValueError:
        return []
    return [k for k in keys if isinstance(k, str) and k] if isinstance(keys, list) else []


def _entry(sub: str, keys: list[str], digest: str = "", now: float | None = None) -> dict:
    return {"sub": sub, "alerts": json.dumps(keys, ensure_ascii=False), "digest": digest, "attempt": "0",
            "first": f"{now or time.time():.3f}", "error": ""}


# -- enqueueing -----------------------------------------------------------------------------------


def enqueue_staged(redis, subs: dict[str, Subscription]) -> int:
    """Move staged (subscriber, alert) pairs into the stream; returns how many entries were added."""
    while True:
        with redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(ALERTS_OUTBOX)
                members = pipe.zrange(ALERTS_OUTBOX, 0, -1)
                if not members:
                    return 0
                by_sub: dict[str, list[str]] = defaultdict(list)
                for m in members:
                    sid, key = split_outbox_member(m)
                    by_sub[sid].append(key)
                pipe.multi()
                n = 0
                for sid, keys in by_sub.items():
                    sub = subs.get(sid)
                    if sub is None:
                        log.info("outbox: subscriber %s is gone; %d staged alerts dropped", sid, len(keys))
                        continue
                    groups = [keys] if sub.email else [[k] for k in keys]
                    for g in groups:
                        pipe.xadd(OUTBOX_STREAM, _entry(sid, g))
                        n += 1
                pipe.zrem(ALERTS_OUTBOX, *members)
                pipe.execute()
                return n
            except redis_lib.WatchError:
                continue


def digest_period(sub: Subscription, now: datetime) -> str | None:
    """The digest period ``now`` falls in ("hourly:2025-07-04T06", "daily:2025-07-04"), or None."""
    if sub.cadence == "hourly":
        return "hourly:" + now.astimezone(UTC).strftime("%Y-%m-%dT%H")
    if sub.cadence == "daily":
        local = now.astimezone(ZoneInfo(sub.timezone))
        hh, mm = map(int, (sub.at or "07:00").split(":"))
        day = local.date() if (local.hour, local.minute) >= (hh, mm) else local.date() - timedelta(days=1)
        return f"daily:{day.isoformat()}"
    return None


def _digest_alerts(redis, sub: Subscription, since: datetime, until: datetime) -> list:
    alerts = [a for a in alerts_between(redis, since, until) if matches(sub, a)]
    if not alerts:
        return []
    pipe = redis.pipeline(transaction=False)
    for a in alerts:
        pipe.sismember(alert_delivered_key(a.key), sub.id)
    return [a for a, done in zip(alerts, pipe.execute(), strict=True) if not done]


def enqueue_digest(redis, sub: Subscription, period: str, now: datetime, *, first: bool = False,
                   once_per_period: bool = True) -> int:
    """Queue one digest for ``sub``: the alerts created since its last digest that match it and were
    not delivered to it; advance its period and watermark in the same transaction. Returns 1 if a
    digest was queued, 0 if there was nothing new (or another process took the period). ``first``:
    only start the period and the watermark (at the time it subscribed). The watermark only moves
    when a digest is queued, so an alert recorded late is not skipped."""
    while True:
        with redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(DIGEST_PERIOD_KEY)
                if once_per_period and pipe.hget(DIGEST_PERIOD_KEY, sub.id) == period:
                    return 0
                raw = pipe.hget(DIGEST_LAST_KEY, sub.id)
                if first:
                    pipe.multi()
                    pipe.hset(DIGEST_PERIOD_KEY, sub.id, period)
                    if not raw:
                        pipe.hset(DIGEST_LAST_KEY, sub.id, min(sub.created_at or now.timestamp(), now.timestamp()))
                    pipe.execute()
                    return 0
                if raw:
                    since = datetime.fromtimestamp(float(raw), UTC)
                elif sub.created_at:
                    since = datetime.fromtimestamp(sub.created_at, UTC)
                else:
                    since = now - FIRST_DIGEST_WINDOW
                alerts = _digest_alerts(redis, sub, since, now)
                pipe.multi()
                if alerts:
                    keys = [a.key for a in sorted(alerts, key=lambda a: (a.created_at, a.key))]
                    pipe.xadd(OUTBOX_STREAM, _entry(sub.id, keys, digest=period))
                    pipe.hset(DIGEST_LAST_KEY, sub.id, now.timestamp())
                pipe.hset(DIGEST_PERIOD_KEY, sub.id, period)
                pipe.execute()
                return 1 if alerts else 0
            except redis_lib.WatchError:
                continue


def enqueue_digests(redis, subs: list[Subscription], now: datetime | None = None) -> int:
    """Queue the hourly/daily digests that are due; a subscription's first period only starts its
    watermark (its first digest comes at the next period, with what arrived since it subscribed)."""
    now = now or datetime.now(UTC)
    known = redis.hgetall(DIGEST_PERIOD_KEY)
    n = 0
    for sub in subs:
        period = digest_period(sub, now)
        if period is None or known.get(sub.id) == period:
            continue
        n += enqueue_digest(redis, sub, period, now, first=sub.id not in known)
    return n


# -- delivering -----------------------------------------------------------------------------------


_PROMOTE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local f = cjson.decode(m)
  local args = {}
  for k, v in pairs(f) do table.insert(args, k); table.insert(args, tostring(v)) end
  redis.call('XADD', KEYS[2], '*', unpack(args))
  redis.call('ZREM', KEYS[1], m)
end
return #due
"""


def promote_due(redis, now: float | None = None, limit: int = 1000) -> int:
    """Move delayed deliveries that are due back into the stream (atomically)."""
    return int(redis.eval(_PROMOTE, 2, OUTBOX_DELAYED, OUTBOX_STREAM, now or time.time(), limit))


def _entries(redis, consumer: str, policy: Policy):
    last = "0"
    while True:  # own pending (read before a crash, never acknowledged)
        resp = redis.xreadgroup(OUTBOX_GROUP, consumer, {OUTBOX_STREAM: last}, count=policy.batch)
        batch = resp[0][1] if resp else []
        if not batch:
            break
        yield from batch
        last = batch[-1][0]
    start = "0-0"
    while True:  # other consumers' entries idle too long: their worker died
        resp = redis.xautoclaim(OUTBOX_STREAM, OUTBOX_GROUP, consumer, policy.claim_idle_ms, start,
                                count=policy.batch)
        start, claimed = resp[0], resp[1]
        yield from claimed
        if not claimed or start in ("0-0", b"0-0"):
            break
    while True:
        resp = redis.xreadgroup(OUTBOX_GROUP, consumer, {OUTBOX_STREAM: ">"}, count=policy.batch)
        batch = resp[0][1] if resp else []
        if not batch:
            break
        yield from batch


class _Delivery:
    """One pass's context: subscriptions, open SMTP connection, settings, stats."""

    def __init__(self, redis, config: Config, policy: Policy, stats: PassStats):
        self.redis = redis
        self.config = config
        self.settings = config.settings
        self.policy = policy
        self.stats = stats
        self.subs = {s.id: s for s in all_subscriptions(redis, config)}
        self.mailer = mail.Mailer(config.settings.smtp)
        self.secret: bytes | None = None  # the unsubscribe-token secret, read once per pass
        self.erred = set(redis.hkeys(DELIVERY_ERRORS_KEY))  # subscribers with a failure on record

    # -- outcomes (each one MULTI) --
    def _done(self, entry_id: str, fields: dict, keys: list[str]) -> None:
        """Mark delivered + XACK + XDEL in one MULTI. The receiver has it already: if Redis is away,
        keep trying for a while (``mark_patience``) rather than leave it to be sent again."""
        deadline = time.monotonic() + self.policy.mark_patience
        while True:
            try:
                pipe = self.redis.pipeline(transaction=True)
                for k in keys:
                    pipe.sadd(alert_delivered_key(k), fields["sub"])
                pipe.xack(OUTBOX_STREAM, OUTBOX_GROUP, entry_id)
                pipe.xdel(OUTBOX_STREAM, entry_id)
                pipe.execute()
                return
            except (redis_lib.ConnectionError, redis_lib.TimeoutError) as e:
                if time.monotonic() > deadline:
                    raise
                log.warning("delivered, but Redis is unreachable to record it (%s); retrying", e)
                time.sleep(0.5)

    def _drop(self, entry_id: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.xack(OUTBOX_STREAM, OUTBOX_GROUP, entry_id)
        pipe.xdel(OUTBOX_STREAM, entry_id)
        pipe.execute()

    def _defer(self, entry_id: str, fields: dict, due: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.zadd(OUTBOX_DELAYED, {json.dumps(fields, sort_keys=True): due})
        pipe.xack(OUTBOX_STREAM, OUTBOX_GROUP, entry_id)
        pipe.xdel(OUTBOX_STREAM, entry_id)
        pipe.execute()

    def _dead(self, entry_id: str, fields: dict, error: str) -> None:
        did = delivery_id(fields)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(OUTBOX_DEAD, did, json.dumps({"id": did, "fields": fields, "error": error,
                                                 "attempts": int(fields.get("attempt", 0)), "at": time.time()}))
        pipe.xack(OUTBOX_STREAM, OUTBOX_GROUP, entry_id)
        pipe.xdel(OUTBOX_STREAM, entry_id)
        pipe.execute()
        self.stats.dead += 1
        log.warning("delivery %s to %s given up: %s", did, fields.get("sub"), error)

    def _failed(self, entry_id: str, fields: dict, error: str, *, retry_after: float | None = None,
                permanent: bool = False) -> None:
        sid = fields.get("sub", "")
        attempt = int(fields.get("attempt", 0)) + 1
        fields = {**fields, "attempt": str(attempt), "error": error[:500]}
        note_delivery_error(self.redis, sid, error, 1)
        self.erred.add(sid)
        self.stats.errors.append(error)
        if permanent or attempt >= self.policy.max_attempts:
            self._dead(entry_id, fields, error)
            return
        delay = self.policy.delay(attempt - 1)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.policy.max_retry_after))
        self._defer(entry_id, fields, time.time() + delay)
        self.stats.failed += 1
        log.info("delivery to %s failed (attempt %d), retry in %.1f s: %s", sid, attempt, delay, error)

    # -- one entry --
    def handle(self, entry_id: str, fields: dict | None) -> None:
        if not fields:  # trimmed/deleted entry
            self._drop(entry_id)
            return
        r, sid = self.redis, fields.get("sub", "")
        keys = entry_keys(fields)
        sub = self.subs.get(sid)
        if sub is None:
            log.info("delivery to %s dropped: no such subscription (unsubscribed?)", sid)
            self._drop(entry_id)
            self.stats.skipped += 1
            return
        pipe = r.pipeline(transaction=False)
        for k in keys:
            pipe.sismember(alert_delivered_key(k), sid)
        delivered = pipe.execute()
        todo = [k for k, d in zip(keys, delivered, strict=True) if not d]
        found = load_alerts(r, todo)
        alerts = [found[k] for k in todo if k in found]
        if not alerts:  # delivered before a crash (or the alerts are gone): nothing to send
            self._done(entry_id, fields, [])
            self.stats.skipped += 1
            return
        digest = fields.get("digest", "")
        if sub.email:
            self._email(entry_id, fields, sub, alerts, digest)
        else:
            self._webhook(entry_id, fields, sub, alerts, digest)

    def _unsubscribe_url(self, sub: Subscription) -> str:
        if self.secret is None:
            self.secret = server_secret(self.redis)
        return unsubscribe_url(self.settings.public_url, make_token(self.secret, sub.id, sub.created_at))

    def _email(self, entry_id, fields, sub: Subscription, alerts, digest: str) -> None:
        r, sid = self.redis, sub.id
        if subscriptions.is_failing(r, sid, self.policy.bounce_limit):
            self._dead(entry_id, fields, f"address {sub.email} is failing (its server refused it "
                       f"{self.policy.bounce_limit} times in a row)")
            return
        hour = int(time.time() // 3600)
        limit = self.settings.email_rate_limit
        if limit and int(r.get(rate_key(sid, hour)) or 0) >= limit:
            self._defer(entry_id, {**fields, "error": "rate limited"}, (hour + 1) * 3600 + random.uniform(0, 30))
            self.stats.deferred += 1
            log.info("email to %s rate limited (%d/hour): delivery waits for the next hour", sid, limit)
            return
        msg = mail.build_message(alerts, sub, self.settings.smtp, public_url=self.settings.public_url,
                                 digest=bool(digest), unsubscribe_url=self._unsubscribe_url(sub))
        try:
            self.mailer.send(msg)
        except mail.MailError as e:
            if e.bounce:
                n = subscriptions.note_bounce(r, sid)
                if n >= self.policy.bounce_limit:
                    note_delivery_error(r, sid, f"address failing: {e}", 1)
                    self._dead(entry_id, {**fields, "error": str(e)[:500]},
                               f"address {sub.email} marked failing after {n} refusals: {e}")
                    return
            self._failed(entry_id, fields, str(e))
            return
        self._success(entry_id, fields, alerts, digest)  # recorded first: the rest may be lost
        pipe = r.pipeline(transaction=False)
        pipe.incr(rate_key(sid, hour))
        pipe.expire(rate_key(sid, hour), 7200)
        pipe.hdel(BOUNCES_KEY, sid)
        pipe.execute()

    def _webhook(self, entry_id, fields, sub: Subscription, alerts, digest: str) -> None:
        s = self.settings
        try:
            if digest or len(alerts) > 1:
                webhook.send_digest(alerts, sub, "digest:" + delivery_id(fields), timeout=s.webhook_timeout,
                                    allow_private=s.allow_private_webhooks, public_url=s.public_url)
            else:
                webhook.send_alert(alerts[0], sub, timeout=s.webhook_timeout,
                                   allow_private=s.allow_private_webhooks, public_url=s.public_url)
        except webhook.WebhookGone as e:
            subscriptions.remove(self.redis, self.config, sub.id, reason=str(e))
            self.subs.pop(sub.id, None)
            log.warning("webhook of %s answered 410 Gone: unsubscribed", sub.id)
            note_delivery_error(self.redis, sub.id, f"unsubscribed: {e}", 0)
            self._drop(entry_id)
            self.stats.skipped += 1
            return
        except webhook.WebhookError as e:
            self._failed(entry_id, fields, str(e), retry_after=e.retry_after, permanent=e.permanent)
            return
        self._success(entry_id, fields, alerts, digest)

    def _success(self, entry_id, fields, alerts, digest: str) -> None:
        self._done(entry_id, fields, [a.key for a in alerts])
        self.stats.sent += 1
        if fields["sub"] in self.erred:
            clear_delivery_error(self.redis, fields["sub"])
            self.erred.discard(fields["sub"])
        self.stats.alerts += len(alerts)
        self.stats.digests += bool(digest)


PRUNE_LOCK = OUTBOX_STREAM + ":prune"


def prune_consumers(redis, idle_ms: int = 3_600_000, every: int = 300) -> int:
    """Delete group consumers idle for ``idle_ms`` with nothing pending (per-process names pile up);
    runs at most once per ``every`` seconds across processes."""
    if not redis.set(PRUNE_LOCK, "1", nx=True, ex=every):
        return 0
    n = 0
    for c in redis.xinfo_consumers(OUTBOX_STREAM, OUTBOX_GROUP):
        if int(c.get("pending", 0)) == 0 and int(c.get("idle", 0)) > idle_ms:
            redis.xgroup_delconsumer(OUTBOX_STREAM, OUTBOX_GROUP, c["name"])
            n += 1
    return n


def deliver_pass(redis, config: Config, consumer: str = "deliver", policy: Policy | None = None,
                 stop=None) -> PassStats:
    """Deliver everything that is due now: delayed entries whose time has come, this consumer's
    pending entries, entries a dead worker left, new entries. ``stop``: an Event ending the pass early."""
    policy = policy or Policy.from_config(config)
    ensure_group(redis)
    stats = PassStats()
    ctx = _Delivery(redis, config, policy, stats)
    try:
        enqueue_staged(redis, ctx.subs)
        promote_due(redis)
        prune_consumers(redis)
        for entry_id, fields in _entries(redis, consumer, policy):
            ctx.handle(entry_id, fields)
            if stop is not None and stop.is_set():
                break
    finally:
        ctx.mailer.close()
    return stats


def run_worker(redis, config: Config, consumer: str = "deliver", policy: Policy | None = None, stop=None,
               poll: float = 0.5, on_pass=None) -> None:
    """The delivery worker: digests due, then a pass, again and again until ``stop`` is set
    (``tallywatch deliver``, SIGTERM sets it). Redis going away is waited out."""
    import threading

    stop = stop or threading.Event()
    policy = policy or Policy.from_config(config)
    while not stop.is_set():
        try:
            subs = all_subscriptions(redis, config)
            enqueue_digests(redis, subs)
            stats = deliver_pass(redis, config, consumer, policy, stop=stop)
            if on_pass:
                on_pass(stats)
            if stats.handled:
                continue
        except redis_lib.ConnectionError as e:
            log.warning("delivery worker: Redis unreachable (%s); retrying", e)
            stop.wait(1.0)
            continue
        except Exception:
            log.exception("delivery worker: pass failed; retrying")
            stop.wait(2.0)
            continue
        stop.wait(poll)


# -- dead letters ---------------------------------------------------------------------------------


def dead_letters(redis) -> list[dict]:
    return sorted((json.loads(v) for v in redis.hvals(OUTBOX_DEAD)), key=lambda d: d["at"])


def redrive(redis, ids: list[str] | None = None) -> int:
    """Queue dead-lettered deliveries again with a fresh attempt count (``ids`` None: all of them);
    their subscribers' bounce counts are reset. Returns how many were re-queued."""
    n = 0
    for d in dead_letters(redis):
        if ids is not None and d["id"] not in ids:
            continue
        fields = {**d["fields"], "attempt": "0", "error": ""}
        pipe = redis.pipeline(transaction=True)
        pipe.xadd(OUTBOX_STREAM, fields)
        pipe.hdel(OUTBOX_DEAD, d["id"])
        pipe.hdel(BOUNCES_KEY, fields.get("sub", ""))
        pipe.execute()
        n += 1
    return n


def queued(redis) -> dict:
    """Counts for status lines, read in one MULTI: stream backlog, delayed (retrying), dead, staged."""
    pipe = redis.pipeline(transaction=True)
    pipe.exists(OUTBOX_STREAM)
    pipe.xlen(OUTBOX_STREAM)
    pipe.zcard(OUTBOX_DELAYED)
    pipe.hlen(OUTBOX_DEAD)
    pipe.zcard(ALERTS_OUTBOX)
    exists, stream, delayed, dead, staged = pipe.execute()
    return {"stream": stream if exists else 0, "delayed": delayed, "dead": dead, "staged": staged}
