"""``tallywatch extract [--format jsonl|table] FILE...``: print the figures found in article files."""

from __future__ import annotations

import json
import sys

from crawler.corpus import read_article_file
from crawler.figures import extract_figures

COLUMNS = ("article", "metric", "value", "qualifier", "scope", "record", "location", "night", "sentence")


def _rows(files: list[str]):
    """(row dict | None, error message | None) per figure / unreadable file, in order."""
    for path in files:
        try:
            art = read_article_file(path)
        except UnicodeDecodeError as e:
            yield None, f"tallywatch extract: {path}: not UTF-8 text ({e.reason} at byte {e.start})"
            continue
        except OSError as e:
            yield None, f"tallywatch extract: {path}: cannot read: {e.strerror or e}"
            continue
        for f in extract_figures(art.title, art.body, art.date):
            row = {
                "article": art.stem,
                "metric": f.metric,
                "value": int(f.value),
                "qualifier": f.qualifier,
                "scope": f.scope,
                "record": f.record,
                "location": f.location,
                "sentence": f.sentence,
            }
            if f.night is not None:
                row["night"] = f.night.isoformat()
            yield row, None


def cmd_extract(files: list[str], fmt: str = "jsonl", out=None, err=None) -> int:
    """Print figures as JSON lines or an aligned table. Returns 1 if any file could not be read."""
    out = out or sys.stdout
    err = err or sys.stderr
    failed = False
    rows: list[dict] = []
    for row, error in _rows(files):
        if error:
            failed = True
            print(error, file=err)
            continue
        if fmt == "jsonl":
            print(json.dumps(row, ensure_ascii=False), file=out)
        else:
            rows.append(row)
    if fmt != "jsonl":
        _print_table(rows, out)
    return 1 if failed else 0


def _cell(row: dict, col: str) -> str:
    v = row.get(col)
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else ""
    s = str(v)
    return s if col != "sentence" or len(s) <= 70 else s[:67] + "..."


def _print_table(rows: list[dict], out) -> None:
    if not rows:
        print("(no figures)", file=out)
        return
    cells = [[_cell(r, c) for c in COLUMNS] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(COLUMNS)]
    right = {"value"}

    def line(vals):
        parts = [v.rjust(w) if c in right else v.ljust(w) for c, v, w in zip(COLUMNS, vals, widths, strict=True)]
        return "  ".join(parts).rstrip()

    print(line(list(COLUMNS)), file=out)
    print(line(["-" * w for w in widths]), file=out)
    for row in cells:
        print(line(row), file=out)
