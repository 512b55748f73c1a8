"""Number tokens in English news text: digits with separators ("1,200"), number words ("forty-seven",
"two hundred and fifty", "a dozen") and ranges ("between 10 and 12", "10-12", "10 to 12").

``find_numbers(text)`` returns :class:`NumberToken` objects in text order; it never raises.
Which numbers are *figures* is decided later (crawler.figures) from the words around them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from text_to_num import text2num

_UNITS = (
    "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_UNIT_VALUE = {w: i + 1 for i, w in enumerate(_UNITS)}
_TENS_VALUE = {w: (i + 2) * 10 for i, w in enumerate(_TENS)}

_W = (
    r"(?:(?:" + "|".join(_TENS) + r")(?:[- ](?:" + "|".join(_UNITS[:9]) + r"))?"
    r"|" + "|".join(sorted(_UNITS, key=len, reverse=True)) + r"|hundred|thousand|dozen)"
)
# "and" only joins after hundred/thousand ("two hundred and fifty"), so "ten and twelve" stays two numbers
_WORDS = (
    r"(?:\ba\s+(?=(?:dozen|hundred|thousand)\b)|\bhalf\s+a\s+(?=dozen\b))?"
    r"\b" + _W + r"(?:(?:(?:(?<=hundred)|(?<=thousand))\s+and\s+|[\s-]+)" + _W + r")*\b(?!-)"
)
# digits: not inside words or codes ("F-16", "Kh-101", "Shahed-136", "18:00", "2.9", "$50", "20%"); a hyphen
# followed by a digit is allowed, so "10-12" yields 10 and 12 and the range is read from the gap.
_DIGITS = (r"(?=\d)(?<![\w$€£#/.,:])(?<![A-Za-z]-)(?<![A-Za-z]–)(?:\d{1,3}(?:,\d{3})+|\d+)"
           r"(?![\w%]|[.,:]\d|[-–][A-Za-z]|\s?(?:%|per\s?cent))")
_NUM = r"(?:" + _DIGITS + r"|" + _WORDS + r")"
_NUM_RE = re.compile(_NUM, re.IGNORECASE)
_DIGITS_RE = re.compile(_DIGITS)
_WORDS_RE = re.compile(_WORDS, re.IGNORECASE)
# Speed: Python's regex engine cannot skip ahead on a case-insensitive pattern or one that opens with an
# optional group, so _WORDS_RE tries every position of the sentence. Instead, the places where a token can
# start are found first with cheap case-sensitive scans of the lower-cased text (digit runs; number words
# and the "a"/"half a" before "dozen"/"hundred"/"thousand"), and the full patterns are only tried there.
_WORDS_LOW_RE = re.compile(_WORDS)  # on lower-cased text
_DIGIT_RUN_RE = re.compile(r"\d+")
_WORD_START = (r"half\s+a\s+(?=dozen\b)|a\s+(?=(?:dozen|hundred|thousand)\b)|"
               + "|".join(_UNITS + _TENS + ["hundred", "thousand", "dozen"]))
# a token starts at the text's start or right after a non-word character (what \b means before a letter); a
# leading \W lets the engine skip ahead, a leading \b does not
_WORD_START_RE = re.compile(r"(?:" + _WORD_START + r")")
_WORD_AFTER_RE = re.compile(r"\W(?=" + _WORD_START + r")")
_NUMBER_WORDS = frozenset(_UNITS + _TENS + ["hundred", "thousand", "dozen"])
_LETTERS_RE = re.compile(r"[a-z]+")
_DIGIT_RE = re.compile(r"\d")
_GAP_TO_RE = re.compile(r"^\s+to\s+$", re.IGNORECASE)
_GAP_DASH_RE = re.compile(r"^\s?[-–]\s?$")
_GAP_AND_RE = re.compile(r"^\s+and\s+$", re.IGNORECASE)
_BETWEEN_RE = re.compile(r"\bbetween\s+$", re.IGNORECASE)
_FROM_RE = re.compile(r"\bfrom\s+$", re.IGNORECASE)


@dataclass(frozen=True)
class NumberToken:
    start: int  # span in the text (whole range for ranges)
    end: int
    value: int
    high: int | None = None  # upper bound of a range
    is_word: bool = False  # written in words ("two"), digits otherwise


def word_value(words: str) -> int | None:
    """Value of a run of number words, or None. "a dozen" -> 12, "two dozen" -> 24."""
    w = re.sub(r"[\s-]+", " ", words.strip().lower())
    if not w:
        return None
    if w == "half a dozen":
        return 6
    mult = 1
    if w.endswith("dozen"):
        mult = 12
        w = w[: -len("dozen")].strip()
        if w in ("", "a"):
            return mult
    if w.startswith("a "):
        w = "one " + w[2:]
    if "dozen" in w:
        return None
    try:
        v = text2num(w, "en")
    except Exception:  # noqa: BLE001 - text2num raises ValueError and friends on odd input
        v = _fallback(w)
    if v is None or v <= 0:
        return None
    return int(v) * mult


def _fallback(w: str) -> int | None:
    total = current = 0
    for tok in w.replace(" and ", " ").split():
        if tok in _UNIT_VALUE:
            current += _UNIT_VALUE[tok]
        elif tok in _TENS_VALUE:
            current += _TENS_VALUE[tok]
        elif tok == "hundred":
            current = max(current, 1) * 100
        elif tok == "thousand":
            total += max(current, 1) * 1000
            current = 0
        else:
            return None
    return total + current or None


def parse_number(s: str) -> int | None:
    s = s.strip()
    if not s:
        return None
    if s[0].isdigit():
        try:
            return int(s.replace(",", ""))
        except ValueError:
            return None
    return word_value(s)


def has_number(text: str) -> bool:
    """Whether the text holds a digit or a number word at all (a cheap pre-check)."""
    if _DIGIT_RE.search(text):
        return True
    return not _NUMBER_WORDS.isdisjoint(_LETTERS_RE.findall(text.lower()))


@lru_cache(maxsize=4096)
def _word_value_cached(words: str) -> int | None:
    return word_value(words)


def _matches(text: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of single number tokens, in order: what _DIGITS_RE and _WORDS_RE (finditer, merged)
    find, tried only where a token can start."""
    out: list[tuple[int, int, str]] = []
    end = 0
    if _DIGIT_RE.search(text):
        for r in _DIGIT_RUN_RE.finditer(text):
            if r.start() < end:
                continue
            m = _DIGITS_RE.match(text, r.start())
            if m:
                out.append((m.start(), m.end(), m.group(0)))
                end = m.end()
    low = text.lower()
    if len(low) != len(text):  # a lower-casing that changes length (rare letters): the plain scan
        words = [(m.start(), m.end(), m.group(0)) for m in _WORDS_RE.finditer(text)]
    else:
        words = []
        pos = 0
        starts = [0] if _WORD_START_RE.match(low) else []
        starts += [c.end() for c in _WORD_AFTER_RE.finditer(low)]
        for i in starts:
            if i < pos:
                continue
            m = _WORDS_LOW_RE.match(low, i)
            if m:
                words.append((m.start(), m.end(), text[m.start() : m.end()]))
                pos = m.end()
    if words:
        out = sorted(out + words, key=lambda x: x[0]) if out else words
    return out


def find_numbers(text: str) -> list[NumberToken]:
    """All number tokens in text order; a range ("between 10 and 12", "10-12", "ten to twelve") is one
    token with value 10 and high 12. "rose from 12 to 15" is a change, not a range."""
    singles: list[NumberToken] = []
    for start, end, s in _matches(text):
        if s[0].isdigit():
            v = int(s.replace(",", ""))
            singles.append(NumberToken(start, end, v, None, is_word=False))
        else:
            v = _word_value_cached(s.strip().lower())
            if v is not None:
                singles.append(NumberToken(start, end, v, None, is_word=True))
    out: list[NumberToken] = []
    i = 0
    while i < len(singles):
        a = singles[i]
        if i + 1 < len(singles):
            b = singles[i + 1]
            gap = text[a.end : b.start]
            before = text[max(0, a.start - 10) : a.start]
            is_range = b.value > a.value and (
                (_GAP_AND_RE.match(gap) and _BETWEEN_RE.search(before))
                or (_GAP_TO_RE.match(gap) and not _FROM_RE.search(before))
                or (_GAP_DASH_RE.match(gap) and not a.is_word and not b.is_word)
            )
            if is_range:
                start = a.start - (len(before) - _BETWEEN_RE.search(before).start()) if _BETWEEN_RE.search(
                    before) else a.start
                out.append(NumberToken(start, b.end, a.value, b.value, is_word=a.is_word))
                i += 2
                continue
        out.append(a)
        i += 1
    return out
