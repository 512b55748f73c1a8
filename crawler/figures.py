"""Figure extraction: the numbers an outlet reports about an air attack.

    extract_figures(title, body, published=None) -> list[Figure]

How it works (see docs/extraction.md): the text is split into paragraphs and sentences; every number
token (digits, number words, ranges) is read together with the words right after it (the noun phrase:
"539 Russian drones", "23 people") and the nearest action word (before it: "Russia launched 539
drones", after it: "23 people were wounded"). Noun kind + action give the metric; the words just before
the number give the qualifier; period phrases in the sentence the scope; record cues, relative dates
("five days ago") and places (gazetteer) complete the figure. Numbers with no metric are dropped, so
ages, dates, times, money, "six of Kyiv's 10 districts" and vague amounts produce nothing."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, replace

from crawler import vocabulary as V
from crawler.numbers import NumberToken, find_numbers, has_number
from crawler.places import REGIONS, PlaceMention, find_places, region_of
from tallywatch.models import Figure

__all__ = ["extract_figures"]

_I = re.IGNORECASE


class _LowRx:
    """A case-insensitive pattern also compiled case-sensitively, to run on lower-cased text: Python's regex
    engine scans a big case-insensitive alternation two to three times slower. The pattern source must not
    need an upper-case letter (checked here); text whose lower-casing changes its length falls back."""

    __slots__ = ("rx", "low")

    def __init__(self, pattern: str):
        bare = re.sub(r"\\.|\(\?P<\w+>", "", pattern)
        if re.search(r"[A-Z]", bare):
            raise ValueError(f"upper-case letter in a pattern run on lower-cased text: {pattern[:60]}")
        self.rx = re.compile(pattern, _I)
        self.low = re.compile(pattern)

    def finditer(self, text: str, low: str):
        return self.low.finditer(low) if len(low) == len(text) else self.rx.finditer(text)

    def search(self, text: str, low: str):
        return self.low.search(low) if len(low) == len(text) else self.rx.search(text)

# ---------------------------------------------------------------- compiled patterns
_HEAD_RES: list[tuple[str, re.Pattern]] = [
    ("aerial", re.compile(r"(?:" + V.AERIAL_HEADS + r")(?![\w-])", _I)),
    ("missile_kind", re.compile(r"(?:" + V.MISSILE_KIND_HEADS + r")(?![\w-])", _I)),
    ("glide", re.compile(r"(?:" + V.GLIDE_HEADS + r")(?![\w-])", _I)),
    ("missiles", re.compile(r"(?:" + V.MISSILE_HEADS + r")(?![\w-])", _I)),
    ("drones", re.compile(r"(?:" + V.DRONE_HEADS + r")(?![\w-])", _I)),
    ("deaths", re.compile(r"(?:" + V.DEATH_HEADS + r")(?![\w-])", _I)),
    ("injuries", re.compile(r"(?:" + V.INJURY_HEADS + r")(?![\w-])", _I)),
    ("people", re.compile(r"(?:" + V.PEOPLE_HEADS + r")(?![\w-])", _I)),
]
_HEAD_KINDS = [k for k, _ in _HEAD_RES]
_HEAD_ALL_RE = re.compile("|".join(f"(?P<{k}>{rx.pattern})" for k, rx in _HEAD_RES), _I)
_HEAD_ALL_LOW = _LowRx(_HEAD_ALL_RE.pattern).low  # on lower-cased text
_SINGULAR_OK = re.compile(r"(?:people|children|men|women|others|victims|employees|workers|officers|"
                          r"kids|babies|dead|wounded|injured|deaths|fatalities|injuries|air\s+targets|"
                          r"projectiles|aerial\s+weapons|air\s+weapons|attack)$|s$", _I)
_WORD_RE = re.compile(r"\s*([^\s,;:.()\"“”]+)")
_CRUISE_RE = re.compile(r"(?:" + V.CRUISE_MODELS + r")", _I)
_BALLISTIC_RE = re.compile(r"(?:" + V.BALLISTIC_MODELS + r")", _I)

_VERB_RE = re.compile(
    r"\b(?:(?P<launch>" + V.LAUNCH_VERBS + r")|(?P<intercept>" + V.INTERCEPT_VERBS + r")"
    r"|(?P<kill>" + V.KILL_VERBS + r")|(?P<injure>" + V.INJURE_VERBS + r")|(?P<stop>" + V.STOP_VERBS + r"))\b",
    _I,
)
_ANY_ACTION = (V.INTERCEPT_VERBS + "|" + V.KILL_VERBS + "|" + V.INJURE_VERBS + "|" + V.LAUNCH_VERBS)
# after the noun only real verbs count ("were launched"), not the prepositions of LAUNCH_VERBS ("by", "with")
_RIGHT_ACTION = (V.INTERCEPT_VERBS + "|" + V.KILL_VERBS + "|" + V.INJURE_VERBS
                 + r"|launched|fired|sent|used|dropped|deployed|unleashed")
_AUX = (r"(?:were|was|have\s+been|has\s+been|had\s+been|had|have|has|are|is|been|got|being|reportedly|also|later|all"
        r"|\w+ly"
        r"|subsequently|seriously|critically|severely|lightly|slightly|fatally|mortally|allegedly"
        r"|successfully|then|in\s+total|in\s+all|overall|said\s+to\s+have\s+been|confirmed|now)")
_RIGHT_VERB_RE = re.compile(
    r"^\s*(?:,\s*(?:including|among\s+them)\b[^,]{0,60},"
    r"|,[^,;.]{1,60},(?=\s*(?:were|was|have\s+been|has\s+been|had\s+been|are)\b))?"  # "two people, a mother and
    r"\s*(?P<which>,?\s*of\s+(?:which|whom|them|those|these)\s+)?(?:(?:more|others?|additional|further)\s+)?"
    r"(?:(?:in|on|at|near|across)\s+(?:the\s+)?[A-Z][\w'’-]*(?:\s+(?:region|oblast|city|district))?\s+)?"
    r"(?P<aux>(?:" + _AUX + r")\s+)*(?P<verb>" + _RIGHT_ACTION + r")\b",
    _I,
)
_QUAL_RES = [(q, re.compile(r"\b(?:" + pat + r")\s+(?:(?:a|the)\s+)?(?:(?:new\s+|previous\s+)?record(?:-\w+)?\s+"
                            r"(?:of\s+)?|total\s+of\s+|further\s+|another\s+)?$", _I))
             for q, pat in V.QUALIFIERS]
# any of _QUAL_RES, case-sensitive on lower-cased text: one scan settles the usual "no qualifier"
_QUAL_ANY_RE = _LowRx("|".join(f"(?:{rx.pattern})" for _, rx in _QUAL_RES)).low
_QUAL_AFTER_RE = re.compile(r"^(?:\s+or\s+so|-odd|\s+or\s+more\b|\+)", _I)
_ADJACENT_LEFT_RE = re.compile(
    r"\b(?P<verb>" + _RIGHT_ACTION + r"|launching|firing|sending|using|dropping|attacked\s+with)\s+"
    r"(?:(?:" + "|".join(p for _, p in V.QUALIFIERS) + r")\s+)?"
    r"(?:(?:a|the)\s+)?(?:(?:further|another|total\s+of|record|more|additional|other)\s+)?$",
    _I,
)
_TOLL_RE = re.compile(
    r"\b(?:(?P<kill>death\s+toll|number\s+of\s+(?:the\s+)?(?:dead|deaths|fatalities|people\s+killed|those\s+killed"
    r"|victims\s+killed)|toll|fatalities)|(?P<injure>number\s+of\s+(?:the\s+)?(?:injured|wounded|injuries"
    r"|people\s+(?:injured|wounded|hurt))|injury\s+toll))\b[^.;]{0,70}?\b(?:to|at|of|reached|hit|is|was|now|"
    r"stands\s+at|stood\s+at)\s+(?:(?:" + "|".join(p for _, p in V.QUALIFIERS) + r")\s+)?$",
    _I,
)
_UNIT_AFTER_RE = re.compile(
    r"^\s*(?:%|per\s?cent|percent|million|billion|bn\b|m\b|years?\b|year-old|months?\b|days?\b|hours?\b|"
    r"minutes?\b|seconds?\b|weeks?\b|km\b|kilomet|miles?\b|metres?\b|meters?\b|times\b|a\.m|p\.m|am\b|pm\b|"
    r"gmt\b|utc\b|kg\b|tonnes?\b|tons?\b|hryvnias?\b|dollars?\b|euros?\b|rubles?\b|roubles?\b|nights?\b)",
    _I,
)
# words _CURRENCY_BEFORE_RE can end with (a cheap test before the pattern)
_CURRENCY_WORDS = ("usd", "eur", "uah", "no.", "number", "age", "aged", "of", "page", "article", "resolution",
                   "flight", "route", "building", "house", "street", "apartment", "floor")
_RATE_KEYS = ("night", "day", "week", "month", "year", "daily")
_CURRENCY_BEFORE_RE = re.compile(r"(?:[$€£]|\b(?:usd|eur|uah|no\.|number|aged?|ages\s+of|page|article|"
                                 r"resolution|flight|route|building|house|street|apartment|floor)\s*)$", _I)
_SUBSET_RE = re.compile(r"\b(?:including|among\s+them|among\s+whom|among\s+those|of\s+whom|of\s+them"
                        r"|among\s+the\s+(?:dead|injured|wounded|victims|killed)\s+(?:were|was|are))\s+"
                        r"(?:(?:" + "|".join(p for _, p in V.QUALIFIERS) + r")\s+)?$", _I)
_ATTACK_CONTEXT_RE = re.compile(r"\b(?:attack\w*|barrage|strikes?|struck|assault|bombard\w*|salvo|wave|raids?|"
                                r"targeted|hit|launch\w*|fired|overnight|slamm\w*|smash\w*|crash\w*|plough\w*|"
                                r"plow\w*|pound\w*|hammer\w*|rain\w*|tore\s+into|exploded|killing|wounding|"
                                r"injuring)\b", _I)
_RATE_RE = re.compile(V.RATE_AFTER, _I)
_AVERAGE_RE = re.compile(V.AVERAGE_BEFORE, _I)
_MODAL_RE = re.compile(r"\b" + V.MODALS + r"\s+(?:\w+\s+)?$", _I)
_NEGATED_RE = re.compile(r"\b(?:not|never|no|failed\s+to|fail\s+to|unable\s+to)\s+(?:\w+\s+)?$", _I)
_AGG_RE = re.compile(V.AGGREGATE_CUES, _I)
_AGG_GROUPS = [(keys, _LowRx(pat)) for keys, pat in V.AGGREGATE_CUE_GROUPS]
_EVENT_RE = _LowRx(V.EVENT_OVERRIDE)
_RECORD_RE = _LowRx(V.RECORD_CUES)
_RECORD_WORD_RE = _LowRx(r"\b" + V.RECORD_ADJ + r"\b")


def _record_cues(sent: str, low: str) -> list[re.Match]:
    """Record cues in a sentence; the cheap "record" pattern alone unless a superlative word is present."""
    if not _has_any(low, _RECORD_KEYS):
        return []
    if _has_any(low, _SUPERLATIVE_KEYS):
        return list(_RECORD_RE.finditer(sent, low))
    return list(_RECORD_WORD_RE.finditer(sent, low))


_SUPERLATIVE_KEYS = ("largest", "biggest", "heaviest", "most", "deadliest", "highest", "greatest", "worst",
                     "unprecedented", " high")
_HEDGE_RE = re.compile(V.HEDGES + r"|\btrack\s+record\b|\bon\s+the\s+record\b|\bfor\s+the\s+record\b", _I)
_HEDGE_LRX = _LowRx(_HEDGE_RE.pattern)
_RECORD_ADJ_BEFORE_RE = re.compile(r"\b" + V.RECORD_ADJ + r"\s+(?:of\s+|number\s+of\s+)?(?:(?:" +
                                   "|".join(p for _, p in V.QUALIFIERS) + r")\s+)?(?:some\s+)?$", _I)
_SEGMENT_RE = _LowRx(
    r"\b(?:surpass\w*|exceed\w*|topping|topped|break\w*|beat\w*|eclips\w*|compared\s+(?:with|to)|up\s+from|"
    r"down\s+from|than|previous|last\s+record|prior|earlier\s+record|the\s+record\s+(?:of|set)|after|"
    r"follow(?:ed|ing|s)|preceded|while|whereas)\b"
    r"|\s[–—-]\s|;",
)
_PAIR_GAP_RE = re.compile(r"^\s+(?:out\s+of|of)\s+(?:(?:a|the|an)\s+)?(?:(?:record|total\s+of|reported|"
                          r"estimated|incoming|launched)\s+)?$", _I)
_BOILERPLATE_RE = re.compile(r"\b(?:sign\s+up|newsletter|subscribe|privacy\s+(?:notice|policy)|cookie|"
                             r"click\s+here|read\s+more|follow\s+us|all\s+rights\s+reserved|terms\s+of\s+use)\b",
                             _I)

_BOILERPLATE_KEYS = ("sign", "newsletter", "subscri", "privacy", "cookie", "click", "read more", "follow us",
                    "rights reserved", "terms of")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WD = "|".join(_WEEKDAYS)
_MONTH_NAMES = V.MONTHS.split("|")
_NUMWORD = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a|a\s+couple\s+of)"
_NIGHT_RE = _LowRx(
    r"\b(?P<n>" + _NUMWORD + r")\s+(?P<unit>days?|weeks?|nights?)\s+(?:ago|earlier|before)\b"
    r"|\b(?P<yest>yesterday|the\s+previous\s+night|the\s+night\s+before|a\s+day\s+earlier)\b"
    r"|\b(?P<lastweek>last\s+week['’]s|a\s+week\s+ago)"
    r"|\b(?:(?:on|last|early\s+on|late\s+on|earlier\s+on|overnight\s+(?:into|to)|(?:the\s+)?night\s+(?:into|to))\s+)"
    r"(?P<wd>" + _WD + r")(?P<wdnight>\s+night)?\b"
    r"|\b(?P<wd2>" + _WD + r")(?:['’]s\s+(?:attack|strike|barrage|assault|record|bombardment|raid)"
    r"|(?P<wdnight2>\s+night))"
    r"|\b(?:on\s+)?(?:the\s+night\s+of\s+)?(?P<month>" + V.MONTHS + r")\s+"
    r"(?:\d{1,2}\s*[-–]\s*|\d{1,2}\s+(?:to|into)\s+)?"
    r"(?P<day>\d{1,2})\b(?!,?\s*\d{3})"
    r"|\b(?:on\s+)?(?:the\s+night\s+of\s+)?(?:\d{1,2}\s*[-–]\s*|\d{1,2}\s+(?:to|into)\s+)?(?P<day2>\d{1,2})\s+"
    r"(?P<month2>" + V.MONTHS + r")\b",
)
_WORD_NUM = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
             "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_ABBREV = {"mr", "mrs", "ms", "dr", "st", "gen", "lt", "col", "maj", "sgt", "capt", "cpt", "no", "vs", "jr", "sr",
           "u.s", "u.k", "u.n", "a.m", "p.m", "approx", "est", "inc", "co", "corp", "govt", "adm", "rep", "sen",
           "gov", "pres", "prof", "e.g", "i.e", "etc", "fig", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
           "sep", "sept", "oct", "nov", "dec"}
_SENT_END_RE = re.compile(r"[.!?]+[\"”’)]*\s+(?=[\"“‘(]?[A-Z0-9])")

_LAUNCH_METRIC = {"drones": "drones_launched", "missiles": "missiles_launched",
                  "cruise": "cruise_missiles_launched", "ballistic": "ballistic_missiles_launched",
                  "glide": "glide_bombs_launched", "aerial": "aerial_weapons_launched"}
_INTERCEPT_METRIC = {"drones": "drones_intercepted", "missiles": "missiles_intercepted",
                     "cruise": "missiles_intercepted", "ballistic": "missiles_intercepted"}
_WEAPON_KINDS = set(_LAUNCH_METRIC)
_LAUNCH_WORDS = re.compile(r"^(?:" + V.LAUNCH_VERBS + r")$", _I)


# ---------------------------------------------------------------- sentences
_MAX_SENTENCE = 600


_LAST_WORD_RE = re.compile(r"([A-Za-z.]+)\.?$")


def split_sentences(paragraph: str) -> list[tuple[int, str]]:
    """(offset, sentence) pairs; abbreviations ("Mr.", "U.S.") and decimals do not end a sentence. A run-on
    "sentence" longer than 600 characters (page junk, unpunctuated feeds) is cut at a ";", "," or space,
    so the work per figure stays bounded."""
    out: list[tuple[int, str]] = []
    start = 0
    for m in _SENT_END_RE.finditer(paragraph):
        before = paragraph[max(start, m.start() - 40) : m.start() + 1]
        last = _LAST_WORD_RE.search(before.rstrip(".!?\"”’)").split(" ")[-1] + ".")
        word = (last.group(1) if last else "").lower().rstrip(".")
        if paragraph[m.start()] == "." and (word in _ABBREV or (len(word) == 1 and word.isalpha())):
            continue
        out.extend(_cut(start, paragraph[start : m.end()]))
        start = m.end()
    if paragraph[start:].strip():
        out.extend(_cut(start, paragraph[start:]))
    return out


def _cut(offset: int, sent: str) -> list[tuple[int, str]]:
    out = []
    while len(sent) > _MAX_SENTENCE:
        window = sent[:_MAX_SENTENCE]
        cut = max(window.rfind("; "), window.rfind(", "))
        if cut < _MAX_SENTENCE // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = _MAX_SENTENCE
        piece = sent[: cut + 1]
        if piece.strip():
            out.append((offset, piece.strip()))
        offset += cut + 1
        sent = sent[cut + 1 :]
    if sent.strip():
        out.append((offset, sent.strip()))
    return out


# ---------------------------------------------------------------- number analysis
@dataclass
class _Noun:
    kind: str  # drones, missiles, cruise, ballistic, glide, aerial, people, deaths, injuries
    end: int  # offset in the right context where the noun phrase ends
    modifiers: tuple[str, ...] = ()


def _noun_phrase(right: str, value: int, low: str | None = None) -> _Noun | None:
    """The noun phrase after a number; ``low`` is ``right`` lower-cased, if the caller has it."""
    pos = 0
    mods: list[str] = []
    head_rx, head_text = (_HEAD_ALL_LOW, low) if low is not None and len(low) == len(right) else (_HEAD_ALL_RE, right)
    for _ in range(6):
        p = pos + (len(right) - pos - len(right[pos:].lstrip()))
        m = head_rx.match(head_text, p)
        # a singular noun is a modifier ("6 Kinzhal missiles"); "5 drone attacks" then ends at "attacks"
        if m and (value == 1 or m.group(0)[-1:] in "sS" or _SINGULAR_OK.search(m.group(0))):
            kind = m.lastgroup  # the outermost group that matched: the kind
            head = m.group(0)
            nxt = _WORD_RE.match(right, m.end())
            if kind not in ("people", "deaths", "injuries") and nxt and nxt.group(1).lower() in V.NOT_WEAPON_AFTER:
                return None
            if kind == "missile_kind":
                kind = "cruise" if m.group("cruise") else "ballistic" if m.group("ballistic") else "missiles"
            if kind == "missiles":
                joined = " ".join(mods + [head])
                if _CRUISE_RE.search(joined):
                    kind = "cruise"
                elif _BALLISTIC_RE.search(joined):
                    kind = "ballistic"
            return _Noun(kind, m.end(), tuple(mods))
        w = _WORD_RE.match(right, pos)
        if not w:
            return None
        tok = w.group(1)
        low = tok.lower()
        if (low.isalpha() and low not in _NOT_NOUN_MODIFIERS and not low.endswith(("ed", "ing", "ly"))
                and w.end() < len(right) and right[w.end()] == " "):
            # a plain noun before a people noun is a modifier: "2 port employees", "3 emergency workers"
            nh = head_rx.match(head_text, w.end() + 1)
            if nh and nh.lastgroup == "people" and nh.group(0)[-1:] in "sSn" and (value == 1 or nh.group(0) != "man"):
                mods.append(tok)
                pos = w.end()
                continue
        if (low in V.MODIFIERS or (tok[:1].isupper() and low not in ("and", "or")) or any(c.isdigit() for c in tok)
                or ("-" in tok and not low.endswith("-year-old")) or "/" in tok):
            if w.end() < len(right) and right[w.end()] in ",;:.()":
                return None
            mods.append(tok)
            pos = w.end()
            continue
        return None
    return None


_NOT_NOUN_MODIFIERS = frozenset(
    "and or of the a an were was are is be been had have has more other others for to in on at by with from as than "
    "that these those their its his her our your some all both each per over under after before since into onto about "
    "who which what when where while but nor not no also only just them they we us you it he she him whom whose "
    "there here".split())


def _leading_literals(alternation: str) -> list[str]:
    """The literal letters each top-level alternative starts with ("launch(?:ed)?|fir(?:ed)" -> launch, fir)."""
    parts, depth, cur = [], 0, ""
    for ch in alternation:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "|" and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    out = []
    for part in parts:
        m = re.match(r"[a-z]+", part.strip().lower())
        out.append(m.group(0)[:3] if m else "")
    return out


_VERB_PREFIXES: dict[str, tuple[str, ...]] = {}
for _pre in _leading_literals(V.LAUNCH_VERBS + "|" + V.INTERCEPT_VERBS + "|" + V.KILL_VERBS + "|"
                              + V.INJURE_VERBS + "|" + V.STOP_VERBS):
    if not _pre:
        raise ValueError("every verb alternative must start with a literal (see vocabulary.py)")
    _VERB_PREFIXES[_pre[:1]] = tuple(sorted(set(_VERB_PREFIXES.get(_pre[:1], ()) + (_pre,))))
_WORD_TOKEN_RE = re.compile(r"[A-Za-z]+")


def _verb_matches(text: str, start: int = 0) -> list[re.Match]:
    """_VERB_RE matches, tried only at words whose first letters can start a verb (much faster than a scan)."""
    out: list[re.Match] = []
    pos = start
    for w in _WORD_TOKEN_RE.finditer(text, start):
        if w.start() < pos:
            continue
        low = w.group(0).lower()
        prefs = _VERB_PREFIXES.get(low[:1])
        if not prefs or not low.startswith(prefs):
            continue
        if w.start() > 0 and text[w.start() - 1].isalnum():
            continue
        m = _VERB_RE.match(text, w.start())
        if m:
            out.append(m)
            pos = m.end()
    return out


_VERB_LRX = _LowRx(_VERB_RE.pattern)
# where a verb can start: the leading letters of every alternative, as one case-sensitive alternation on the
# lower-cased text (the regex engine skips ahead to the letters these start with)
_VERB_START_RE = re.compile("|".join(sorted({p for ps in _VERB_PREFIXES.values() for p in ps}, key=lambda x: -len(x))))
# ... right after a non-word character (a verb starts a word; a leading \W lets the engine skip ahead)
_VERB_AFTER_RE = re.compile(r"\W(?=" + _VERB_START_RE.pattern + ")")


def _verb_matches_low(text: str, low: str, end: int) -> list[re.Match]:
    """_verb_matches(text[:end]) on lower-cased text: the same spans and groups (in lower case)."""
    if len(low) != len(text):
        return _verb_matches(text[:end])
    out: list[re.Match] = []
    pos = 0
    rx = _VERB_LRX.low
    starts = [0] if _VERB_START_RE.match(low, 0, end) else []
    starts += [c.end() for c in _VERB_AFTER_RE.finditer(low, 0, end)]
    for i in starts:
        if i < pos:
            continue
        m = rx.match(low, i, end)
        if m:
            out.append(m)
            pos = m.end()
    return out


def _verb_class(m: re.Match) -> str:
    for g in ("launch", "intercept", "kill", "injure", "stop"):
        if m.group(g):
            return g
    return "stop"


def _classify_word(word: str) -> str:
    m = _VERB_RE.fullmatch(word.strip())
    return _verb_class(m) if m else "stop"


_COMPAT = {"people": ("kill", "injure"), "deaths": ("kill",), "injuries": ("injure",)}


def _compatible(kind: str, verb: str) -> bool:
    if kind in _COMPAT:
        return verb in _COMPAT[kind]
    return verb in ("launch", "intercept")


def _left_verb(left: str, kind: str) -> str | None:
    """The nearest compatible action word before the number; None if there is none, "blocked" if a stop
    verb ("produces"), a modal ("could launch") or a negation comes first."""
    return _left_verb_in(left, 0, len(left), kind, _verb_matches(left, max(0, len(left) - 150)))


def _window_verbs(sent_verbs: list[re.Match], lo: int, hi: int) -> list[re.Match] | None:
    """The verb matches _verb_matches(sent[lo:hi], ...) would find, picked from the sentence's matches; None
    when a sentence match straddles the window's edge (then only a scan of the window itself is exact)."""
    scan = lo + max(0, hi - lo - 150)
    out = []
    for m in sent_verbs:
        a, b = m.start(), m.end()
        if a >= hi:
            break
        if a < scan < b or a < hi < b:
            return None
        if a >= scan and b <= hi:
            out.append(m)
    return out


def _left_verb_in(text: str, lo: int, hi: int, kind: str, matches: list[re.Match]) -> str | None:
    """_left_verb over text[lo:hi], given that window's verb matches (offsets in text)."""
    for k, m in enumerate(reversed(matches)):
        cls = _verb_class(m)
        if cls == "stop":
            return "blocked"
        pre = text[max(lo, m.start() - 40) : m.start()]
        if _MODAL_RE.search(pre) or _NEGATED_RE.search(pre):
            return "blocked"
        if _compatible(kind, cls):
            # "by"/"with" alone are weak: only count them right next to the number phrase
            word = m.group(0).lower()
            if word in ("by", "with") and hi - m.end() > 25:
                continue
            return cls
        if k >= 2:
            return None
    return None


def _metric(kind: str, verb: str | None) -> str | None:
    if kind in ("deaths",):
        return "killed"
    if kind in ("injuries",):
        return "injured"
    if kind == "people":
        return {"kill": "killed", "injure": "injured"}.get(verb or "")
    if verb == "launch":
        return _LAUNCH_METRIC.get(kind)
    if verb == "intercept":
        return _INTERCEPT_METRIC.get(kind)
    return None


def _qualifier(left: str, right: str) -> str:
    tail = left[-40:]
    for q, rx in (_QUAL_RES if _QUAL_ANY_RE.search(tail.lower()) else ()):
        if rx.search(tail):
            if q == "up_to" and _REVISED_UP_TO_RE.search(left[-80:]):
                return "exact"  # "revised the death toll up to 16": a new figure, not a bound
            return q
    if _QUAL_AFTER_RE.match(right):
        return "approx" if not right.lstrip().startswith("or more") else "at_least"
    return "exact"


@dataclass
class _Cand:
    metric: str
    value: int
    qualifier: str
    start: int  # offset in sentence
    direct_record: bool = False
    modifiers: tuple[str, ...] = ()


_CLAUSE_BOUND_RE = re.compile(r";|,\s+(?:while|but|whereas|although|though)\b|\s[–—]\s", _I)
_PARTITIVE_RE = re.compile(r"^\s+of\s+(?:the|these|those|its|their)\s+", _I)
_OF_SKIP_RE = re.compile(r"^\s+of\s+(?!which\b|whom\b|them\b|those\b|these\b)", _I)
_AUX_OTHER_VERB_RE = re.compile(r"^\s*(?:were|was|are|is|have\s+been|has\s+been|had\s+been)\s+[\"“‘']?(?:\w+ly\s+)?\w+",
                                _I)
# a weapon count held in stock, not fired: "three missile carriers with up to 24 Kalibr missiles on combat duty"
_STOCK_AFTER_RE = re.compile(r"^[^.;]{0,40}?\bon\s+(?:combat\s+)?(?:duty|standby|alert)\b", _I)
_CARRIER_WITH_RE = re.compile(r"\b(?:carriers?|ships?|vessels?|submarines?|frigates?|corvettes?|bombers?|launchers?)\s+"
                              r"(?:armed\s+)?with\s+(?:(?:" + "|".join(p for _, p in V.QUALIFIERS) + r")\s+)?$", _I)
# a correction notice: "an earlier version of this post said 18 missiles had been launched"
_CORRECTION_RE = re.compile(r"\b(?:earlier|previous|original)\s+version\s+of\s+(?:this|the)\s+[\w-]+\s+"
                            r"(?:said|stated|reported|gave|misstated|wrongly|incorrectly)\b"
                            r"|\b(?:incorrectly|wrongly|mistakenly|erroneously)\s+(?:said|stated|reported|gave|put)\b",
                            _I)
_CORRECTION_KEYS = ("version", "incorrect", "wrong", "mistaken", "erroneous")
# a toll superseded in the same text: "The toll had stood at 18 on Friday evening"
_STALE_TOLL_RE = re.compile(r"\b(?:had\s+(?:stood|been)\s+at|(?:previously|earlier|initially|originally)\s+"
                            r"(?:stood\s+at|put\s+at|reported\s+as|given\s+as))\s+(?:(?:" +
                            "|".join(p for _, p in V.QUALIFIERS) + r")\s+)?$", _I)
# parts of a weapon total with no verb of their own: "19 of them over the Bryansk region", "including 19 that ..."
_PART_OF_RIGHT_RE = re.compile(r"^\s+of\s+(?:them|which|these|those)\b", _I)
_PART_TAIL_RE = re.compile(r"^\s*(?:$|[,.;)]|that\b|which\b|(?:over|in|near|across|above|on|at|heading|flying)\b)", _I)
# a weapon count coordinated with the one before shares its verb: "more than 200 glide bombs and around 150 drones"
_COORD_GAP_RE = re.compile(r"^\s*,?\s*(?:and\s+|as\s+well\s+as\s+)?(?:(?:" + "|".join(p for _, p in V.QUALIFIERS)
                           + r")\s+)?$", _I)
_RATE_ANY_RE = re.compile(r"\b(?:a|per|each|every)\s+(?:night|day|week|month|year)\b"
                          r"(?!\s+(?:after|ago|earlier|later|before|since))|\b(?:daily|nightly)\b", _I)
_COORD_VERB_RE = re.compile(
    r"^\s*,?\s+and\s+(?:(?:" + "|".join(p for _, p in V.QUALIFIERS) + r")\s+)?"
    r"(?:\d[\d,]*|(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|thirty"
    r"|forty|fifty|sixty|seventy|eighty|ninety)(?:-[a-z]+)?)\s+"
    r"(?:(?!were\b|was\b)[\w-]+\s+){1,4}?(?P<aux>were|was|have\s+been|had\s+been|are)\s+"
    r"(?:\w+ly\s+)?(?P<verb>" + _RIGHT_ACTION + r")\b", _I)
_REPEL_KEYS = ("repel", "repuls", "thwart", "fend", "fought", "foil")
_REPEL_RE = re.compile(r"\b(?:repel\w*|repuls\w*|thwart\w*|fend\w*\s+off|fought\s+off|foil\w*)\s+(?:an?\s+|the\s+)?"
                       r"(?:[\w-]+\s+)?(?:attacks?|raids?|assaults?)\s+(?:by|of|involving|with)\s+(?:" +
                       "|".join(p for _, p in V.QUALIFIERS) + r")?\s*$", _I)
_HITS_BY_RE = re.compile(r"\b(?:hits?|impacts?|strikes)\s+(?:by|of|from)\s+$", _I)
_COMPARE_RE = re.compile(r"\b(?:up\s+from|down\s+from|compared\s+(?:with|to)|from|(?<!more\s)(?<!less\s)(?<!fewer\s)"
                         r"(?<!rather\s)than|against)\s+"
                         r"(?:(?:" + "|".join(p for _, p in V.QUALIFIERS) + r")\s+)?$", _I)
_COMPARE_TAIL_RE = re.compile(r"^\s*(?:$|[.,;)]|in\s+|the\s+(?:previous|preceding|prior)|a\s+(?:week|month|year)"
                              r"\s+(?:earlier|before)|last\s+|on\s+|during\s+)", _I)
_PLAIN_NOUN_RE = re.compile(r"^\s+(?!(?:of|in|on|at|over|and|or|to|from|for|by|with|more|others?|people|were|was|"
                            r"are|is|had|have|has|been|the|a|an|last|this|dead|killed|injured|wounded|hurt|across|near|"
                            r"above|during|after|before|since|including|among|overnight|in\s+total)\b)[a-z][a-z-]+\b",
                            _I)
_REVISED_UP_TO_RE = re.compile(r"\b(?:revised|raised|pushed|brought|moved|went|gone)\b[^.;]{0,40}\bup\s+to\s+$", _I)
_PARTITIVE_TOTAL_RE = re.compile(r"(?:^|,|\bthat)\s*of\s+(?:the\s+)?$", _I)
_ANAPHOR_RE = re.compile(r"\b(?:the|this|our)\s+(?P<what>region|oblast|city|capital|outskirts|town)(?:['’]s)?\b", _I)
_WEAPON_COUNT_RE = re.compile(
    r"\bnumber\s+of\s+(?:[\w-]+\s+)?(?P<w>drones|uavs|shaheds|missiles|(?:glide|guided\s+aerial)\s+bombs)\s+"
    r"(?P<v>launched|fired|used|intercepted|shot\s+down|downed|destroyed)?[^.;]{0,40}?\b(?:to|at|of|reached)\s+"
    r"(?:(?:" + "|".join(p for _, p in V.QUALIFIERS) + r")\s+)?$", _I)
_STOP_WORD_RE = re.compile(r"\b(?:" + V.STOP_VERBS + r")\b", _I)
_INTERCEPT_WORD_RE = re.compile(r"\b(?:" + V.INTERCEPT_VERBS + r")\b", _I)
_NO_ONE_RE = re.compile(r"\b(?:no|not|none|nobody)\s+$", _I)
_LIST_ITEM_RE = re.compile(r"^\s+(?:over|in|above|across|near|on)\s+(?:the\s+)?[A-Z]")
_LIST_BEFORE_RE = re.compile(r"(?:,|\band|\bincluding|:)\s*$", _I)


_PART_GAP_OF_RE = re.compile(r"^[^,;:\d]{0,40},\s*$")
_PART_GAP_INCLUDING_RE = re.compile(r"^[^,;:\d]{0,40},\s*including\s+(?:(?:" + "|".join(p for _, p in V.QUALIFIERS)
                                    + r")\s+)?$", _I)


def _is_part(sent: str, total_end: int, start: int, right: str) -> bool:
    """A bare number right after a weapon total is a part of it: "41 drones overnight, 19 of them over the
    Bryansk region", "105 drones, including 19 that were heading for Moscow"."""
    gap = sent[total_end:start]
    m = _PART_OF_RIGHT_RE.match(right)
    if m and _PART_GAP_OF_RE.match(gap):
        return bool(_PART_TAIL_RE.match(right[m.end() :]))
    return bool(_PART_GAP_INCLUDING_RE.match(gap) and _PART_TAIL_RE.match(right))


def _may_bound(sent: str, lo: int, hi: int) -> bool:
    """Whether _CLAUSE_BOUND_RE can match in sent[lo:hi]: each of its matches holds ";", a dash, or a comma
    before a word holding "wh" (while, whereas), "but" or "hough" (though, although). These letters have no
    other case-insensitive equivalents (unlike i, s, k), so lower() is a safe test."""
    if sent.find(";", lo, hi) >= 0 or sent.find("–", lo, hi) >= 0 or sent.find("—", lo, hi) >= 0:
        return True
    if sent.find(",", lo, hi) < 0:
        return False
    w = sent[lo:hi].lower()
    return "wh" in w or "but" in w or "hough" in w


def _clause_left(sent: str, start: int, width: int = 220) -> str:
    return sent[_clause_start(sent, start, width) : start]


def _clause_start(sent: str, start: int, width: int = 220) -> int:
    """Where the clause holding ``start`` begins: at most ``width`` back, after the last clause bound."""
    lo = max(0, start - width)
    if not _may_bound(sent, lo, start):
        return lo
    cut = None
    for m in _CLAUSE_BOUND_RE.finditer(sent, lo, start):
        cut = m.end()
    return cut if cut is not None else lo


def _analyse_sentence(sent: str, last_kind: list[str], last_metric: list[str] | None = None) -> list[_Cand]:
    """Candidates (metric, value, qualifier) in one sentence. ``last_kind`` carries the last weapon noun
    across sentences, for elliptical numbers ("... and 32 were shot down")."""
    out: list[_Cand] = []
    toks = find_numbers(sent)
    paired: dict[int, tuple[str, NumberToken]] = {}
    sent_verbs: list[re.Match] | None = None  # the sentence's action words, found on first use
    low_sent = sent.lower()
    correction = _has_any(low_sent, _CORRECTION_KEYS)
    prev_weapon: tuple[int, str, str] | None = None  # the last weapon figure: (end of its noun phrase, verb, metric)
    # "476 out of 539 drones", "30 of the 40 missiles"
    for a, b in zip(toks, toks[1:], strict=False):
        if a.high is None and b.high is None and _PAIR_GAP_RE.match(sent[a.end : b.start]):
            paired[id(a)] = ("first", b)
            paired[id(b)] = ("second", a)
    for t in toks:
        role = paired.get(id(t))
        if role and role[0] == "first":
            continue  # handled with its total
        full_left = sent[max(0, t.start - 220) : t.start]
        left_lo = _clause_start(sent, t.start)
        left = sent[left_lo : t.start]
        right = sent[t.end : t.end + 140]
        low_left = full_left.lower()
        if _UNIT_AFTER_RE.match(right) or ((full_left[-1:] in "$€£" or low_left.rstrip().endswith(_CURRENCY_WORDS))
                                           and _CURRENCY_BEFORE_RE.search(full_left[-24:])):
            continue
        if "averag" in low_left and _AVERAGE_RE.search(left):
            continue
        if t.is_word and t.value == 1 and _NO_ONE_RE.search(left[-12:]):
            continue  # "no one was killed"
        noun = _noun_phrase(right, t.value, low_sent[t.end : t.end + 140])
        noun_off = 0
        if noun is None and not role:
            pm = _PARTITIVE_RE.match(right)
            if pm:  # "718 of the drones were shot down"
                noun = _noun_phrase(right[pm.end() :], 2)
                if noun and noun.kind in ("deaths", "injuries"):
                    noun = None
                noun_off = pm.end() if noun else 0
            if noun is None and _OF_SKIP_RE.match(right):
                continue  # "six of Kyiv's 10 districts", "one of the largest"
        kind = noun.kind if noun else None
        after = right[noun_off + noun.end :] if noun else right
        if _has_any(after[:60].lower(), _RATE_KEYS) and _RATE_ANY_RE.search(after[:60]):
            continue  # "2,700 Shaheds a month", "25,000 are dying every month"
        verb: str | None = None
        rv = _RIGHT_VERB_RE.match(after)
        if rv is None and _AUX_OTHER_VERB_RE.match(after) and not (
                kind in _WEAPON_KINDS and "record" in low_left[-50:] and _RECORD_ADJ_BEFORE_RE.search(full_left[-50:])):
            continue  # "415 decoys were lost locally", "60 residents were evacuated" (not "the record of 728 was set")
        if correction and _CORRECTION_RE.search(left):
            continue  # "an earlier version of this post said 18 missiles had been launched"
        if kind in _WEAPON_KINDS and (_STOCK_AFTER_RE.match(after) or _CARRIER_WITH_RE.search(left[-60:])):
            continue  # missiles on combat duty, carriers with missiles: a stock, not a launch
        inherited = None
        if kind is None and not rv and prev_weapon and _is_part(sent, prev_weapon[0], t.start, right):
            inherited = prev_weapon[2]  # "downed 41 drones overnight, 19 of them over the Bryansk region"
            kind = "part"
        if kind is None:
            # elliptical: "injured 14", "14 were injured", "of which 476 were shot down"
            if _PLAIN_NOUN_RE.match(right) and not rv:
                continue  # "350 flights", "12 soldiers": a count of something else
            toll = _TOLL_RE.search(full_left[-200:]) if ("toll" in low_left or "number" in low_left
                                                           or "fatalit" in low_left) else None
            wcount = _WEAPON_COUNT_RE.search(full_left[-120:]) if "number" in low_left else None
            adj = _ADJACENT_LEFT_RE.search(left[-60:])
            prev_metric = out[-1].metric if out else (last_metric[0] if last_metric else None)
            if out and _LIST_ITEM_RE.match(right) and _LIST_BEFORE_RE.search(left):
                inherited = out[-1].metric  # "45 over Belgorod region, 30 over Kursk region"
            elif prev_metric and _COMPARE_RE.search(left[-30:]) and _COMPARE_TAIL_RE.match(right):
                inherited = prev_metric  # "6,297 drones in July, up from 5,438 in June"
            elif wcount:
                w = wcount.group("w").lower()
                wk = "drones" if w in ("drones", "uavs", "shaheds") else "missiles" if w == "missiles" else "glide"
                wv = (wcount.group("v") or "launched").lower()
                inherited = (_INTERCEPT_METRIC.get(wk) if wv in ("intercepted", "shot down", "downed", "destroyed")
                             else _LAUNCH_METRIC[wk])
                if inherited is None:
                    continue
            elif rv:
                verb = _classify_word(rv.group("verb"))
                if rv.group("verb").lower() in ("dead",):
                    verb = "kill"
            elif toll:
                if _STALE_TOLL_RE.search(left[-40:]):
                    continue  # "the toll had stood at 18 on Friday evening": superseded
                verb = "kill" if toll.group("kill") else "injure"
            elif adj and not _MODAL_RE.search(left[: len(left) - len(adj.group(0))]):
                verb = _classify_word(adj.group("verb"))
            if inherited is None:
                if verb is None or verb == "stop" or _MODAL_RE.search(left[-40:]):
                    continue
                if verb in ("kill", "injure"):
                    kind = "people"
                elif last_kind:
                    kind = last_kind[0]
                else:
                    continue
                if t.is_word and t.value == 1 and verb in ("launch", "intercept"):
                    continue
        elif kind == "part":
            pass
        else:
            if kind in _WEAPON_KINDS:
                last_kind[:] = [kind]
            if kind == "people" and _SUBSET_RE.search(full_left[-40:]):
                continue
            if rv is None:  # "563 drones and 26 missiles were neutralised": the verb after the coordination
                rv = _COORD_VERB_RE.match(after)
            right_cls = _classify_word(rv.group("verb")) if rv else None
            has_aux = bool(rv and (rv.group("aux") or (rv.re is _RIGHT_VERB_RE and rv.group("which"))))
            if _has_any(left[-20:].lower(), ("hit", "impact", "strikes")) and _HITS_BY_RE.search(left[-20:]):
                continue  # "direct hits by 9 missiles were recorded"
            if sent_verbs is None:
                sent_verbs = _verb_matches_low(sent, low_sent, toks[-1].start)
            win = _window_verbs(sent_verbs, left_lo, t.start)
            if _has_any(left[-80:].lower(), _REPEL_KEYS) and _REPEL_RE.search(left[-80:]):
                left_cls = "intercept"
            elif win is None:
                left_cls = _left_verb(left, kind)
            else:
                left_cls = _left_verb_in(sent, left_lo, t.start, kind, win)
            if left_cls in (None, "blocked") and kind in _WEAPON_KINDS and prev_weapon and not rv and \
                    _COORD_GAP_RE.match(sent[prev_weapon[0] : t.start]):
                left_cls = prev_weapon[1]  # "hit by more than 200 glide bombs and around 150 drones"
            if left_cls == "blocked":
                if not (right_cls and has_aux and _compatible(kind, right_cls)):
                    continue
                left_cls = None
            if right_cls and _compatible(kind, right_cls) and (
                has_aux or left_cls is None or right_cls != "launch"
            ):
                verb = right_cls
            elif left_cls:
                verb = left_cls
            elif kind in ("deaths", "injuries"):
                verb = None
            elif kind in _WEAPON_KINDS and "record" in low_left[-50:] and _RECORD_ADJ_BEFORE_RE.search(full_left[-50:]):
                verb = "launch"  # "last week's record of 728 drones": a record count is a launch count
            elif kind in _WEAPON_KINDS and _PARTITIVE_TOTAL_RE.search(left[-60:]):
                verb = "launch"  # "of 25 drones that entered the region's airspace, 21 were destroyed"
            elif kind in _WEAPON_KINDS and _ATTACK_CONTEXT_RE.search(left + " " + after[:80]) and not \
                    _STOP_WORD_RE.search(left[-80:]):
                verb = "launch"
            else:
                continue
        metric = inherited or _metric(kind, verb)
        if metric is None:
            continue
        if noun is not None and kind in _WEAPON_KINDS and verb in ("launch", "intercept"):
            prev_weapon = (t.end + noun_off + noun.end, verb, metric)
        qual = _qualifier(full_left, right)
        direct = ("record" in low_left[-50:] and bool(_RECORD_ADJ_BEFORE_RE.search(full_left[-50:]))
                  and not _HEDGE_RE.search(full_left[-60:]))
        mods = noun.modifiers if noun else ()
        if role and role[0] == "second":
            first = role[1]
            fleft = _clause_left(sent, first.start)
            # the pair's action: an intercept verb after the noun ("12 of the 15 drones ... were destroyed"),
            # else the verb before it ("Ukraine intercepted 476 out of 539 drones")
            clause_after = _CLAUSE_BOUND_RE.split(after, maxsplit=1)[0]
            if kind in _WEAPON_KINDS and _INTERCEPT_WORD_RE.search(clause_after):
                fverb = "intercept"
            else:
                fverb = _classify_word(rv.group("verb")) if rv else _left_verb(fleft, kind)
            if kind in _WEAPON_KINDS:
                if fverb == "intercept" and kind in _INTERCEPT_METRIC:
                    out.append(_Cand(_INTERCEPT_METRIC[kind], first.value, _qualifier(fleft, ""), first.start,
                                     False, mods))
                out.append(_Cand(_LAUNCH_METRIC[kind], t.value, qual, t.start, direct, mods))
            elif kind == "people" and fverb in ("kill", "injure"):
                out.append(_Cand(_metric(kind, fverb) or "", first.value, _qualifier(fleft, ""), first.start))
            continue
        if t.high is not None:
            out.append(_Cand(metric, t.value, "at_least", t.start, direct, mods))
            out.append(_Cand(metric, t.high, "up_to", t.start, direct, mods))
        else:
            out.append(_Cand(metric, t.value, qual, t.start, direct, mods))
    out = [c for c in out if c.metric]
    if out and last_metric is not None:
        last_metric[:] = [out[-1].metric]
    return out


# ---------------------------------------------------------------- context: scope, night, record, place
_SUPERLATIVE_BEFORE_RE = re.compile(r"\b(?:" + V.SUPERLATIVE + r"|record)\b[^.;,]{0,50}$", _I)


_PERIOD_KEYS = ("since", "this ", "last ", "past", "previous", "preceding", "prior", "so far", "to date", "recent",
                "weekend", "weekly", "monthly", "alone", "night", "month", "week", "year", "jan", "feb", "march",
                "april", "may", "june", "july", "aug", "sept", "oct", "nov", "dec", " 19", " 20", "winter",
                "summer", "spring", "autumn")


def _scope_cues(sent: str, low: str) -> list[tuple[int, int, str]]:
    """(start, end, label) of period phrases: "aggregate" ("in June alone") or "event" ("overnight")."""
    if not _has_any(low, _PERIOD_KEYS):
        return []
    cues = []
    groups = [(rx, "aggregate") for keys, rx in _AGG_GROUPS if _has_any(low, keys)]
    if "night" in low or "one " in low or "single" in low:
        groups.append((_EVENT_RE, "event"))
    for rx, label in groups:
        for m in rx.finditer(sent, low):
            if label == "aggregate" and _SUPERLATIVE_BEFORE_RE.search(sent[max(0, m.start() - 60) : m.start()]):
                continue  # "the deadliest attack ... this year": a comparison frame, not a period total
            cues.append((m.start(), m.end(), label))
    return cues


_SINGLE_NIGHT_RE = re.compile(r"\b(?:single|one)\s+(?:night|attack|strike|wave)\b", _I)


def _scope(cues: list[tuple[int, int, str]], pos: int, sent: str = "") -> str:
    """The nearest period phrase decides; no phrase means one event. "In a single night" is stronger than a
    nearer period ("on a single night this week, 741 drones")."""
    best: tuple[float, str] | None = None
    for start, end, label in cues:
        d = start - pos if start >= pos else pos - end
        if label == "event" and d <= 80 and _SINGLE_NIGHT_RE.search(sent, start, end):
            return "event"
        if best is None or d < best[0]:
            best = (d, label)
    return best[1] if best else "event"


def _segments(sent: str, low: str) -> list[int]:
    return [m.start() for m in _SEGMENT_RE.finditer(sent, low)]


def _segment_of(bounds: list[int], pos: int) -> int:
    return sum(1 for b in bounds if b <= pos)


# every _NIGHT_RE match holds one of these as a whole word (a cheaper scan than the pattern itself)
_NIGHT_GUARD_RE = re.compile(r"\b(?:ago|earlier|before|yesterday|previous|week|" + _WD + "|" + V.MONTHS + r")\b")


def _night_dates(sent: str, low: str, published: _dt.date | None) -> list[tuple[int, _dt.date]]:
    if published is None or not _NIGHT_GUARD_RE.search(low):
        return []
    out = []
    for m in _NIGHT_RE.finditer(sent, low):
        d: _dt.date | None = None
        if _NIGHT_NOT_RE.search(sent[max(0, m.start() - 30) : m.start()]):
            continue  # "(from 18:00 on July 8)" is when a report window opened, not a night
        try:
            if m.group("n"):
                raw = m.group("n").lower()
                n = int(raw) if raw.isdigit() else _WORD_NUM.get(raw.split()[0] if raw.startswith("a ") is False
                                                                   else "a", 2 if "couple" in raw else 1)
                if "couple" in raw:
                    n = 2
                unit = m.group("unit").lower()
                d = published - _dt.timedelta(days=n * (7 if unit.startswith("week") else 1))
            elif m.group("yest"):
                d = published - _dt.timedelta(days=1)
            elif m.group("lastweek"):
                d = published - _dt.timedelta(days=7)
            elif m.group("wd") or m.group("wd2"):
                wd = _WEEKDAYS.index((m.group("wd") or m.group("wd2")).lower())
                back = (published.weekday() - wd) % 7
                d = published - _dt.timedelta(days=back)
                if m.group("wdnight") or m.group("wdnight2"):
                    d = d + _dt.timedelta(days=1)
                    if d > published:
                        d = d - _dt.timedelta(days=7)
            elif m.group("month") or m.group("month2"):
                month = _MONTH_NAMES.index((m.group("month") or m.group("month2")).lower()) + 1
                day = int(m.group("day") or m.group("day2"))
                year = published.year if month <= published.month else published.year - 1
                d = _dt.date(year, month, day)
        except (ValueError, OverflowError):
            d = None
        if d is not None and d != published and d < published + _dt.timedelta(days=1):
            out.append((m.start(), d))
    return out


_NIGHT_NOT_RE = re.compile(r"\b(?:from|since|until|till|after)\s+[\d:.apm ]*(?:on\s+)?$", _I)
_ADJ_PLACE_RE = re.compile(
    r"(?:\b(?i:on|in|at|over|against|across|targeting|targeted|hit|struck|into|above|toward|towards|hitting|"
    r"striking|attacking|attacked|pounding|shelling\s+of|strike\s+on|attack\s+on)\s+(?:the\s+)?"
    r"(?:(?!which\b|that\b|who\b|whom\b|where\b|when\b|it\b|they\b|he\b|she\b)[a-z-]+\s+){0,3}?"
    r"(?:(?:city|town|village|region|district|capital|port|suburb|outskirts|settlement|oblast|area)\s+of\s+)?"
    r"(?:(?!which\b|that\b|who\b|whom\b|where\b|when\b|it\b|they\b|he\b|she\b)[a-z-]+\s+)?$)"
    r"|(?:\b(?:city|town|village|region|district|capital|port|suburb|outskirts|settlement|"
    r"oblast|area)\s+of\s+$)"
)
_FROM_PLACE_RE = re.compile(r"\b(?:from|of\s+Kursk|directions?\s+of)\s+(?:the\s+)?(?:[a-z-]+\s+){0,2}$", _I)
_WEAK_PLACE_RE = re.compile(r"\b(?:near|outside|to|with|by)\s+(?:the\s+)?$", _I)
_LIST_GAP_RE = re.compile(r"^(?:\s*,\s*|\s+and\s+|\s*,\s*and\s+|\s+or\s+)$")
_REGION_LIST_RE = re.compile(
    r"(?:[A-Z][\w'’-]+,\s+)*[A-Z][\w'’-]+,?\s+and\s+(?:the\s+)?[A-Z][\w'’-]+\s+(?:regions|oblasts|provinces)\b")
_RUSSIAN_SIDE_RE = re.compile(
    r"\bRussia['’]s\s+(?:defen[cs]e\s+ministry|air\s+defen[cs]es?|Defen[cs]e\s+Ministry)|\bRussian\s+"
    r"(?:air\s+defen[cs]es?|Defen[cs]e\s+Ministry|defen[cs]e\s+ministry|air\s+defen[cs]e\s+systems)", _I)
_DATELINE_RE = re.compile(r"^[A-Z][A-Z'’ .-]{2,30}(?:,\s*[A-Z][A-Za-z'’ .-]{1,30})?\s*"
                          r"(?:\([A-Za-z .]{1,20}\))?\s*[—–-]{1,2}\s+")


def _score_places(sent: str, places: list[PlaceMention]) -> list[tuple[PlaceMention, int]]:
    """(place, score): 3 where the sentence says it was hit ("on Kyiv", "the city of Poltava"), 2 for a bare
    mention, 1 for "near X", 0 for "from X" (where drones came from). Places listed in "the Kharkiv and
    Poltava regions" are dropped: a multi-region figure is a national one."""
    lists = ([(m.start(), m.end()) for m in _REGION_LIST_RE.finditer(sent)]
             if ("regions" in sent or "oblasts" in sent or "provinces" in sent) else [])
    out: list[tuple[PlaceMention, int]] = []
    prev: tuple[PlaceMention, int] | None = None
    for p in places:
        if any(a <= p.start < b for a, b in lists):
            continue
        before = sent[max(0, p.start - 45) : p.start]
        if prev is not None and p.kind != "country" and prev[0].kind != "country" and \
                _LIST_GAP_RE.match(sent[prev[0].end : p.start]):
            score = prev[1]
        elif _FROM_PLACE_RE.search(before):
            score = 0
        elif _WEAK_PLACE_RE.search(before[-12:]):
            score = 1
        elif _ADJ_PLACE_RE.search(before):
            score = 3
        else:
            score = 2
        out.append((p, score))
        prev = (p, score)
    return out


class _SentInfo:
    """A sentence, its paragraph index, and its scored places (found on first use: most sentences never
    need them)."""

    __slots__ = ("text", "para", "low", "_places", "_anaphor", "_russian")

    def __init__(self, text: str, para: int, low: str):
        self.text, self.para, self.low = text, para, low
        self._places: list[tuple[PlaceMention, int]] | None = None
        self._anaphor: re.Match | None | bool = False
        self._russian: bool | None = None

    @property
    def russian(self) -> bool:
        """Whether the sentence speaks for Russia's air defence (_RUSSIAN_SIDE_RE), found on first use."""
        if self._russian is None:
            self._russian = bool(_RUSSIAN_SIDE_RE.search(self.text))
        return self._russian

    @property
    def anaphor(self) -> re.Match | None:
        """"the region", "this city", "our region": the article's own place, found on first use."""
        if self._anaphor is False:
            self._anaphor = _ANAPHOR_RE.search(self.text)
        return self._anaphor

    @property
    def places(self) -> list[tuple[PlaceMention, int]]:
        if self._places is None:
            self._places = _score_places(self.text, find_places(self.text))
        return self._places


def _best_place(places: list[tuple[PlaceMention, int]], pos: int, kinds: tuple[str, ...],
                min_score: int = 1, cutoff: int | None = None) -> str | None:
    best = None
    for p, s in places:
        if p.kind not in kinds or s < min_score or (cutoff is not None and p.start >= cutoff):
            continue
        d = (p.start - pos) if p.start >= pos else (pos - p.end) * 1.5
        key = (s, -d)
        if best is None or key > best[0]:
            best = (key, p.name)
    return best[1] if best else None


_CUTOFF_RE = _LowRx(r":|\bincluding\b|;|,\s*[\w-]+\s+of\s+(?:them|which)\b")
_LOCAL = ("city", "region")


def _location(idx: int, sents: list[_SentInfo], c: _Cand, ctx: _ArticleContext) -> str | None:
    """The place the figure is about: the sentence's hit place, else the paragraph's, else (weapons) the
    side the weapons came from or Ukraine for national tallies, else (casualties) the article's place."""
    s = sents[idx]
    pos = c.start
    cm = (_CUTOFF_RE.low.search(s.low, pos + 1) if len(s.low) == len(s.text)
          else _CUTOFF_RE.rx.search(s.text, pos + 1))
    cutoff = cm.start() if cm else None
    local = _best_place(s.places, pos, _LOCAL, cutoff=cutoff)
    if local:
        return local
    country = _best_place(s.places, pos, ("country",), min_score=3, cutoff=cutoff)
    if country:
        return country
    para = [k for k in ctx.paragraph_members(s.para) if k != idx]
    para.sort(key=lambda k: (abs(k - idx) + (0.5 if k > idx else 0)))
    anaphor = s.anaphor
    if anaphor:
        # "used against the region", "hit the outskirts": the article's own place, as a region if asked
        want_region = anaphor.group("what").lower() in ("region", "oblast")
        cands = [p for k in para for p in [_best_place(sents[k].places, 0, _LOCAL)] if p]
        cands += [p for p in (ctx.title_local(), ctx.article_local()) if p]
        for p in cands:
            if not want_region or p.endswith(" region"):
                return p
        for p in cands:
            if want_region and (region_of(p) or p in REGIONS):
                return region_of(p) or f"{p} region"
        if cands and not want_region:
            return cands[0]
    for k in para:
        p = _best_place(sents[k].places, 0, _LOCAL)
        if p:
            return p
    if c.metric.endswith(("_launched", "_intercepted")):
        mods = {m.lower() for m in c.modifiers}
        if "russian" in mods:
            return "Ukraine"
        if "ukrainian" in mods or s.russian:
            return "Russia"
        if any(sents[k].russian for k in para) or ctx.russian_side(
                lead=not any(p.kind == "country" for p, _ in s.places)):  # "Ukraine says ..." keeps Ukraine
            return "Russia"
        return "Ukraine"
    # casualties: a country only where the text says it was hit ("in Ukraine"), not as a subject
    for k in [idx] + para:
        p = _best_place(sents[k].places, 0, ("country",), min_score=3)
        if p:
            return p
    return ctx.title_local() or ctx.article_local() or ctx.title_country()


_RECORD_KEYS = ("record", "largest", "biggest", "heaviest", "most", "deadliest", "high", "greatest", "worst",
                "unprecedented")


def _has_any(low: str, keys: tuple[str, ...]) -> bool:
    for k in keys:
        if k in low:
            return True
    return False


def _record_flags(sent: str, low: str, cands: list[tuple[_Cand, str]], segments) -> set[int]:
    """Indices of candidates the sentence presents as records. ``segments()`` gives the clause bounds."""
    flagged = {i for i, (c, _) in enumerate(cands) if c.direct_record}
    if not _has_any(low, _RECORD_KEYS):
        return flagged
    hedges = [(m.start(), m.end()) for m in _HEDGE_LRX.finditer(sent, low)]
    found = _record_cues(sent, low)
    bounds = segments() if found else []
    for m in found:
        if any(hs <= m.start() < he or m.start() <= hs < m.end() for hs, he in hedges):
            continue
        seg = _segment_of(bounds, m.end() - 1)
        cue = m.group(0).lower()
        pool = [i for i, (c, scope) in enumerate(cands)
                if _segment_of(bounds, c.start) == seg or (c.start > m.start() and _segment_of(bounds, c.start)
                                                         == seg + 1 and not any(cc.direct_record for cc, _ in cands))]
        if not pool or any(i in flagged for i in pool):
            continue
        if "deadliest" in cue:
            pool = [i for i in pool if cands[i][0].metric == "killed"]
        else:
            launch = [i for i in pool if cands[i][0].metric.endswith("_launched")]
            want = ("drones" if re.search(r"drone|uav|shahed", cue) else
                    "missiles" if "missile" in cue else None)
            if want:
                launch = [i for i in launch if cands[i][0].metric.startswith(want)] or launch
            aerial = [i for i in launch if cands[i][0].metric == "aerial_weapons_launched"]
            pool = aerial or sorted(launch, key=lambda i: -cands[i][0].value)[:1]
        flagged.update(pool)
    return flagged


# ---------------------------------------------------------------- public API
def extract_figures(title: str, body: str, published: _dt.date | None = None) -> list[Figure]:
    """Figures reported in an article (title + body). Unique by metric, value, scope and night (a figure
    repeated in the article counts once, with the most specific place). Never raises on any text."""
    try:
        return _extract(title or "", body or "", published)
    except Exception:  # noqa: BLE001 - a bad article must never stop the crawl
        return []


def _extract(title: str, body: str, published) -> list[Figure]:
    if isinstance(published, _dt.datetime):
        published = published.date()
    if not isinstance(published, _dt.date):
        published = None
    sents: list[_SentInfo] = []
    paragraphs = [title.replace("\n", " ")] + body.split("\n")

    def split(pi: int) -> list[_SentInfo]:
        out = []
        para = _DATELINE_RE.sub("", paragraphs[pi].strip())  # "KYIV, Ukraine (AP) — " names the desk
        for _, st in split_sentences(para):
            low = st.lower()
            if _has_any(low, _BOILERPLATE_KEYS) and _BOILERPLATE_RE.search(st):
                continue
            out.append(_SentInfo(st, pi, low))
        return out

    done: set[int] = set()
    for pi, para in enumerate(paragraphs):
        # a paragraph without any number holds no figure; the title is read for record cues anyway
        if para.strip() and (pi == 0 or has_number(para)):
            sents.extend(split(pi))
            done.add(pi)
    ctx = _ArticleContext(sents, paragraphs, split, done)
    figs: list[Figure] = []
    last_kind: list[str] = []
    last_metric: list[str] = []
    cur_para = -1
    pending_record: tuple[int, str | None] | None = None  # a numberless record cue: (paragraph, weapon)
    title_record: str | None | bool = False  # weapon named by a record cue in the title (None: any)
    for idx, s in enumerate(sents):
        if s.para != cur_para:
            cur_para = s.para
            last_metric = []
        cands = _analyse_sentence(s.text, last_kind, last_metric)
        if not cands:
            found = _record_cues(s.text, s.low)
            m = found[0] if found else None
            if m and not _HEDGE_LRX.search(s.text, s.low):
                cue = m.group(0).lower() + " " + s.text[m.end() : m.end() + 30].lower()
                weapon = "drones" if re.search(r"drone|uav|shahed", cue) else (
                    "missiles" if "missile" in cue else None)
                pending_record = (s.para, weapon)
                if s.para == 0:
                    title_record = weapon
            continue
        seg_cache: list[list[int]] = []

        def segments(s=s, seg_cache=seg_cache) -> list[int]:  # clause bounds, found on first use
            if not seg_cache:
                seg_cache.append(_segments(s.text, s.low))
            return seg_cache[0]

        cues = _scope_cues(s.text, s.low)
        scoped = [(c, _scope(cues, c.start, s.text)) for c in cands]
        rec = _record_flags(s.text, s.low, scoped, segments)
        nights = _night_dates(s.text, s.low, published)
        bounds = segments() if nights else []
        if pending_record and not rec and pending_record[0] == s.para:
            launch = [i for i, (c, sc) in enumerate(scoped) if c.metric.endswith("_launched") and sc == "event"
                      and (pending_record[1] is None or c.metric.startswith(pending_record[1]))]
            if launch:
                rec.add(max(launch, key=lambda i: scoped[i][0].value))
        pending_record = None
        for i, (c, scope) in enumerate(scoped):
            night = None
            if scope == "event" and nights:
                seg = _segment_of(bounds, c.start)
                same = [d for p, d in nights if _segment_of(bounds, p) == seg]
                if same:
                    night = same[0]
                elif bounds and seg > 0 and any(_segment_of(bounds, p) < seg for p, _ in nights) and \
                        re.search(r"[–—-]\s*$|;\s*$", s.text[bounds[seg - 1] : bounds[seg - 1] + 3]):
                    # "... came five days ago – when Russia fired 537 drones": the dash continues the clause
                    prev = [d for p, d in nights if _segment_of(bounds, p) == seg - 1]
                    night = prev[-1] if prev else None
            loc = _location(idx, sents, c, ctx)
            figs.append(Figure(metric=c.metric, value=c.value, qualifier=c.qualifier, scope=scope,
                               record=i in rec, location=loc, sentence=s.text, night=night))
    if title_record is not False:
        # "Russia launches biggest drone attack of the war" over a body giving the number: the lead figure
        kind = title_record
        pool = [k for k, f in enumerate(figs) if f.metric.endswith("_launched") and f.scope == "event"
                and f.night is None and (kind is None or f.metric.startswith(kind))]
        if pool and not any(figs[k].record for k in pool):
            k = pool[0]
            figs[k] = replace(figs[k], record=True)
    return _dedupe(figs)


_SPECIFIC = {"Ukraine", "Russia"}


class _ArticleContext:
    """Article-level fallbacks for a figure's place, computed only when a figure needs them."""

    def __init__(self, sents: list[_SentInfo], paragraphs: list[str], split, done: set[int] | None = None):
        self._title = [x for x in sents if x.para == 0]
        self._done = done or set()  # paragraphs whose sentences are in ``sents`` already
        self._sents = sents
        self._members: dict[int, list[int]] | None = None
        self._paragraphs = paragraphs
        self._split = split
        self._cache: dict[str, str | None] = {}

    def _get(self, key: str, compute) -> str | None:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def paragraph_members(self, para: int) -> list[int]:
        """Indices (in the sentence list) of the sentences of one paragraph."""
        if self._members is None:
            self._members = {}
            for k, x in enumerate(self._sents):
                self._members.setdefault(x.para, []).append(k)
        return self._members.get(para, [])

    def russian_side(self, lead: bool = False) -> bool:
        """The title (or, with ``lead``, the lead paragraph) speaks for Russia's air defence ("Russian air
        defences down 3,924 drones", "Russian air defence systems intercepted ... the ministry reported")."""
        sents = self._title + ([x for x in self._sents if x.para == 1] if lead else [])
        return any(x.russian for x in sents)

    def title_local(self) -> str | None:
        return self._get("tl", lambda: next((p for x in self._title if (p := _best_place(x.places, 0, _LOCAL))),
                                            None))

    def title_country(self) -> str | None:
        return self._get("tc", lambda: next(
            (p for x in self._title if (p := _best_place(x.places, 0, ("country",)))), None))

    def article_local(self) -> str | None:
        def first_local():
            for pi in range(1, len(self._paragraphs)):
                if not self._paragraphs[pi].strip():
                    continue
                xs = ([self._sents[k] for k in self.paragraph_members(pi)] if pi in self._done
                      else self._split(pi))
                for x in xs:
                    p = _best_place(x.places, 0, _LOCAL)
                    if p:
                        return p
            return None

        return self._get("al", first_local)


def _dedupe(figs: list[Figure]) -> list[Figure]:
    out: list[Figure] = []
    same: dict[tuple, list[int]] = {}  # (metric, value, scope, night) -> indices in out
    for f in figs:
        merged = False
        key = (f.metric, f.value, f.scope, f.night)
        for k in same.get(key, ()):
            g = out[k]
            g_specific = g.location is not None and g.location not in _SPECIFIC
            f_specific = f.location is not None and f.location not in _SPECIFIC
            if g_specific and f_specific and g.location != f.location:
                continue
            loc = g.location
            if (f_specific and not g_specific) or (g.location is None and f.location):
                loc = f.location
            out[k] = Figure(metric=g.metric, value=g.value, qualifier=g.qualifier, scope=g.scope,
                            record=g.record or f.record, location=loc, sentence=g.sentence, night=g.night)
            merged = True
            break
        if not merged:
            same.setdefault(key, []).append(len(out))
            out.append(f)
    return out
