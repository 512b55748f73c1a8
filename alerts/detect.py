"""Deciding what is news in one article version: NEW RECORD, CHANGED, DIVERGING.

:func:`detect` has side effects on the ledger and on the event figures (it is how they learn), and is
idempotent: running it again over the same version gives alerts with the same keys, which the
alert log then records only once.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime

from alerts import ledger
from alerts.events import (
    OutletFigure,
    article_night,
    diverge,
    figure_night,
    place_name,
    place_slug,
    store_outlet_figure,
)
from alerts.grouping import place_figures
from alerts.models import QUALIFIER_WORDS, Alert, day_month, label, night_label, noun, one_line
from tallywatch.models import LAUNCH_METRICS, Article, Figure
from tallywatch.store import article_versions_key

# Sub-counts of a night's total: one of them beating the largest-attack record beats it outright.
_PART_METRICS = (ledger.DRONES, ledger.MISSILES, ledger.BALLISTIC, ledger.CRUISE)


def _h(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:16]


def _qv(value: int, qualifier: str) -> str:
    """"at least 23", "539"."""
    word = QUALIFIER_WORDS.get(qualifier, "")
    return f"{word} {value}" if word else str(value)


def _value_entry(article: Article, fig: Figure, **extra) -> dict:
    return {
        "outlet": article.outlet, "value": fig.value, "qualifier": fig.qualifier, "url": article.url,
        "sentence": one_line(fig.sentence), "version": article.version, **extra,
    }


# --- records -------------------------------------------------------------------------------------


def _record_candidates(article: Article) -> dict[tuple[str, date], Figure]:
    """Event-scope launch figures, the largest per (metric, night)."""
    best: dict[tuple[str, date], Figure] = {}
    for fig in article.figures:
        if fig.scope != "event" or fig.metric not in LAUNCH_METRICS:
            continue
        k = (fig.metric, figure_night(fig, article))
        if k not in best or fig.value > best[k].value or (fig.value == best[k].value and fig.record):
            best[k] = fig
    return best


def detect_records(redis, article: Article, now: datetime) -> list[Alert]:
    """NEW RECORD alerts, judged against the ledger as of each figure's night; then every event-scope
    launch figure is written to the ledger."""
    alerts: list[Alert] = []
    own_night = article_night(article)
    # figures dated to earlier nights first: an article's own "previous record" informs the ledger
    candidates = sorted(_record_candidates(article).items(), key=lambda kv: (kv[0][1], kv[0][0]))
    for (metric, night), fig in candidates:
        if fig.night is None or fig.night >= own_night:
            alert = _record_alert(redis, article, fig, metric, night, now)
            if alert:
                alerts.append(alert)
        # a figure dated to an earlier night ("537 five days ago") only teaches the ledger
        ledger.record_value(redis, metric, night, fig.value, source="article", outlet=article.outlet,
                            url=article.url)
    return alerts


def _record_alert(
    redis, article: Article, fig: Figure, metric: str, night: date, now: datetime
) -> Alert | None:
    if fig.qualifier == "up_to" and not fig.record:
        return None  # an upper bound claims nothing
    held = ledger.night_best(redis, metric, night, news_only=True)
    if held and (held.value > fig.value or (held.value == fig.value and held.url != article.url)):
        return None  # a report already gave this night this value or more (same article: re-detect)
    standing = ledger.best_before(redis, metric, night)
    total = ledger.best_before(redis, ledger.TOTAL, night) if metric in _PART_METRICS else None
    beats_total = total is not None and fig.value > total.value
    if standing is not None:
        exceeds = fig.value > standing.value
    else:  # nothing known for this metric: beating the largest attack of all is a record
        exceeds = beats_total
    if not exceeds and not fig.record:
        return None
    # 539 drones beat the largest attack of all (537 drones and missiles): that is the one to show
    previous = total if exceeds and beats_total else standing or total
    what = f"{_qv(fig.value, fig.qualifier)} {noun(metric)} in one night"
    if previous is None:
        title = f"NEW RECORD: {what}"
    elif exceeds:
        title = f"NEW RECORD: {what} (previous {previous.value}, {day_month(previous.night)})"
    else:
        title = (f"NEW RECORD: {what}, as reported by {article.outlet} "
                 f"(ledger best {previous.value}, {day_month(previous.night)})")
    prev = None
    if previous is not None:
        prev = {**previous.to_dict(), "label": noun(previous.metric),
                "night_label": night_label(previous.night)}
    return Alert(
        kind="record",
        key=f"record:{night.isoformat()}:{metric}:{fig.value}",
        title=one_line(title),
        night=night,
        place=place_name(fig.location),
        metric=metric,
        values=[_value_entry(article, fig, record_flag=fig.record)],
        sentence=one_line(fig.sentence),
        url=article.url,
        outlet=article.outlet,
        created_at=now,
        previous=prev,
    )


# --- changed -------------------------------------------------------------------------------------


def _figure_map(article: Article) -> dict[tuple, Figure]:
    """(metric, place, scope, explicit night or None) -> figure, the largest per key. The article's
    own night stays None: versions of one article report on the same night even when a later
    version carries a later publication date."""
    out: dict[tuple, Figure] = {}
    for fig in article.figures:
        k = (fig.metric, place_slug(place_name(fig.location)), fig.scope, fig.night)
        if k not in out or fig.value > out[k].value:
            out[k] = fig
    return out


def detect_changes(previous: Article | None, article: Article, now: datetime) -> list[Alert]:
    """CHANGED alerts: a figure for the same (metric, location, scope, night) whose value differs from
    the previous version's, or that disappeared (retracted)."""
    if previous is None:
        return []
    old, new = _figure_map(previous), _figure_map(article)
    alerts: list[Alert] = []
    for k, before in old.items():
        after = new.get(k)
        if after is not None and after.value == before.value:
            continue
        metric, _, scope, _ = k
        night = figure_night(after or before, article if after else previous)
        if after is None:
            title = f"CHANGED: {label(metric)} {before.value} retracted ({article.outlet})"
            values = [_value_entry(previous, before)]
            sentence = before.sentence
        else:
            title = f"CHANGED: {label(metric)} {before.value} → {after.value} ({article.outlet})"
            values = [_value_entry(previous, before), _value_entry(article, after)]
            sentence = after.sentence
        alerts.append(Alert(
            kind="changed",
            key=f"changed:{article.id}:v{article.version}:{_h(*k)}",
            title=one_line(title),
            night=night,
            place=place_name(before.location),
            metric=metric,
            values=values,
            sentence=one_line(sentence),
            url=article.url,
            outlet=article.outlet,
            created_at=now,
            change={
                "old": before.value, "new": after.value if after else None,
                "old_qualifier": before.qualifier, "new_qualifier": after.qualifier if after else None,
                "old_version": previous.version, "version": article.version,
                "retracted": after is None, "scope": scope,
            },
        ))
    return alerts


# --- diverging -----------------------------------------------------------------------------------


def _fmt_outlet(f: OutletFigure) -> str:
    word = QUALIFIER_WORDS.get(f.qualifier, "")
    return f"{f.value} ({f.outlet}, {word})" if word else f"{f.value} ({f.outlet})"


def detect_diverging(redis, article: Article, now: datetime) -> list[Alert]:
    """Store this outlet's event-scope figures per (event, metric) and compare them with the other
    outlets'. Events are those of :mod:`alerts.grouping` (the night of the article's first version,
    normalised places). The alert key is the event, the metric and the pair of outlets, not the values,
    so a later correction of either report does not raise the same disagreement again."""
    first = article.published or article.fetched_at
    if article.version > 1:
        v1 = redis.lindex(article_versions_key(article.id), 0)
        if v1:
            d = json.loads(v1)
            when = d.get("published") or d.get("fetched_at")
            first = datetime.fromisoformat(when) if when else first
    mine: dict[tuple, Figure] = {}
    for p in place_figures(article, first):
        k = (p.night, p.place.name, p.figure.metric)
        if k not in mine or p.figure.value > mine[k].value:
            mine[k] = p.figure
    alerts: list[Alert] = []
    for (night, place, metric), fig in mine.items():
        me = OutletFigure(outlet=article.outlet, value=fig.value, qualifier=fig.qualifier, url=article.url,
                          article_id=article.id, version=article.version, sentence=one_line(fig.sentence),
                          place=place)
        for other in store_outlet_figure(redis, night, place, metric, me):
            if not diverge(me.value, me.qualifier, other.value, other.qualifier):
                continue
            pair = sorted((me, other), key=lambda f: (-f.value, f.outlet))
            title = (f"DIVERGING: {label(metric)} {_fmt_outlet(pair[0])} vs {_fmt_outlet(pair[1])}"
                     f" — {place}, {night_label(night)}")
            outlets = sorted((me.outlet, other.outlet))
            alerts.append(Alert(
                kind="diverging",
                key=f"diverging:{night.isoformat()}:{metric}:{_h(place_slug(place), *outlets)}",
                title=one_line(title),
                night=night,
                place=place,
                metric=metric,
                values=[{"outlet": f.outlet, "value": f.value, "qualifier": f.qualifier, "url": f.url,
                         "sentence": f.sentence, "version": f.version} for f in pair],
                sentence=me.sentence,
                url=article.url,
                outlet=article.outlet,
                created_at=now,
            ))
    return alerts


def detect(
    redis, article: Article, previous: Article | None = None, now: datetime | None = None
) -> list[Alert]:
    """All alerts one article version gives, in order: records, changes, divergences."""
    now = now or datetime.now(UTC)
    return detect_records(redis, article, now) + detect_changes(previous, article, now) + \
        detect_diverging(redis, article, now)
