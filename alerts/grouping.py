"""Event assignment: which attack (night and place) each reported figure, and each article, is about.

An event is one night and one place: "Kyiv, night of 3-4 July 2025". Its id is derived from the two
alone (``2025-07-04-kyiv``), so an alert knows its event page without asking anyone
(:func:`event_id`, :func:`event_url`).

For each event-scope figure of an article version (see docs/events.md):

* **night** — the night the text dates the figure to (``Figure.night``: "on Thursday", "five days
  ago"); else the night another figure for the same place in the same paragraph is dated to; else
  the article's night: the date, in Kyiv time, of the article's *first* version (later versions of one
  article report on the same night). An article first published in the evening (18:00-24:00 Kyiv) is
  ambiguous — the morning's attack or the one starting tonight: words in the text decide ("tonight",
  "under attack now" against "overnight", "this morning"), then text similarity with the events
  already known for either night, then the morning's night.
* **place** — :func:`normalize_place`: spellings, "the Ukrainian capital", city districts
  ("Holosiivskyi district" -> Kyiv) and oblasts ("Kharkiv oblast" -> "Kharkiv region") resolve to one
  name at one level (city, region, country). A casualty figure the extractor could only place at
  country level is moved to the local place its own sentence names (a district, "the capital");
  launch and interception counts stay national, as the air force reports them.

Articles without figures (a quote-only live blog) join the event of their night whose place they name
and whose text is most like theirs (TF-IDF cosine), when it is alike enough.
Everything is incremental: adding an article costs its own length plus a handful of candidate events,
so grouping N articles is linear in N (bench/events.py).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from tallywatch.models import Article, Figure

NIGHT_TZ = ZoneInfo("Europe/Kyiv")
COUNTRY, REGION, CITY = "country", "region", "city"
DEFAULT_PLACE = "Ukraine"
CASUALTY_METRICS = ("killed", "injured")

# --- places ------------------------------------------------------------------------------------------

COUNTRIES = {"ukraine": "Ukraine", "russia": "Russia", "russian federation": "Russia", "belarus": "Belarus",
             "moldova": "Moldova", "poland": "Poland"}
# Descriptions that name a capital without naming it.
CAPITAL_ALIASES = {
    "the ukrainian capital": "Kyiv", "ukrainian capital": "Kyiv", "ukraine's capital": "Kyiv",
    "the capital of ukraine": "Kyiv", "capital of ukraine": "Kyiv", "the capital kyiv": "Kyiv",
    "the russian capital": "Moscow", "russian capital": "Moscow", "russia's capital": "Moscow",
    "the capital of russia": "Moscow", "capital of russia": "Moscow",
}
# Names in other scripts (a local outlet's own spelling).
_OTHER_SCRIPTS = {"київ": "Kyiv", "киев": "Kyiv", "харків": "Kharkiv", "харьков": "Kharkiv", "одеса": "Odesa",
                  "одесса": "Odesa", "львів": "Lviv", "дніпро": "Dnipro", "москва": "Moscow"}
# City districts (raions) -> city. Names that exist in several cities list them all; the article's
# text decides (:func:`_pick_city`).
_DISTRICTS: dict[str, tuple[str, ...]] = {}


def _districts(city: str, *names: str) -> None:
    for n in names:
        _DISTRICTS[n.lower()] = tuple(dict.fromkeys(_DISTRICTS.get(n.lower(), ()) + (city,)))


_districts("Kyiv", "Holosiivskyi", "Holosiivskyy", "Holosiiv", "Holosiivsky", "Holosiyivskyi", "Darnytskyi",
           "Darnytsia", "Darnytsky", "Desnianskyi", "Desnyanskyi", "Dniprovskyi", "Dniprovsky", "Obolonskyi",
           "Obolon", "Pecherskyi", "Pechersk", "Podilskyi", "Podil", "Sviatoshynskyi", "Svyatoshynskyi",
           "Sviatoshyn", "Solomianskyi", "Solomyanskyi", "Solomianskyy", "Shevchenkivskyi", "Troieshchyna",
           "Osokorky", "Poznyaky", "Pozniaky", "Vynohradar", "Borshchahivka", "Lukianivka")
_districts("Kharkiv", "Saltivskyi", "Saltivka", "Kyivskyi", "Kholodnohirskyi", "Industrialnyi", "Nemyshlianskyi",
           "Osnovianskyi", "Slobidskyi", "Novobavarskyi", "Shevchenkivskyi", "Oleksiivka", "Pivnichna Saltivka")
_districts("Odesa", "Prymorskyi", "Kyivskyi", "Khadzhybeiskyi", "Peresypskyi", "Malynovskyi", "Suvorovskyi")
_districts("Zaporizhzhia", "Oleksandrivskyi", "Voznesenivskyi", "Khortytskyi", "Komunarskyi", "Shevchenkivskyi",
           "Dniprovskyi", "Zavodskyi")
_districts("Lviv", "Frankivskyi", "Halytskyi", "Lychakivskyi", "Sykhivskyi", "Zaliznychnyi", "Shevchenkivskyi")
_districts("Dnipro", "Amur-Nyzhnodniprovskyi", "Samarskyi", "Sobornyi", "Chechelivskyi", "Tsentralnyi",
           "Novokodatskyi", "Shevchenkivskyi")

_REGION_WORDS = r"(?:region|oblast|province|krai|republic)"
_REGION_RE = re.compile(r"^(?P<name>.+?)\s+" + _REGION_WORDS + r"$", re.I)
_ADJ_REGION = {"kyivska": "Kyiv", "kharkivska": "Kharkiv", "odeska": "Odesa", "lvivska": "Lviv",
               "dnipropetrovska": "Dnipropetrovsk", "zaporizka": "Zaporizhzhia", "sumska": "Sumy",
               "poltavska": "Poltava", "chernihivska": "Chernihiv", "mykolaivska": "Mykolaiv",
               "khersonska": "Kherson", "donetska": "Donetsk"}
_WHOLE_REGIONS = {"crimea": "Crimea", "donbas": "Donbas", "donbass": "Donbas"}
_DISTRICT_RE = re.compile(r"^(?P<name>.+?)\s+(?:district|raion|neighbourhood|neighborhood|area)$", re.I)


@dataclass(frozen=True)
class Place:
    name: str  # "Kyiv", "Kharkiv region", "Ukraine"
    level: str = CITY  # city | region | country

    @property
    def slug(self) -> str:
        return slug(self.name)


def slug(text: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    if not out:  # a name in another script: keep its letters
        out = re.sub(r"[\W_]+", "-", text.lower()).strip("-")
    return out or "unknown"


def _clean(location: str) -> str:
    s = " ".join(location.replace("’", "'").split()).strip(" ,.;:")
    s = re.sub(r"^(?:the\s+)?(?:city|town|village|region|district)\s+of\s+", "", s, flags=re.I)
    s = re.sub(r"^the\s+", "", s, flags=re.I)
    s = re.sub(r"\s+city$", "", s, flags=re.I)
    return s


@lru_cache(maxsize=1)
def _gazetteer() -> dict[str, str]:
    from crawler.places import gazetteer

    return gazetteer()


@lru_cache(maxsize=1)
def _region_names() -> dict[str, str]:
    from crawler.places import REGION_ALIASES, REGIONS

    table = {r.lower(): r for r in REGIONS} | {a.lower(): r for a, r in REGION_ALIASES.items()}
    return table | {k: v for k, v in _ADJ_REGION.items()}


def _pick_city(cities: tuple[str, ...], context: str) -> str | None:
    if len(cities) == 1:
        return cities[0]
    low = context.lower()
    named = [c for c in cities if c.lower() in low]
    return named[0] if len(named) == 1 else None


@lru_cache(maxsize=4096)
def _normalize(location: str, context: str) -> Place:
    s = _clean(location)
    low = s.lower()
    if not low:
        return Place(DEFAULT_PLACE, COUNTRY)
    if low in COUNTRIES:
        return Place(COUNTRIES[low], COUNTRY)
    if low in CAPITAL_ALIASES or ("the " + low) in CAPITAL_ALIASES:
        return Place(CAPITAL_ALIASES.get(low) or CAPITAL_ALIASES["the " + low], CITY)
    if low in _OTHER_SCRIPTS:
        return Place(_OTHER_SCRIPTS[low], CITY)
    if low in _WHOLE_REGIONS:
        return Place(_WHOLE_REGIONS[low], REGION)
    m = _REGION_RE.match(s)
    if m:
        name = m.group("name").strip()
        key = name.lower()
        canon = _region_names().get(key)
        if canon is None and key.endswith(("'s'ka", "s'ka", "ska")):
            canon = _region_names().get(key.replace("'", ""))
        return Place(f"{canon or name.title()} region", REGION)
    m = _DISTRICT_RE.match(s)
    district = (m.group("name") if m else s).lower()
    if district in _DISTRICTS:
        city = _pick_city(_DISTRICTS[district], context)
        if city:
            return Place(city, CITY)
    if m and district not in _DISTRICTS:  # "Sergiyev Posad district": the town it is named after
        s, low = m.group("name"), m.group("name").lower()
    table = _gazetteer()
    if low in table:
        return Place(table[low], CITY)
    return Place(s if not s.islower() else s.title(), CITY)


def normalize_place(location: str | None, context: str = "") -> Place:
    """One name per target: spellings ("Kiev"), descriptions ("the Ukrainian capital"), city districts
    ("Holosiivskyi district" -> Kyiv; a district name several cities have is settled by ``context``,
    the article text) and oblasts ("Kharkiv oblast" -> "Kharkiv region"). No location: the country."""
    loc = " ".join((location or "").split())
    if not _ambiguous(loc):
        return _normalize(loc, "")
    return _normalize(loc, context[:5000])


@lru_cache(maxsize=4096)
def _ambiguous(loc: str) -> bool:
    """A district name several cities have ("Shevchenkivskyi")."""
    m = _DISTRICT_RE.match(_clean(loc)) if loc else None
    bare = (m.group("name") if m else _clean(loc)).lower()
    return len(_DISTRICTS.get(bare, ())) > 1


# Local cues in a sentence: a capital described, or a city district named.
_CUE_RE = re.compile(
    r"\b(?:" + "|".join(re.escape(k) for k in sorted(CAPITAL_ALIASES, key=len, reverse=True)) + r")\b"
    r"|\b(?P<district>" + "|".join(re.escape(k) for k in sorted(_DISTRICTS, key=len, reverse=True))
    + r")(?:\s+(?:district|raion))?\b",
    re.I,
)


def local_cue(sentence: str, context: str = "") -> Place | None:
    """The city a sentence points to without naming it ("in the Ukrainian capital", "in the Obolon
    district"), or None."""
    found = _local_cue(sentence, context)
    return found[0] if found else None


def _local_cue(sentence: str, context: str = "") -> tuple[Place, str] | None:
    for m in _CUE_RE.finditer(sentence or ""):
        if m.group("district"):
            city = _pick_city(_DISTRICTS[m.group("district").lower()], context or sentence)
            if city:
                return Place(city, CITY), m.group(0)
        else:
            return Place(CAPITAL_ALIASES[m.group(0).lower()], CITY), m.group(0)
    return None


# --- event ids ---------------------------------------------------------------------------------------


def event_id(night: date, place: Place | str) -> str:
    """``2025-07-04-kyiv``: the night (date of the morning it ended) and the place's slug."""
    if not isinstance(place, Place):
        place = normalize_place(place)
    return f"{night.isoformat()}-{place.slug}"


def parse_event_id(eid: str) -> tuple[date, str] | None:
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})-([\w-]+)", eid or "")
    if not m:
        return None
    try:
        return date.fromisoformat(m.group(1)), m.group(2)
    except ValueError:
        return None


def event_url(public_url: str, night: date, place: str | Place) -> str:
    """The web page of the event an alert is about: ``<public_url>/events/2025-07-04-kyiv``."""
    return f"{(public_url or '').rstrip('/')}/events/{event_id(night, place)}"


def night_title(night: date) -> str:
    from alerts.models import night_label

    return f"{night_label(night)} {night.year}"


# --- nights ------------------------------------------------------------------------------------------

EVENING_FROM = 18  # an article first published from 18:00 Kyiv time may be about the coming night
_TONIGHT_RE = re.compile(r"\b(?:tonight|this evening|(?:is|are) (?:now |currently )?under (?:a )?(?:massive )?"
                         r"attack|ongoing (?:attack|strikes?)|air[- ]raid alert (?:is|was) (?:in effect|declared)"
                         r"|at this hour|right now)\b", re.I)
_MORNING_RE = re.compile(r"\b(?:overnight|last night|this morning|early hours|early on|at dawn|in the morning"
                         r"|during the night)\b", re.I)


def to_local(when: datetime) -> datetime:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(NIGHT_TZ)


def publication_night(when: datetime | None) -> date:
    """The date of publication in Kyiv time: a report published the morning of 4 July is about the
    night of 3-4 July."""
    return to_local(when or datetime.now(UTC)).date()


def is_evening(when: datetime | None) -> bool:
    return when is not None and to_local(when).hour >= EVENING_FROM


def evening_cue(text: str) -> int:
    """+1 when the text speaks of an attack happening now/tonight, 0 when of the past night, else None."""
    tonight = _TONIGHT_RE.search(text or "")
    morning = _MORNING_RE.search(text or "")
    if tonight and not morning:
        return 1
    if morning and not tonight:
        return 0
    return -1


def first_published(versions: list[Article]) -> datetime | None:
    for a in versions:
        if a.published or a.fetched_at:
            return a.published or a.fetched_at
    return None


# --- text similarity ---------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"[^\W\d_]{3,}", re.U)
_STOP = frozenset("""the and for that with was were are has have had this from said says into over after
about their they which while also been but not its his her who will would could than then there when where what
more most some such other into out our your all any can one two per cent according""".split())
MAX_TERMS = 300


def terms(text: str) -> Counter:
    counts = Counter(_TOKEN_RE.findall((text or "").lower()))
    for w in _STOP.intersection(counts):
        del counts[w]
    return counts


class Tfidf:
    """Incremental document frequencies and cosine similarity of sparse term-count vectors."""

    def __init__(self) -> None:
        self.df: Counter = Counter()
        self.docs = 0

    def add(self, counts: Counter) -> None:
        self.docs += 1
        self.df.update(counts.keys())

    def vector(self, counts: Counter) -> dict[str, float]:
        n = self.docs + 1
        vec = {t: (1 + math.log(c)) * (math.log(n / (1 + self.df.get(t, 0))) + 1) for t, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items()}

    def cosine(self, a: Counter, b: Counter) -> float:
        va, vb = self.vector(a), self.vector(b)
        if len(va) > len(vb):
            va, vb = vb, va
        return sum(w * vb.get(t, 0.0) for t, w in va.items())


# --- assignment --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placed:
    """One event-scope figure of one article version, placed in an event."""

    event_id: str
    night: date
    place: Place
    figure: Figure
    article_id: str
    version: int
    reason: str  # how the night was decided: stated | same paragraph | published | evening: ...
    named: str = ""  # the place as the text named it ("Holosiivskyi district", "the Ukrainian capital")


@dataclass
class Event:
    id: str
    night: date
    place: Place
    names: set[str] = field(default_factory=set)  # the place as reported ("Ukrainian capital", "Kyiv")
    article_ids: list[str] = field(default_factory=list)  # in the order they joined
    figure_count: int = 0
    text: Counter = field(default_factory=Counter)  # summed term counts of the member articles

    @property
    def title(self) -> str:
        return f"{self.place.name}, {night_title(self.night)}"

    def join(self, article_id: str, counts: Counter | None) -> None:
        if article_id in self.article_ids:
            return
        self.article_ids.append(article_id)
        if counts:
            self.text.update(counts)
            if len(self.text) > MAX_TERMS * 2:
                self.text = Counter(dict(self.text.most_common(MAX_TERMS)))


def _paragraph_of(body: str, sentence: str) -> int | None:
    """The index of the body paragraph holding ``sentence``; None when it is not found there."""
    pos = body.find(sentence[:80]) if sentence else -1
    return body.count("\n", 0, pos) if pos >= 0 else None


def _figure_place(fig: Figure, context: str) -> tuple[Place, str]:
    """(the place, the place as the text named it)."""
    place = normalize_place(fig.location, context)
    if place.level == COUNTRY and fig.metric in CASUALTY_METRICS:
        cue = _local_cue(fig.sentence, context)
        if cue is not None:
            return cue
    return place, " ".join((fig.location or place.name).split())


def place_figures(article: Article, first: datetime | None = None, night_of=None) -> list[Placed]:
    """Event-scope figures of one article version with their (night, place). ``first`` is the
    article's first publication time (default: this version's); ``night_of(base, places, text)``
    settles an evening publication with no wording cue (the Grouper passes its similarity test)."""
    first = first or article.published or article.fetched_at
    context = f"{article.title}\n{article.body}"
    base = publication_night(first)
    figs = [f for f in article.figures if f.scope == "event"]
    named = [_figure_place(f, context) for f in figs]
    placed_at = [p for p, _ in named]
    night, reason = base, "published"
    if is_evening(first):
        cue = evening_cue(context)
        if cue >= 0:
            night, reason = base + timedelta(days=cue), "evening: " + ("tonight" if cue else "past night")
        elif night_of is not None:
            night, reason = night_of(base, {p for p, f in zip(placed_at, figs, strict=True) if f.night is None},
                                     context)
    # explicit nights per (place, paragraph), for undated figures next to dated ones
    dated: dict[tuple[Place, int], set[date]] = {}
    for fig, place in zip(figs, placed_at, strict=True):
        para = _paragraph_of(article.body, fig.sentence)
        if fig.night is not None and para is not None:
            dated.setdefault((place, para), set()).add(fig.night)
    out: list[Placed] = []
    for fig, place in zip(figs, placed_at, strict=True):
        if fig.night is not None:
            n, why = fig.night, "stated"
        else:
            near = dated.get((place, _paragraph_of(article.body, fig.sentence)), set())
            n, why = (next(iter(near)), "same paragraph") if len(near) == 1 else (night, reason)
        out.append(Placed(event_id(n, place), n, place, fig, article.id, article.version, why,
                          named[len(out)][1]))
    return out


class Grouper:
    """Events built up one article at a time. ``add`` takes the versions of one article (oldest first)
    and places every version's event figures; ``attach`` adds an article without figures to the most
    similar event of its night it names. ``group`` does both for a whole collection."""

    ATTACH_MIN = 0.12  # cosine needed for a figureless article to join an event
    EVENING_MIN = 0.15  # cosine needed to move an evening article to the coming night

    def __init__(self) -> None:
        self.events: dict[str, Event] = {}
        self.placed: list[Placed] = []
        self.tfidf = Tfidf()
        self.by_night: dict[date, list[str]] = {}

    def _event(self, p: Placed) -> Event:
        ev = self.events.get(p.event_id)
        if ev is None:
            ev = self.events[p.event_id] = Event(p.event_id, p.night, p.place)
            self.by_night.setdefault(p.night, []).append(p.event_id)
        return ev

    def _evening(self, counts: Counter):
        def night_of(base: date, places: set[Place], _context: str) -> tuple[date, str]:
            best, best_night = 0.0, base
            for cand in (base, base + timedelta(days=1)):
                for place in places:
                    ev = self.events.get(event_id(cand, place))
                    if ev is not None:
                        sim = self.tfidf.cosine(counts, ev.text)
                        if sim > best:
                            best, best_night = sim, cand
            if best_night != base and best >= self.EVENING_MIN:
                return best_night, f"evening: like the coming night's reports ({best:.2f})"
            return base, "published"

        return night_of

    def add(self, versions: list[Article]) -> list[Placed]:
        if not versions:
            return []
        latest = versions[-1]
        counts = terms(f"{latest.title}\n{latest.body}")
        first = first_published(versions)
        placed: list[Placed] = []
        for art in versions:
            placed.extend(place_figures(art, first, self._evening(counts)))
        for p in placed:
            ev = self._event(p)
            ev.join(p.article_id, counts)
            ev.names.add(p.named or p.place.name)
            ev.figure_count += 1
        self.tfidf.add(counts)
        self.placed.extend(placed)
        return placed

    def attach(self, versions: list[Article]) -> str | None:
        """Join a figureless article to the event of its night that it names and resembles most."""
        if not versions:
            return None
        latest = versions[-1]
        text = f"{latest.title}\n{latest.body}"
        low = text.lower()
        counts = terms(text)
        night = publication_night(first_published(versions))
        best, best_id = 0.0, None
        for eid in self.by_night.get(night, []):
            ev = self.events[eid]
            names = {ev.place.name.lower(), *(n.lower() for n in ev.names)}
            if not any(n in low for n in names):
                continue
            sim = self.tfidf.cosine(counts, ev.text)
            # a local event named in the text beats the country it is in
            sim += 0.05 if ev.place.level != COUNTRY else 0.0
            if sim > best:
                best, best_id = sim, eid
        self.tfidf.add(counts)
        if best_id is None or best < self.ATTACH_MIN:
            return None
        self.events[best_id].join(latest.id, None)
        return best_id

    @classmethod
    def group(cls, histories: Iterable[list[Article]]) -> Grouper:
        g = cls()
        figureless = []
        for versions in histories:
            if any(f.scope == "event" for a in versions for f in a.figures):
                g.add(versions)
            else:
                figureless.append(versions)
        for versions in figureless:
            g.attach(versions)
        return g


def date_only_published(day: date) -> datetime:
    """A corpus file gives a date without a time: read it as that morning in Kyiv (unambiguous)."""
    return datetime.combine(day, time(9, 0), tzinfo=NIGHT_TZ)
