"""The breakdown of one event: per metric, each outlet's latest figure, the spread, who diverges, a
consensus, and each figure's history across article versions ("death toll 8 → 16 → 27").

Everything here is plain dicts (JSON-able), built from article histories (all versions of each
article, oldest first) and a :class:`alerts.grouping.Grouper` over them. The same functions serve the
``tallywatch breakdown`` command (files) and the web pages (Redis, :class:`EventsCache`).
The consensus rule is documented for readers in docs/events.md.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict
from datetime import datetime, timedelta
from itertools import combinations

from alerts.events import diverge, interval
from alerts.grouping import COUNTRY, Event, Grouper, Placed, night_title, parse_event_id
from alerts.models import QUALIFIER_WORDS, label
from tallywatch.models import METRICS, Article
from tallywatch.store import ARTICLE_STREAM, ARTICLES_INDEX, article_versions_key

# Attribution to an official body in the figure's own sentence: preferred when reports disagree.
OFFICIAL_RE = re.compile(
    r"\b(?:according to|said|says|reported|told|cited|confirmed|citing)\b[^.]{0,80}?\b(?:air force|military|"
    r"authorit(?:y|ies)|officials?|ministry|minister|governor|mayor|emergency service|administration|police|"
    r"prosecutor|general staff|head of the|president|spokes(?:man|woman|person))"
    r"|\b(?:air force|military administration|emergency service|ministry|governor|mayor|officials?|police)\b"
    r"[^.]{0,40}\b(?:said|says|reported|confirmed|announced|wrote)\b",
    re.I,
)
# Outlets that are themselves official bodies (a ministry's or an administration's channel).
OFFICIAL_OUTLET_RE = re.compile(
    r"\b(?:air force|ministry|general staff|administration|governor|mayor|city council|emergency service|"
    r"armed forces|prosecutor|police)\b", re.I)
_PAREN_RE = re.compile(r"\s*\([^)]*\)\s*$")
CASUALTIES = ("killed", "injured")
SUPERSEDED_AFTER = timedelta(hours=6)  # a lower casualty toll this much older than a higher one is outdated


def outlet_name(outlet: str) -> str:
    """"CNN (inferred)" -> "CNN"."""
    return _PAREN_RE.sub("", " ".join((outlet or "").split())) or "unknown outlet"


def qv(value: int | None, qualifier: str) -> str:
    """"at least 23", "539"."""
    if value is None:
        return "—"
    word = QUALIFIER_WORDS.get(qualifier, "")
    return f"{word} {value}" if word else str(value)


def version_time(a: Article) -> datetime | None:
    if a.version > 1:
        return a.fetched_at or a.published
    return a.published or a.fetched_at


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def summary(body: str, limit: int = 260) -> str:
    text = " ".join((body or "").split())
    if len(text) <= limit:
        return text
    cut = text.rfind(". ", 0, limit)
    return text[: cut + 1] if cut > 80 else text[: limit - 1].rstrip() + "…"


# --- series: one article's figure for one (event, metric) across its versions ------------------------


def _series(versions: list[Article], placed: list[Placed]) -> list[dict]:
    """Entries where the value changes: {version, time, value|None, qualifier, sentence, record}."""
    by_version: dict[int, Placed] = {}
    for p in placed:
        cur = by_version.get(p.version)
        if cur is None or p.figure.value > cur.figure.value:
            by_version[p.version] = p
    out: list[dict] = []
    seen = False
    for art in versions:
        p = by_version.get(art.version)
        if p is None and not seen:
            continue
        seen = True
        entry = {"version": art.version, "time": _iso(version_time(art)),
                 "value": p.figure.value if p else None, "qualifier": p.figure.qualifier if p else None,
                 "sentence": " ".join(p.figure.sentence.split()) if p else "", "record": bool(p and p.figure.record),
                 "reason": p.reason if p else ""}
        if out and (out[-1]["value"], out[-1]["qualifier"]) == (entry["value"], entry["qualifier"]):
            continue
        out.append(entry)
    return out


def timeline_text(series: list[dict]) -> str:
    """"8 → 16 → 27", "1 → retracted"."""
    return " → ".join(qv(e["value"], e["qualifier"]) if e["value"] is not None else "retracted" for e in series)


def _official(outlet: str, sentence: str) -> str | None:
    """"source" when the outlet is an official body, "cited" when the sentence attributes the figure to
    one, else None."""
    if OFFICIAL_OUTLET_RE.search(outlet or ""):
        return "source"
    return "cited" if OFFICIAL_RE.search(sentence or "") else None


def _when(r: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(r["time"]) if r.get("time") else None
    except ValueError:
        return None


def flag_reports(metric: str, reports: list[dict]) -> list[tuple[dict, dict]]:
    """Mark each current report ``superseded`` (a casualty toll lower than one reported at least
    SUPERSEDED_AFTER later: tolls rise, the older figure is outdated, not disputed) and ``diverging``
    (no single true value fits it and another current report); return the diverging pairs."""
    cur = [r for r in reports if r["value"] is not None]
    if metric in CASUALTIES:
        for r in cur:
            t = _when(r)
            r["superseded"] = t is not None and any(
                o["value"] > r["value"] and (ot := _when(o)) is not None and ot - t >= SUPERSEDED_AFTER for o in cur)
    live = [r for r in cur if not r.get("superseded")]
    pairs = []
    for a, b in combinations(live, 2):
        if diverge(a["value"], a["qualifier"], b["value"], b["qualifier"]):
            a["diverging"] = b["diverging"] = True
            pairs.append((a, b))
    return pairs


# --- consensus -----------------------------------------------------------------------------------------


def consensus(reports: list[dict]) -> dict:
    """What to tell a reader (docs/events.md): all agree -> the value they allow; disputed -> the range,
    the official source's figure if one is attributed, else the most conservative (lowest) report."""
    cur = [r for r in reports if r["value"] is not None and not r.get("superseded")]
    if not cur:
        return {"status": "retracted", "text": "retracted", "basis": "every report was withdrawn"}
    values = [r["value"] for r in cur]
    lo_v, hi_v = min(values), max(values)
    disputed = any(diverge(a["value"], a["qualifier"], b["value"], b["qualifier"]) for a, b in combinations(cur, 2))
    if not disputed:
        exact = [r["value"] for r in cur if r["qualifier"] == "exact"]
        if exact:
            text = str(exact[0])
        else:
            ivs = [interval(r["value"], r["qualifier"]) for r in cur]
            lo, hi = max(i.lo for i in ivs), min(i.hi for i in ivs)
            lower = [r for r in cur if r["qualifier"] in ("at_least", "more_than")]
            if hi == float("inf"):
                top = max(lower, key=lambda r: (r["value"], r["qualifier"] == "more_than"))
                text = qv(top["value"], top["qualifier"])
            elif len(cur) == 1:
                text = qv(cur[0]["value"], cur[0]["qualifier"])
            else:
                text = f"{round(lo)}–{round(hi)}" if round(lo) != round(hi) else f"about {round(lo)}"
        basis = "all reports agree" if len(cur) > 1 else "one report"
        return {"status": "agreed", "text": text, "range": [lo_v, hi_v], "basis": basis}
    official = [r for r in cur if r.get("official")]
    if official:
        # the official body's own report first, then an outlet citing one; the latest of those
        pick = max(official, key=lambda r: (r["official"] == "source", r["time"] or ""))
        basis = (f"official source ({pick['outlet']})" if pick["official"] == "source"
                 else f"official source cited by {pick['outlet']}")
    else:
        pick = min(cur, key=lambda r: (r["value"], r["outlet"]))
        basis = f"most conservative report ({pick['outlet']})"
    return {"status": "disputed", "text": f"{lo_v}–{hi_v}", "range": [lo_v, hi_v], "basis": basis,
            "preferred": {"outlet": pick["outlet"], "value": pick["value"], "qualifier": pick["qualifier"],
                          "text": qv(pick["value"], pick["qualifier"])}}


# --- one event -----------------------------------------------------------------------------------------


def _article_info(versions: list[Article], eid_figs: int) -> dict:
    latest = versions[-1]
    return {"id": latest.id, "outlet": outlet_name(latest.outlet), "title": " ".join(latest.title.split()),
            "url": latest.url, "published": _iso(versions[0].published or versions[0].fetched_at),
            "updated": _iso(version_time(latest)), "versions": len(versions), "summary": summary(latest.body),
            "figures": eid_figs}


def event_breakdown(event: Event, histories: dict[str, list[Article]], placed: list[Placed],
                    related: list[Event] = ()) -> dict:
    """The breakdown of ``event``; ``placed`` are its figures (any article, any version)."""
    per: dict[tuple[str, str], list[Placed]] = defaultdict(list)
    for p in placed:
        per[(p.figure.metric, p.article_id)].append(p)
    metrics: list[dict] = []
    divergences: list[dict] = []
    timeline: list[dict] = []
    for metric in sorted({m for m, _ in per}, key=lambda m: METRICS.index(m) if m in METRICS else 99):
        candidates: dict[str, list[dict]] = defaultdict(list)
        for (m, aid), ps in per.items():
            if m != metric or aid not in histories:
                continue
            versions = histories[aid]
            series = _series(versions, ps)
            if not series:
                continue
            art = versions[-1]
            last = series[-1]
            shown = last if last["value"] is not None else next(e for e in reversed(series) if e["value"] is not None)
            report = {
                "outlet": outlet_name(art.outlet), "article_id": aid, "url": art.url,
                "title": " ".join(art.title.split()), "value": last["value"], "qualifier": last["qualifier"] or "",
                "text": qv(last["value"], last["qualifier"] or ""), "retracted": last["value"] is None,
                "was": None if last["value"] is not None else qv(shown["value"], shown["qualifier"]),
                "sentence": shown["sentence"], "version": art.version, "time": last["time"],
                "record": shown["record"], "official": _official(art.outlet, shown["sentence"]),
                "superseded": False,
                "timeline": series, "timeline_text": timeline_text(series), "diverging": False,
            }
            candidates[report["outlet"]].append(report)
            for prev, e in zip([None, *series], series, strict=False):
                if prev is None:
                    what = f"reported {qv(e['value'], e['qualifier'])}"
                elif prev["value"] is None:
                    what = f"reported again: {qv(e['value'], e['qualifier'])}"
                elif e["value"] is None:
                    what = f"retracted (was {qv(prev['value'], prev['qualifier'])})"
                else:
                    verb = "lowered" if prev["value"] is not None and e["value"] < prev["value"] else "updated"
                    what = f"{verb}: {qv(prev['value'], prev['qualifier'])} → {qv(e['value'], e['qualifier'])}"
                timeline.append({"time": e["time"], "outlet": report["outlet"], "metric": metric,
                                 "label": label(metric), "what": what, "url": art.url, "version": e["version"]})
        # one report per outlet: the one of its articles updated last
        reports = [max(rs, key=lambda r: (r["time"] or "", r["version"])) for rs in candidates.values()]
        reports.sort(key=lambda r: (-(r["value"] if r["value"] is not None else -1), r["outlet"]))
        pairs = flag_reports(metric, reports)
        for a, b in pairs:
            divergences.append({"metric": metric, "label": label(metric), "reports": [
                {"outlet": r["outlet"], "text": r["text"], "url": r["url"]} for r in (a, b)]})
        pairs = [[a["outlet"], b["outlet"]] for a, b in pairs]
        cur = [r for r in reports if r["value"] is not None and not r["superseded"]]
        values = [r["value"] for r in cur]
        metrics.append({
            "metric": metric, "label": label(metric), "reports": reports,
            "spread": {"min": min(values), "max": max(values)} if values else None,
            "diverging": pairs, "diverging_outlets": sorted({o for p in pairs for o in p}),
            "consensus": consensus(reports),
        })
    timeline.sort(key=lambda t: (t["time"] or "", t["outlet"], t["label"]))
    arts = []
    for aid in event.article_ids:
        if aid in histories:
            arts.append(_article_info(histories[aid], sum(1 for p in placed if p.article_id == aid)))
    arts.sort(key=lambda a: (a["published"] or "", a["outlet"]))
    return {
        "id": event.id, "title": event.title, "place": event.place.name, "level": event.place.level,
        "night": event.night.isoformat(), "night_label": night_title(event.night),
        "names": sorted(event.names), "articles": arts, "outlets": sorted({a["outlet"] for a in arts}),
        "metrics": metrics, "divergences": divergences, "timeline": timeline,
        "related": [{"id": e.id, "title": e.title} for e in related],
    }


def event_summary(event: Event, histories: dict[str, list[Article]], placed: list[Placed]) -> dict:
    """A row of the events list (cheap: no series)."""
    outlets = sorted({outlet_name(histories[a][-1].outlet) for a in event.article_ids if a in histories})
    latest: dict[tuple[str, str], Placed] = {}
    for p in placed:
        arts = histories.get(p.article_id)
        if arts and p.version == arts[-1].version:
            k = (p.figure.metric, outlet_name(arts[-1].outlet))
            if k not in latest or p.figure.value > latest[k].figure.value:
                latest[k] = p
    by_metric: dict[str, list[Placed]] = defaultdict(list)
    for (m, _), p in latest.items():
        by_metric[m].append(p)
    diverging = []
    for m, ps in by_metric.items():
        arts = [histories[p.article_id][-1] for p in ps]
        reps = [{"value": p.figure.value, "qualifier": p.figure.qualifier, "time": _iso(version_time(a)),
                 "diverging": False} for p, a in zip(ps, arts, strict=True)]
        if flag_reports(m, reps):
            diverging.append(label(m))
    diverging.sort()
    headline = []
    for m in sorted(by_metric, key=lambda m: METRICS.index(m) if m in METRICS else 99)[:4]:
        vals = sorted({p.figure.value for p in by_metric[m]})
        headline.append(f"{label(m)} {vals[0]}" + (f"–{vals[-1]}" if len(vals) > 1 else ""))
    return {"id": event.id, "title": event.title, "place": event.place.name, "level": event.place.level,
            "night": event.night.isoformat(), "articles": len(event.article_ids), "outlets": outlets,
            "figures": ", ".join(headline), "diverging": diverging}


# --- a collection of articles: grouping + lookups ------------------------------------------------------


class EventSet:
    """All events of a collection of article histories."""

    def __init__(self, histories: dict[str, list[Article]]):
        self.histories = histories
        self.grouper = Grouper.group(histories.values())
        self.placed_by_event: dict[str, list[Placed]] = defaultdict(list)
        for p in self.grouper.placed:
            self.placed_by_event[p.event_id].append(p)

    @property
    def events(self) -> dict[str, Event]:
        return self.grouper.events

    def ordered(self) -> list[Event]:
        """Newest night first; within a night, local events before regions and the country."""
        rank = {"city": 0, "region": 1, COUNTRY: 2}
        return sorted(self.events.values(),
                      key=lambda e: (-e.night.toordinal(), rank.get(e.place.level, 3), -len(e.article_ids), e.id))

    def summaries(self) -> list[dict]:
        return [event_summary(e, self.histories, self.placed_by_event[e.id]) for e in self.ordered()]

    def nearest(self, eid: str) -> str | None:
        """An event of the same place one night before or after ``eid``: where an alert's link lands
        when the alert dated the figure by a later version's publication date."""
        parsed = parse_event_id(eid)
        if parsed is None:
            return None
        night, place_slug = parsed
        for delta in (-1, 1):
            cand = f"{(night + timedelta(days=delta)).isoformat()}-{place_slug}"
            if cand in self.events:
                return cand
        return None

    def breakdown(self, eid: str) -> dict | None:
        event = self.events.get(eid)
        if event is None:
            return None
        related = [self.events[i] for i in self.grouper.by_night.get(event.night, []) if i != eid]
        return event_breakdown(event, self.histories, self.placed_by_event[eid], related)


def load_histories(redis) -> dict[str, list[Article]]:
    """Every stored article with all its versions (oldest first), as the crawler wrote them."""
    ids = redis.zrange(ARTICLES_INDEX, 0, -1)
    out: dict[str, list[Article]] = {}
    pipe = redis.pipeline(transaction=False)
    for aid in ids:
        pipe.lrange(article_versions_key(aid), 0, -1)
    for aid, raws in zip(ids, pipe.execute(), strict=True):
        versions = []
        for raw in raws or []:
            try:
                versions.append(Article.from_dict(json.loads(raw)))
            except (ValueError, KeyError, TypeError):
                continue  # a damaged version is skipped, not fatal for the page
        if versions:
            out[aid] = versions
    return out


class EventsCache:
    """The EventSet of what is in Redis. Rebuilt when the crawler has stored something new (the article
    count or the last stream entry changed): the first build is done in the request; later ones in a
    background thread while the previous set keeps being served (with 10,000 articles a rebuild takes
    seconds, see bench/events.py). ``wait=True`` waits for a fresh set (tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sig: tuple | None = None
        self._set: EventSet | None = None
        self._building: tuple | None = None

    @staticmethod
    def signature(redis) -> tuple:
        last = redis.xrevrange(ARTICLE_STREAM, count=1)
        return redis.zcard(ARTICLES_INDEX), last[0][0] if last else None

    def _build(self, redis, sig: tuple) -> EventSet:
        built = EventSet(load_histories(redis))
        with self._lock:
            if self._building == sig:
                self._building = None
            self._set, self._sig = built, sig
        return built

    def get(self, redis, wait: bool = False) -> EventSet:
        sig = self.signature(redis)
        with self._lock:
            current, fresh = self._set, self._sig == sig
            start = current is not None and not fresh and not wait and self._building != sig
            if start:
                self._building = sig
        if current is not None and fresh:
            return current
        if start:
            threading.Thread(target=self._build_quietly, args=(redis, sig), daemon=True).start()
            return current
        if current is not None and not wait:
            return current  # a rebuild is already running
        return self._build(redis, sig)

    def _build_quietly(self, redis, sig: tuple) -> None:
        import logging

        try:
            self._build(redis, sig)
        except Exception:  # noqa: BLE001 - the old set stays; the next request tries again
            logging.getLogger(__name__).exception("events: rebuilding from Redis failed")
            with self._lock:
                self._building = None
