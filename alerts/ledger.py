"""The record ledger: per launch metric and per night (the date of the morning the night ended), the
largest known value and where it came from (the Air Force daily CSV, or an article).

Records are judged *as of a night*: :func:`best_before` looks only at nights before it, so
re-processing an old article against a ledger that already holds later history gives the same answer.

Redis layout (see :mod:`tallywatch.store`): ``ledger_key(metric)`` hash night -> JSON entry, best of
all sources; ``ledger_news_key(metric)`` the same for values reported by articles only (so a second
outlet repeating tonight's record is not a new record, while the CSV's own copy of tonight is).
"""

from __future__ import annotations

import csv
import json
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tallywatch.store import LEDGER_SEEDED_KEY, ledger_key, ledger_news_key

log = logging.getLogger(__name__)

CSV_OUTLET = "Ukrainian Air Force"
CSV_SOURCE = "csv"
DRONES = "drones_launched"
MISSILES = "missiles_launched"
BALLISTIC = "ballistic_missiles_launched"
CRUISE = "cruise_missiles_launched"
GLIDE = "glide_bombs_launched"
TOTAL = "aerial_weapons_launched"
LEDGER_METRICS = (DRONES, MISSILES, BALLISTIC, CRUISE, GLIDE, TOTAL)

# Atomic "keep the larger": HSET field only if the stored entry's value is smaller.
_MAX_SCRIPT = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local v = cjson.decode(cur)['value']
  if tonumber(v) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


@dataclass(frozen=True)
class LedgerEntry:
    metric: str
    night: date
    value: int
    source: str  # "csv" or "article"
    outlet: str | None = None
    url: str | None = None

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "night": self.night.isoformat(),
            "value": self.value,
            "source": self.source,
            "outlet": self.outlet,
            "url": self.url,
        }


def _entry(metric: str, night: str, raw: str) -> LedgerEntry:
    d = json.loads(raw)
    return LedgerEntry(
        metric=metric,
        night=date.fromisoformat(night),
        value=int(d["value"]),
        source=d.get("source", CSV_SOURCE),
        outlet=d.get("outlet"),
        url=d.get("url"),
    )


def _payload(value: int, source: str, outlet: str | None, url: str | None) -> str:
    return json.dumps({"value": int(value), "source": source, "outlet": outlet, "url": url})


def record_value(
    redis, metric: str, night: date, value: int, *, source: str = "article",
    outlet: str | None = None, url: str | None = None,
) -> bool:
    """Store ``value`` for (metric, night) if it is larger than what the ledger holds; True if it was.
    Values from articles also go to the news-only ledger."""
    field = night.isoformat()
    payload = _payload(value, source, outlet, url)
    changed = bool(redis.eval(_MAX_SCRIPT, 1, ledger_key(metric), field, int(value), payload))
    if source != CSV_SOURCE:
        redis.eval(_MAX_SCRIPT, 1, ledger_news_key(metric), field, int(value), payload)
    return changed


def night_best(redis, metric: str, night: date, *, news_only: bool = False) -> LedgerEntry | None:
    """The largest value the ledger holds for that very night (from articles only with ``news_only``)."""
    key = ledger_news_key(metric) if news_only else ledger_key(metric)
    raw = redis.hget(key, night.isoformat())
    return _entry(metric, night.isoformat(), raw) if raw else None


def best_before(redis, metric: str, night: date) -> LedgerEntry | None:
    """The record standing before ``night``: the largest value of any earlier night (ties: the
    earliest night that reached it), or None when the ledger knows no earlier night."""
    best: LedgerEntry | None = None
    cutoff = night.isoformat()
    for field, raw in redis.hgetall(ledger_key(metric)).items():
        if field >= cutoff:
            continue
        e = _entry(metric, field, raw)
        if best is None or e.value > best.value or (e.value == best.value and e.night < best.night):
            best = e
    return best


class Ledger:
    """The same functions bound to one Redis client."""

    def __init__(self, redis):
        self.redis = redis

    def best_before(self, metric: str, night: date) -> LedgerEntry | None:
        return best_before(self.redis, metric, night)

    def night_best(self, metric: str, night: date, *, news_only: bool = False) -> LedgerEntry | None:
        return night_best(self.redis, metric, night, news_only=news_only)

    def record(self, metric: str, night: date, value: int, **kw) -> bool:
        return record_value(self.redis, metric, night, value, **kw)


# --- seeding from the Air Force daily table -------------------------------------------------------

_DRONE_WORDS = ("shahed", "geran", "lancet", "uav", "drone", "молнія", "gerbera")
_BALLISTIC_WORDS = ("iskander-m", "kinzhal", "kn-23", "ballistic", "x-47")
_CRUISE_WORDS = ("x-101", "x-555", "kalibr", "iskander-k", "x-22", "x-59", "x-69", "x-31", "x-35", "zircon",
                 "oniks", "cruise")


def load_models(path: Path) -> dict[str, tuple[str, str]]:
    """missiles_and_uavs.csv: model -> (category, type)."""
    with open(path, newline="", encoding="utf-8") as f:
        return {r["model"].strip(): (r.get("category") or "", r.get("type") or "") for r in csv.DictReader(f)}


def classify(model: str, models: dict[str, tuple[str, str]] | None = None) -> tuple[str, ...]:
    """The ledger metrics one CSV row counts towards (besides the night's total):
    ("drones_launched",), ("missiles_launched", "ballistic_missiles_launched"), ... or () to skip
    (reconnaissance drones)."""
    category, typ = (models or {}).get(model.strip(), ("", ""))
    name = model.lower()
    category = category.lower()
    if not category:  # not in the models table: guess from the name
        if "reconnaissance" in name or "orlan" in name or "supercam" in name or "zala" in name:
            return ()
        if any(w in name for w in _DRONE_WORDS):
            return (DRONES,)
        if "gbu" in name or "kab" in name:
            return (GLIDE,)
        ballistic = any(w in name for w in _BALLISTIC_WORDS)
        cruise = any(w in name for w in _CRUISE_WORDS)
        if ballistic and not cruise:
            return (MISSILES, BALLISTIC)
        if cruise and not ballistic:
            return (MISSILES, CRUISE)
        return (MISSILES,)
    if category == "uav":
        if "reconnaissance" in typ.lower() or "reconnaissance" in name:
            return ()
        return (DRONES,)
    if "guided bomb" in category:
        return (GLIDE,)
    if "ballistic" in category:
        return (MISSILES, BALLISTIC)
    if "cruise" in category:
        return (MISSILES, CRUISE)
    return (MISSILES,)  # surface-to-air missiles fired at ground targets count as missiles


def nightly_totals(path: Path, models_path: Path | None = None) -> dict[date, dict[str, int]]:
    """Nightly national figures from the daily CSV: rows with target "Ukraine", grouped by the date
    of time_end. ``aerial_weapons_launched`` = drones + missiles that night."""
    path = Path(path)
    if models_path is None and (path.parent / "missiles_and_uavs.csv").is_file():
        models_path = path.parent / "missiles_and_uavs.csv"
    models = load_models(models_path) if models_path else {}
    nights: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if (row.get("target") or "").strip() != "Ukraine":
                continue
            end = (row.get("time_end") or "").strip()
            launched = (row.get("launched") or "").strip()
            if not end or not launched:
                continue
            try:
                night = date.fromisoformat(end[:10])
                n = int(float(launched))
            except ValueError:
                continue
            if n <= 0:
                continue
            metrics = classify(row.get("model") or "", models)
            for m in metrics:
                nights[night][m] += n
            if DRONES in metrics or MISSILES in metrics:
                nights[night][TOTAL] += n
    return {k: dict(v) for k, v in nights.items()}


def seed_from_csv(redis, path: str | Path, models_path: str | Path | None = None) -> int:
    """Load the ledger from the Air Force daily CSV (``models_path`` defaults to missiles_and_uavs.csv
    beside it). Keeps larger values already in the ledger; safe to run again. Returns nights loaded."""
    nights = nightly_totals(Path(path), Path(models_path) if models_path else None)
    pipe = redis.pipeline(transaction=False)
    for night, figures in nights.items():
        for metric, value in figures.items():
            pipe.eval(_MAX_SCRIPT, 1, ledger_key(metric), night.isoformat(), value,
                      _payload(value, CSV_SOURCE, CSV_OUTLET, None))
    pipe.execute()
    log.info("record ledger: %d nights from %s", len(nights), path)
    return len(nights)


def ensure_seeded(redis, path: str | Path, models_path: str | Path | None = None) -> int:
    """Seed the ledger from ``path`` unless it was already seeded from this very file (same path,
    size and modification time); returns the nights loaded, 0 when nothing was to do."""
    path = Path(path)
    st = path.stat()
    marker = f"{path.resolve()}|{st.st_size}|{int(st.st_mtime)}"
    if redis.get(LEDGER_SEEDED_KEY) == marker:
        return 0
    n = seed_from_csv(redis, path, models_path)
    redis.set(LEDGER_SEEDED_KEY, marker)
    return n
