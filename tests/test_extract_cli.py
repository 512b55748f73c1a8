"""`tallywatch extract`: JSON lines and table output, unreadable files reported, exit codes."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

from crawler.extract_cli import cmd_extract

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT.parent / "shared" / "corpus" / "seed"

ARTICLE = """URL: https://example.invalid/a
OUTLET: Test
DATE: 2025-07-04
TITLE: Drones hit Odesa

Russia launched 60 drones at Odesa overnight, injuring at least 7 people.
Five days ago, Russia fired a record 540 drones at Ukraine.
"""


def run(files, fmt="jsonl"):
    out, err = io.StringIO(), io.StringIO()
    rc = cmd_extract([str(f) for f in files], fmt, out=out, err=err)
    return rc, out.getvalue(), err.getvalue()


def test_jsonl_fields(tmp_path):
    f = tmp_path / "odesa-drones.txt"
    f.write_text(ARTICLE, encoding="utf-8")
    rc, out, err = run([f])
    assert rc == 0 and err == ""
    rows = [json.loads(line) for line in out.splitlines()]
    base = {"article", "metric", "value", "qualifier", "scope", "record", "location", "sentence"}
    assert all(base <= set(r) <= base | {"night"} for r in rows)
    by_value = {r["value"]: r for r in rows}
    assert by_value[60]["metric"] == "drones_launched" and by_value[60]["location"] == "Odesa"
    assert "night" not in by_value[60]
    assert (by_value[7]["metric"], by_value[7]["qualifier"], by_value[7]["article"]) == (
        "injured", "at_least", "odesa-drones")
    assert by_value[540]["record"] is True and by_value[540]["night"] == "2025-06-29"
    assert isinstance(by_value[540]["value"], int)


def test_unreadable_files_are_reported_and_the_rest_processed(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text(ARTICLE, encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"TITLE: x\n\n\xff\xfe drones")
    missing = tmp_path / "missing.txt"
    rc, out, err = run([bad, missing, good])
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert "bad.txt" in lines[0] and "UTF-8" in lines[0]
    assert "missing.txt" in lines[1]
    assert len(out.splitlines()) == 3  # the good file still processed


def test_table_is_aligned(tmp_path):
    f = tmp_path / "odesa-drones.txt"
    f.write_text(ARTICLE, encoding="utf-8")
    rc, out, _ = run([f], "table")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["article", "metric", "value", "qualifier"]
    col = lines[0].index("metric")
    assert all(line[col - 2 : col] == "  " for line in lines[2:])
    assert len(lines) == 2 + 3


def test_table_without_figures(tmp_path):
    f = tmp_path / "empty.txt"
    f.write_text("TITLE: Nothing\n\nTrump spoke to Putin for an hour.\n", encoding="utf-8")
    assert run([f], "table") == (0, "(no figures)\n", "")


def test_seed_through_the_command_line():
    if not SEED.is_dir():
        return
    files = sorted(str(p) for p in SEED.glob("*.txt"))
    proc = subprocess.run([sys.executable, "-m", "scheduler.cli", "extract", *files], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 13
    assert {r["article"] for r in rows} == {"cnn-record-drones", "guardian-briefing-no-progress"}
