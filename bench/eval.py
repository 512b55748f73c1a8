"""Score figure extraction against hand-written gold: the seed corpus and corpus/dev.

    .venv/bin/python bench/eval.py [-v] [CORPUS_DIR ...]

For each corpus, over unique (article, metric, value, scope):
  precision, recall, F1; record precision and recall (figures marked record=true);
  qualifier and location accuracy over the figures found and also in gold.
The same table is printed for a plain regex baseline (number + weapon/people noun + a keyword found
anywhere in the sentence), so the gap the engine closes is visible. -v lists every miss and extra."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.corpus import read_article_file  # noqa: E402
from crawler.figures import extract_figures  # noqa: E402

DEFAULT_CORPORA = [ROOT.parent / "shared" / "corpus" / "seed", ROOT / "corpus" / "dev"]


@dataclass(frozen=True)
class Row:
    article: str
    metric: str
    value: int
    qualifier: str
    scope: str
    record: bool
    location: str | None

    @property
    def key(self):
        return (self.article, self.metric, self.value, self.scope)


def load_gold(corpus: Path) -> dict[tuple, Row]:
    gold: dict[tuple, Row] = {}
    for line in (corpus / "gold.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            r = Row(d["article"], d["metric"], int(d["value"]), d.get("qualifier", "exact"),
                    d.get("scope", "event"), bool(d.get("record", False)), d.get("location"))
            gold.setdefault(r.key, r)
    return gold


# ------------------------------------------------------------------ baseline
_B_NUM = re.compile(r"(?<![\w$€£.,:-])(\d{1,3}(?:,\d{3})+|\d+)(?![\w%]|[.,:]\d)")
_B_NOUN = re.compile(
    r"^\s+(?:\S+\s+){0,2}?(drones?|uavs?|shaheds?|missiles?|bombs?|people|civilians|persons?|residents)\b", re.I)
_B_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
            "ten": 10, "eleven": 11, "twelve": 12}
_B_WORD_NUM = re.compile(r"\b(" + "|".join(_B_WORDS) + r")\b", re.I)


def baseline_figures(title: str, body: str) -> list[tuple[str, int, str, str, bool, str | None]]:
    """A first-attempt extractor: numbers followed (within two words) by a weapon or people noun, the
    metric from keywords anywhere in the sentence, qualifier from the two words before the number."""
    out = []
    for sent in re.split(r"(?<=[.!?])\s+|\n", f"{title}\n{body}"):
        low = sent.lower()
        nums = [(m.start(), m.end(), int(m.group(1).replace(",", ""))) for m in _B_NUM.finditer(sent)]
        nums += [(m.start(), m.end(), _B_WORDS[m.group(1).lower()]) for m in _B_WORD_NUM.finditer(sent)]
        for start, end, value in nums:
            nm = _B_NOUN.match(sent[end:])
            if not nm:
                continue
            noun = nm.group(1).lower()
            if noun.startswith(("drone", "uav", "shahed")):
                kind = "drones"
            elif noun.startswith("missile"):
                kind = "missiles"
            elif noun.startswith("bomb"):
                kind = "glide_bombs"
            else:
                kind = "people"
            if kind == "people":
                if re.search(r"\bkill|\bdead|\bdied", low):
                    metric = "killed"
                elif re.search(r"injur|wound|hurt", low):
                    metric = "injured"
                else:
                    continue
            elif re.search(r"intercept|shot down|downed|destroyed", low) and kind != "glide_bombs":
                metric = f"{kind}_intercepted"
            else:
                metric = f"{kind}_launched"
            before = low[max(0, start - 15) : start]
            qual = ("at_least" if "at least" in before else "more_than" if re.search(r"more than|over", before)
                    else "approx" if re.search(r"nearly|about|around|some|almost|roughly", before)
                    else "up_to" if "up to" in before else "exact")
            scope = "aggregate" if re.search(r"\b(?:since|this week|this month|in (?:january|february|march|"
                                             r"april|may|june|july|august|september|october|november|"
                                             r"december))\b", low) else "event"
            out.append((metric, value, qual, scope, "record" in low, None))
    return out


# ------------------------------------------------------------------ scoring
@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    rec_tp: int = 0
    rec_fp: int = 0
    rec_fn: int = 0
    qual_ok: int = 0
    loc_ok: int = 0
    matched: int = 0

    def add(self, other: Score) -> None:
        for k in self.__dataclass_fields__:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    @staticmethod
    def ratio(a: int, b: int) -> float:
        return a / b if b else 1.0

    @property
    def precision(self):
        return self.ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self):
        return self.ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self):
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def score(gold: dict[tuple, Row], pred: dict[tuple, Row], log: list[str] | None = None) -> Score:
    s = Score()
    for k, g in gold.items():
        p = pred.get(k)
        if p is None:
            s.fn += 1
            if g.record:
                s.rec_fn += 1
            if log is not None:
                log.append(f"  MISS  {k}")
            continue
        s.tp += 1
        s.matched += 1
        s.qual_ok += p.qualifier == g.qualifier
        s.loc_ok += p.location == g.location
        if g.record and p.record:
            s.rec_tp += 1
        elif g.record:
            s.rec_fn += 1
        elif p.record:
            s.rec_fp += 1
        if log is not None:
            if p.qualifier != g.qualifier:
                log.append(f"  QUAL  {k}: {p.qualifier} (gold {g.qualifier})")
            if p.record != g.record:
                log.append(f"  REC   {k}: {p.record} (gold {g.record})")
            if p.location != g.location:
                log.append(f"  LOC   {k}: {p.location} (gold {g.location})")
    for k, p in pred.items():
        if k not in gold:
            s.fp += 1
            if p.record:
                s.rec_fp += 1
            if log is not None:
                log.append(f"  EXTRA {k}")
    return s


def run_corpus(corpus: Path, verbose: bool) -> tuple[Score, Score, int, float]:
    gold = load_gold(corpus)
    files = sorted(corpus.glob("*.txt"))
    ours: dict[tuple, Row] = {}
    base: dict[tuple, Row] = {}
    elapsed = 0.0
    for f in files:
        art = read_article_file(f)
        t0 = time.perf_counter()
        figs = extract_figures(art.title, art.body, art.date)
        elapsed += time.perf_counter() - t0
        for x in figs:
            r = Row(art.stem, x.metric, x.value, x.qualifier, x.scope, x.record, x.location)
            ours.setdefault(r.key, r)
        for m, v, q, sc, rec, loc in baseline_figures(art.title, art.body):
            r = Row(art.stem, m, v, q, sc, rec, loc)
            base.setdefault(r.key, r)
    log: list[str] | None = [] if verbose else None
    s_ours = score(gold, ours, log)
    if verbose and log:
        print(f"--- {corpus}: engine errors")
        print("\n".join(log))
    return s_ours, score(gold, base), len(files), elapsed


def fmt_row(name: str, corpus: str, s: Score, n_gold: int) -> str:
    rp = Score.ratio(s.rec_tp, s.rec_tp + s.rec_fp)
    rr = Score.ratio(s.rec_tp, s.rec_tp + s.rec_fn)
    qa = Score.ratio(s.qual_ok, s.matched)
    la = Score.ratio(s.loc_ok, s.matched)
    return (f"{corpus:<7} {name:<9} {n_gold:>5} {s.tp:>4} {s.fp:>4} {s.fn:>4}  {s.precision:6.3f} {s.recall:6.3f}"
            f" {s.f1:6.3f}   {rp:6.3f} {rr:6.3f}   {qa:6.3f}  {la:6.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("corpora", nargs="*", type=Path, default=DEFAULT_CORPORA)
    ap.add_argument("-v", "--verbose", action="store_true", help="list misses, extras, wrong fields")
    args = ap.parse_args(argv)
    header = (f"{'corpus':<7} {'system':<9} {'gold':>5} {'tp':>4} {'fp':>4} {'fn':>4}  {'P':>6} {'R':>6} {'F1':>6}"
              f"   {'recP':>6} {'recR':>6}   {'qual':>6}  {'loc':>6}")
    lines = []
    ok = True
    for corpus in args.corpora:
        if not (corpus / "gold.jsonl").is_file():
            print(f"eval: no gold.jsonl in {corpus}", file=sys.stderr)
            ok = False
            continue
        s_ours, s_base, n, elapsed = run_corpus(corpus, args.verbose)
        n_gold = s_ours.tp + s_ours.fn
        lines.append(fmt_row("engine", corpus.name, s_ours, n_gold))
        lines.append(fmt_row("baseline", corpus.name, s_base, n_gold))
        lines.append(f"        ({n} articles, engine {elapsed * 1000:.1f} ms in total)")
    print(header)
    print("-" * len(header))
    print("\n".join(lines))
    print("\nP/R/F1 over unique (article, metric, value, scope); recP/recR: record flag; "
          "qual/loc: qualifier and location accuracy over matched figures.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
