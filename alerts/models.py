"""The Alert: what the alerts stage decides, records once, renders and delivers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

KINDS = ("record", "changed", "diverging")

# Words for a metric in a sentence: "539 drones", "injured 23 → 26".
NOUNS = {
    "drones_launched": "drones",
    "drones_intercepted": "drones intercepted",
    "missiles_launched": "missiles",
    "missiles_intercepted": "missiles intercepted",
    "ballistic_missiles_launched": "ballistic missiles",
    "cruise_missiles_launched": "cruise missiles",
    "glide_bombs_launched": "glide bombs",
    "aerial_weapons_launched": "drones and missiles",
    "killed": "killed",
    "injured": "injured",
}
LABELS = {
    "drones_launched": "drones launched",
    "drones_intercepted": "drones intercepted",
    "missiles_launched": "missiles launched",
    "missiles_intercepted": "missiles intercepted",
    "ballistic_missiles_launched": "ballistic missiles launched",
    "cruise_missiles_launched": "cruise missiles launched",
    "glide_bombs_launched": "glide bombs launched",
    "aerial_weapons_launched": "drones and missiles launched",
    "killed": "killed",
    "injured": "injured",
}
QUALIFIER_WORDS = {
    "exact": "",
    "at_least": "at least",
    "more_than": "more than",
    "approx": "about",
    "up_to": "up to",
}


def noun(metric: str) -> str:
    return NOUNS.get(metric, metric.replace("_", " "))


def label(metric: str) -> str:
    return LABELS.get(metric, metric.replace("_", " "))


def day_month(d: date) -> str:
    """29 June"""
    return f"{d.day} {d:%B}"


def night_label(night: date) -> str:
    """The night ending on the morning of ``night``: "night of 3-4 July", "night of 30 June-1 July"."""
    from datetime import timedelta

    eve = night - timedelta(days=1)
    if eve.month == night.month:
        return f"night of {eve.day}-{night.day} {night:%B}"
    return f"night of {eve.day} {eve:%B}-{night.day} {night:%B}"


def one_line(text: str | None) -> str:
    """Collapse whitespace (titles go into mail headers; article text is untrusted)."""
    return " ".join(str(text or "").split())


def make_key(kind: str, *parts: object) -> str:
    """A deterministic, ASCII idempotency key: ``<kind>:<night>:<metric>:<hash of the rest>``."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:20]
    return f"{kind}:{digest}"


@dataclass
class Alert:
    kind: str  # record | changed | diverging
    key: str  # deterministic idempotency key
    title: str  # one line: "NEW RECORD: 539 drones in one night (previous 537, 29 June)"
    night: date  # the event's night (date of the morning it ended)
    place: str  # the event's place, as reported ("Kyiv")
    metric: str
    # one entry per outlet/version involved: {outlet, value, qualifier, url, sentence, [version]}
    values: list[dict] = field(default_factory=list)
    sentence: str = ""  # the sentence of the figure that triggered the alert
    url: str = ""  # the article that triggered it
    outlet: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # record: the record it beats {metric, value, night, source, outlet, url}, or None
    previous: dict | None = None
    # changed: {old, new, old_qualifier, new_qualifier, version, retracted}
    change: dict | None = None

    @property
    def event_label(self) -> str:
        return f"{self.place}, {night_label(self.night)}"

    @property
    def webhook_type(self) -> str:
        return f"alert.{self.kind}"

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "key": self.key,
            "title": self.title,
            "night": self.night.isoformat(),
            "place": self.place,
            "metric": self.metric,
            "values": self.values,
            "sentence": self.sentence,
            "url": self.url,
            "outlet": self.outlet,
            "created_at": self.created_at.isoformat(),
            "previous": self.previous,
            "change": self.change,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Alert:
        return cls(
            kind=d["kind"],
            key=d["key"],
            title=d["title"],
            night=date.fromisoformat(d["night"]),
            place=d.get("place", ""),
            metric=d.get("metric", ""),
            values=list(d.get("values") or []),
            sentence=d.get("sentence", ""),
            url=d.get("url", ""),
            outlet=d.get("outlet", ""),
            created_at=datetime.fromisoformat(d["created_at"]),
            previous=d.get("previous"),
            change=d.get("change"),
        )
