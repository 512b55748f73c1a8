"""Number tokens in English news text: digits with separators ("1,200"), number words ("forty-seven",
"two hundred and fifty", "a dozen") and ranges ("between 10 and 12", "10-12", "10 to 12").

``find_numbers(text)`` returns :class:`NumberToken` objects in text order; it never raises.
Which numbers are *figures* is decided later (crawler.figures) from the words around them."""

from __future__ import annotations

import re
from dataclasses import dataclass

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
_DIGITS = r"(?<![\w$€£#/.,:-])(?:\d{1,3}(?:,\d{3})+|\d+)(?![\w%]|[.,:]\d|[-–]\w|\s?(?:%|per\s?cent))"
_NUM = r"(?:" + _DIGITS + r"|" + _WORDS + r")"

_RANGE_RE = re.compile(
    r"(?:\bbetween\s+(?P<a1>" + _NUM + r")\s+and\s+(?P<b1>" + _NUM + r"))"
    r"|(?:(?<![\w$€£#/.,:-])(?P<a2>\d{1,3}(?:,\d{3})+|\d+)\s?[-–]\s?(?P<b2>\d{1,3}(?:,\d{3})+|\d+)(?![\w%]|[.,:]\d))"
    r"|(?:\b(?P<a3>" + _NUM + r")\s+to\s+(?P<b3>" + _NUM + r")\b)",
    re.IGNORECASE,
)
_NUM_RE = re.compile(_NUM, re.IGNORECASE)


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


def find_numbers(text: str) -> list[NumberToken]:
    """All number tokens, ranges first claimed so "10-12" is one token with value 10 and high 12."""
    out: list[NumberToken] = []
    taken: list[tuple[int, int]] = []
    for m in _RANGE_RE.finditer(text):
        a = m.group("a1") or m.group("a2") or m.group("a3")
        b = m.group("b1") or m.group("b2") or m.group("b3")
        va, vb = parse_number(a), parse_number(b)
        if va is None or vb is None or vb <= va:
            continue
        if m.group("a3") and re.search(r"\bfrom\s+$", text[max(0, m.start() - 6) : m.start()], re.I):
            continue  # "rose from 12 to 15" is a change, not a range
        out.append(NumberToken(m.start(), m.end(), va, vb, is_word=not a[0].isdigit()))
        taken.append((m.start(), m.end()))
    for m in _NUM_RE.finditer(text):
        if any(s <= m.start() < e for s, e in taken):
            continue
        s = m.group(0)
        v = parse_number(s)
        if v is None:
            continue
        out.append(NumberToken(m.start(), m.end(), v, None, is_word=not s[0].isdigit()))
    out.sort(key=lambda t: t.start)
    return out
