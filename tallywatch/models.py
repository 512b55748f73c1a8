"""Data passed between the stages: crawler -> Redis -> alerts.

Plain dataclasses with explicit to_dict/from_dict so what lands in Redis is plain JSON.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

METRICS = (
    "drones_launched",
    "drones_intercepted",
    "missiles_launched",
    "missiles_intercepted",
    "ballistic_missiles_launched",
    "cruise_missiles_launched",
    "glide_bombs_launched",
    "aerial_weapons_launched",
    "killed",
    "injured",
)
QUALIFIERS = ("exact", "at_least", "more_than", "approx", "up_to")
SCOPES = ("event", "aggregate")
LAUNCH_METRICS = tuple(m for m in METRICS if m.endswith("_launched"))


@dataclass(frozen=True)
class Figure:
    """One figure an outlet reports: "at least 23 people were wounded" -> injured, 23, at_least."""

    metric: str
    value: int
    qualifier: str = "exact"
    scope: str = "event"
    record: bool = False
    location: str | None = None
    sentence: str = ""
    # The night the figure belongs to (date of the morning it ended), when the text dates it
    # relative to the article ("five days ago"); None means "the article's own night".
    night: date | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["night"] = self.night.isoformat() if self.night else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Figure:
        night = d.get("night")
        return cls(
            metric=d["metric"],
            value=int(d["value"]),
            qualifier=d.get("qualifier", "exact"),
            scope=d.get("scope", "event"),
            record=bool(d.get("record", False)),
            location=d.get("location"),
            sentence=d.get("sentence", ""),
            night=date.fromisoformat(night) if night else None,
        )


_WS = re.compile(r"\s+")


def content_fingerprint(title: str, body: str) -> str:
    """Fingerprint of an article's text, blind to whitespace and case, so a verbatim copy matches."""
    text = _WS.sub(" ", f"{title}\n{body}").strip().lower()
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def article_id(canonical_url: str) -> str:
    return hashlib.sha1(canonical_url.encode("utf-8")).hexdigest()[:16]


@dataclass
class Article:
    """One version of an article as fetched: canonical URL, who published it, its text and figures."""

    url: str
    outlet: str
    source_id: str
    title: str
    body: str
    published: datetime | None = None
    guid: str | None = None
    fetched_at: datetime | None = None
    version: int = 1
    figures: list[Figure] = field(default_factory=list)

    @property
    def id(self) -> str:
        return article_id(self.url)

    @property
    def fingerprint(self) -> str:
        return content_fingerprint(self.title, self.body)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "url": self.url,
            "outlet": self.outlet,
            "source_id": self.source_id,
            "title": self.title,
            "body": self.body,
            "published": self.published.isoformat() if self.published else None,
            "guid": self.guid,
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "figures": [f.to_dict() for f in self.figures],
        }

    @classmethod
    def from_dict(cls, d: dict) -> Article:
        def dt(v):
            return datetime.fromisoformat(v) if v else None

        return cls(
            url=d["url"],
            outlet=d.get("outlet", ""),
            source_id=d.get("source_id", ""),
            title=d.get("title", ""),
            body=d.get("body", ""),
            published=dt(d.get("published")),
            guid=d.get("guid"),
            fetched_at=dt(d.get("fetched_at")),
            version=int(d.get("version", 1)),
            figures=[Figure.from_dict(f) for f in d.get("figures", [])],
        )
