"""The alerts stage: reads new article versions from Redis, decides, renders, delivers.

Public API (all synchronous, each takes a ``redis.Redis`` client with ``decode_responses=True``):

- ``alerts.process.process_pending(redis, config, consumer="alerts") -> list[Alert]``: consume the
  article stream (own pending entries first, then stale ones of other consumers, then new), detect,
  record each alert once, queue and deliver to instant subscribers, XACK. Safe to re-run.
- ``alerts.digest.send_digests(redis, config, now) -> int``: one digest per "digest" subscriber
  with the alerts since its last digest; nothing new, nothing sent.
- ``alerts.ledger.seed_from_csv(redis, path) -> int`` / ``ensure_seeded(redis, path)``: the record
  ledger from the Air Force daily CSV; ``best_before(redis, metric, night)``.
- ``alerts.history.recent_alerts(redis, limit) -> list[Alert]`` (newest first),
  ``delivery_health(redis) -> [(level, text)]``.
- ``alerts.detect.detect(redis, article, previous, now) -> list[Alert]`` (the decision alone).
- ``alerts.models.Alert``: kind, key, title, night, place, metric, values, sentence, url, outlet,
  created_at, previous (records), change (changed).
"""
