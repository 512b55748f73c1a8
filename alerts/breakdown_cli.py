"""``tallywatch breakdown [--format json|table] FILE...``: the events a set of article files report.

Each file (corpus format, see crawler/corpus.py) goes through the pipeline's own extraction
(:func:`crawler.figures.extract_figures`) and grouping (:mod:`alerts.grouping`); no Redis is needed.
Files with the same URL are versions of one article, in the order given. A verbatim copy of another
file (same text) is skipped, as the crawler's dedup would. An unreadable file is reported on stderr
and the others are still processed; the exit code is then 1.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import datetime
from pathlib import Path

from alerts.breakdown import EventSet
from alerts.grouping import NIGHT_TZ, date_only_published
from tallywatch.models import Article

_DATE_RE = re.compile(r"^DATE:\s*(.+)$", re.M)


def _published(text: str, day) -> datetime | None:
    head = text.split("\n\n", 1)[0]
    m = _DATE_RE.search(head)
    if m:
        try:
            when = datetime.fromisoformat(m.group(1).strip())
        except ValueError:
            when = None
        if when is not None and len(m.group(1).strip()) > 10:  # a time was given
            return when if when.tzinfo else when.replace(tzinfo=NIGHT_TZ)
    return date_only_published(day) if day else None


def read_articles(files: list[str], err) -> tuple[dict[str, list[Article]], list[dict], bool]:
    """(histories by article id, skipped copies, whether any file failed)."""
    from crawler.corpus import parse_article_text
    from crawler.figures import extract_figures

    histories: dict[str, list[Article]] = {}
    seen: dict[str, str] = {}
    copies: list[dict] = []
    failed = False
    for path in files:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            print(f"tallywatch breakdown: {path}: not UTF-8 text ({e.reason} at byte {e.start})", file=err)
            failed = True
            continue
        except OSError as e:
            print(f"tallywatch breakdown: {path}: cannot read: {e.strerror or e}", file=err)
            failed = True
            continue
        af = parse_article_text(text, stem=Path(path).stem)
        art = Article(url=af.url or Path(path).resolve().as_uri(), outlet=af.outlet or af.stem, source_id=af.stem,
                      title=af.title, body=af.body, published=_published(text, af.date))
        if art.fingerprint in seen and seen[art.fingerprint] != art.url:
            copies.append({"file": str(path), "copy_of": seen[art.fingerprint]})
            continue
        seen.setdefault(art.fingerprint, art.url)
        try:
            art.figures = extract_figures(art.title, art.body, af.date)
        except Exception as e:  # noqa: BLE001 - one bad file must not stop the others
            print(f"tallywatch breakdown: {path}: extraction failed: {type(e).__name__}: {e}", file=err)
            failed = True
            continue
        versions = histories.setdefault(art.id, [])
        if versions and versions[-1].fingerprint == art.fingerprint:
            continue  # the same version given twice
        art.version = len(versions) + 1
        versions.append(art)
    return histories, copies, failed


def cmd_breakdown(files: list[str], fmt: str = "table", out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    histories, copies, failed = read_articles(files, err)
    events = EventSet(histories)
    found = [events.breakdown(e.id) for e in events.ordered()]
    if fmt == "json":
        json.dump({"events": found, "copies_skipped": copies}, out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        print_table(found, copies, out)
    return 1 if failed else 0


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def print_table(events: list[dict], copies: list[dict], out) -> None:
    if not events:
        print("(no events)", file=out)
    for ev in events:
        print(f"EVENT {ev['id']}  {ev['title']}  [{ev['level']}]", file=out)
        if len(ev["names"]) > 1 or (ev["names"] and ev["names"][0] != ev["place"]):
            print(f"  named as: {', '.join(ev['names'])}", file=out)
        for a in ev["articles"]:
            vs = f", {a['versions']} versions" if a["versions"] > 1 else ""
            print(f"  article: {a['outlet']}: {_cut(a['title'], 70)} <{a['url']}> ({a['published'] or '?'}{vs})",
                  file=out)
        rows = []
        for m in ev["metrics"]:
            for r in m["reports"]:
                flag = ("DIVERGING" if r["diverging"] else "retracted" if r["retracted"]
                        else "superseded" if r["superseded"] else "")
                hist = r["timeline_text"] if len(r["timeline"]) > 1 else ""
                rows.append((m["label"], r["outlet"], r["text"] + (" (record)" if r["record"] else ""), flag, hist))
            c = m["consensus"]
            extra = f"; preferred {c['preferred']['text']}" if "preferred" in c else ""
            rows.append(("", "→ consensus", f"{c['text']}", c["status"], f"{c['basis']}{extra}"))
        if rows:
            widths = [max(len(r[i]) for r in rows) for i in range(4)]
            head = ("metric", "outlet", "value", "flag")
            widths = [max(w, len(h)) for w, h in zip(widths, head, strict=True)]
            print("  " + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + "  history", file=out)
            for r in rows:
                print(("  " + "  ".join(v.ljust(w) for v, w in zip(r[:4], widths, strict=True)) + "  " + r[4]).rstrip(),
                      file=out)
        for d in ev["divergences"]:
            a, b = d["reports"]
            print(f"  divergence: {d['label']}: {a['outlet']} {a['text']} vs {b['outlet']} {b['text']}", file=out)
        print(file=out)
    for c in copies:
        print(f"skipped {c['file']}: a copy of {c['copy_of']}", file=out)
