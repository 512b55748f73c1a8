"""Events and the figures each outlet reports for them.

An event is (night, place): the night is the date of the morning it ended, in Kyiv time; the place is
the figure's location, normalised ("Ukraine" when the text names none). Which event a figure belongs
to is decided in :mod:`alerts.grouping`. Each outlet's latest figure per (event,
metric) is kept in Redis, so a new report can be compared with what the other outlets said.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from tallywatch.models import Article, Figure
from tallywatch.store import event_figures_key

NIGHT_TZ = ZoneInfo("Europe/Kyiv")
DEFAULT_PLACE = "Ukraine"


def article_night(article: Article) -> date:
    """The night an article reports on, by default: the date of publication in Kyiv time (a report
    published the morning of 4 July is about the night of 3-4 July). Falls back to the fetch time."""
    when = article.published or article.fetched_at or datetime.now(UTC)
    if when.tzinfo is not None:
        when = when.astimezone(NIGHT_TZ)
    return when.date()


def figure_night(figure: Figure, article: Article) -> date:
    return figure.night or article_night(article)


def place_name(location: str | None) -> str:
    """The event's place for a reported location: one name per target (alerts.grouping)."""
    from alerts.grouping import normalize_place

    return normalize_place(location).name


def place_slug(place: str) -> str:
    from alerts.grouping import slug

    return slug(place_name(place))


# --- value intervals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False


def interval(value: int, qualifier: str) -> Interval:
    """What a reported figure allows: exact v=[v,v], at_least=[v,inf), more_than=(v,inf),
    up_to=[0,v], approx=v±10%."""
    v = float(value)
    if qualifier == "at_least":
        return Interval(v, math.inf, hi_open=True)
    if qualifier == "more_than":
        return Interval(v, math.inf, lo_open=True, hi_open=True)
    if qualifier == "up_to":
        return Interval(0.0, v)
    if qualifier == "approx":
        return Interval(v * 0.9, v * 1.1)
    return Interval(v, v)


def _tighter(x: float, x_open: bool, y: float, y_open: bool, pick) -> tuple[float, bool]:
    if x == y:
        return x, x_open or y_open
    return (x, x_open) if pick(x, y) == x else (y, y_open)


def overlaps(a: Interval, b: Interval) -> bool:
    lo, lo_open = _tighter(a.lo, a.lo_open, b.lo, b.lo_open, max)
    hi, hi_open = _tighter(a.hi, a.hi_open, b.hi, b.hi_open, min)
    if lo < hi:
        return True
    return lo == hi and not lo_open and not hi_open


def diverge(a_value: int, a_qualifier: str, b_value: int, b_qualifier: str) -> bool:
    """Two reports diverge when no single true value fits both."""
    return not overlaps(interval(a_value, a_qualifier), interval(b_value, b_qualifier))


# --- each outlet's latest figure per event and metric ----------------------------------------------


@dataclass(frozen=True)
class OutletFigure:
    outlet: str
    value: int
    qualifier: str
    url: str
    article_id: str
    version: int
    sentence: str = ""
    place: str = ""

    def to_dict(self) -> dict:
        return {
            "outlet": self.outlet, "value": self.value, "qualifier": self.qualifier, "url": self.url,
            "article_id": self.article_id, "version": self.version, "sentence": self.sentence,
            "place": self.place,
        }

    @classmethod
    def from_dict(cls, d: dict) -> OutletFigure:
        return cls(
            outlet=d["outlet"], value=int(d["value"]), qualifier=d.get("qualifier", "exact"),
            url=d.get("url", ""), article_id=d.get("article_id", ""), version=int(d.get("version", 1)),
            sentence=d.get("sentence", ""), place=d.get("place", ""),
        )


def store_outlet_figure(redis, night: date, place: str, metric: str, fig: OutletFigure) -> list[OutletFigure]:
    """Keep ``fig`` as its outlet's latest figure for (night, place, metric), unless an equal or later
    version of the same article is already there; return the other outlets' figures."""
    key = event_figures_key(night.isoformat(), place_slug(place), metric)
    stored = {k: OutletFigure.from_dict(json.loads(v)) for k, v in redis.hgetall(key).items()}
    mine = stored.get(fig.outlet)
    if not (mine and mine.article_id == fig.article_id and mine.version > fig.version):
        redis.hset(key, fig.outlet, json.dumps(fig.to_dict()))
    return [f for outlet, f in sorted(stored.items()) if outlet != fig.outlet]


def event_figures(redis, night: date, place: str, metric: str) -> dict[str, OutletFigure]:
    key = event_figures_key(night.isoformat(), place_slug(place), metric)
    return {k: OutletFigure.from_dict(json.loads(v)) for k, v in redis.hgetall(key).items()}
