"""Extraction speed and memory on typical ~600-word articles, one core.

    .venv/bin/python bench/extract.py [--seconds 5] [--words 600] [--against REV]

Two sets: "real" is the seed corpus (five real news reports, 300-860 words, as published: mostly prose
with a few figures), "dense" is every seed and dev article extended with paragraphs of other corpus
articles to ~600 words (about 20 figures an article: a worst case, far denser than real reports).
Throughput is counted in CPU time of this process (one core), so other load on the machine does not
count against it; wall time is printed too. Also: per-article latency, figures per article, the one-off
gazetteer load time, and peak memory (tracemalloc peak of one pass, and the process max RSS).

--against REV loads the extraction engine of git revision REV (crawler/*.py as committed there) into this
process next to the working tree's, checks that both give identical figures on every article of both sets
(all fields, sentence included), then times them in alternating rounds, so the speed ratio is measured
under the same machine load (the machine is shared and noisy)."""

from __future__ import annotations

import argparse
import importlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.corpus import read_article_file  # noqa: E402
from crawler.figures import extract_figures  # noqa: E402
from crawler.places import gazetteer  # noqa: E402

CORPORA = [ROOT.parent / "shared" / "corpus" / "seed", ROOT / "corpus" / "dev"]


def real_articles() -> list[tuple[str, str, object]]:
    seed = CORPORA[0]
    return [(a.title, a.body, a.date) for a in (read_article_file(f) for f in sorted(seed.glob("*.txt")))]


def build_articles(words: int) -> list[tuple[str, str, object]]:
    arts = [read_article_file(f) for c in CORPORA if c.is_dir() for f in sorted(c.glob("*.txt"))]
    paras = [p for a in arts for p in a.body.split("\n") if p.strip()]
    out = []
    for i, a in enumerate(arts):
        body = a.body.split("\n")
        j = i
        while len(" ".join(body).split()) < words:
            body.append(paras[j % len(paras)])
            j += 7
        out.append((a.title, "\n".join(body), a.date))
    return out


def measure(name: str, articles: list, seconds: float) -> None:
    n_words = [len(f"{t} {b}".split()) for t, b, _ in articles]
    for t, b, d in articles:  # warm-up (regex caches)
        extract_figures(t, b, d)
    lat: list[float] = []
    figures = done = words = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - wall0 < seconds:
        for (t, b, d), w in zip(articles, n_words, strict=True):
            a = time.process_time()
            figures += len(extract_figures(t, b, d))
            lat.append(time.process_time() - a)
            done += 1
            words += w
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    lat.sort()
    print(f"[{name}] {len(articles)} articles, mean {statistics.mean(n_words):.0f} words, "
          f"{figures / done:.1f} figures/article")
    print(f"  throughput: {done / cpu:,.0f} articles/s ({words / cpu:,.0f} words/s) per CPU second; "
          f"wall {done / wall:,.0f}/s")
    med, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
    print(f"  latency:    median {med:.2f} ms, p99 {p99:.2f} ms (CPU)")


def load_revision(rev: str):
    """extract_figures of the crawler package at git revision ``rev``, imported as a separate package."""
    tmp = Path(tempfile.mkdtemp(prefix="tw-extract-"))
    pkg = tmp / "crawler_rev"
    pkg.mkdir()
    names = subprocess.run(["git", "-C", str(ROOT), "ls-tree", "--name-only", f"{rev}:crawler"],
                           check=True, capture_output=True, text=True).stdout.split()
    for name in names:
        if name.endswith(".py"):
            src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:crawler/{name}"],
                                 check=True, capture_output=True, text=True).stdout
            src = src.replace("from crawler import", "from crawler_rev import").replace("from crawler.",
                                                                                      "from crawler_rev.")
            (pkg / name).write_text(src, encoding="utf-8")
    sys.path.insert(0, str(tmp))
    mod = importlib.import_module("crawler_rev.figures")
    importlib.import_module("crawler_rev.places").gazetteer()
    return mod.extract_figures


def compare(rev: str, sets: list[tuple[str, list]], seconds: float) -> None:
    old = load_revision(rev)
    for name, arts in sets:
        diff = sum(1 for t, b, d in arts if old(t, b, d) != extract_figures(t, b, d))
        print(f"[{name}] identical figures to {rev}: {len(arts) - diff}/{len(arts)} articles")
    for name, arts in sets:
        cpu = {"old": 0.0, "new": 0.0}
        done = {"old": 0, "new": 0}
        wall0 = time.perf_counter()
        rounds = 0
        while time.perf_counter() - wall0 < 2 * seconds:
            for t, b, d in arts:  # article by article, the two engines in turn (order swapped each round)
                for key, fn in (("old", old), ("new", extract_figures)) if rounds % 2 == 0 else (
                        ("new", extract_figures), ("old", old)):
                    c0 = time.process_time()
                    fn(t, b, d)
                    cpu[key] += time.process_time() - c0
                    done[key] += 1
            rounds += 1
        o, n = done["old"] / cpu["old"], done["new"] / cpu["new"]
        print(f"[{name}] {rev}: {o:,.0f} articles/s   working tree: {n:,.0f} articles/s   "
              f"ratio {n / o:.2f}x  ({rounds} alternating rounds)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="how long to run the timed loop")
    ap.add_argument("--words", type=int, default=600, help="target article length in words")
    ap.add_argument("--against", metavar="REV", help="also time git revision REV's engine, alternating")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    gazetteer()
    load = time.perf_counter() - t0
    articles = build_articles(args.words)
    print(f"gazetteer load:      {load * 1000:.0f} ms once per process")
    real = real_articles()
    for name, arts in (("real", real), ("dense", articles)):
        if arts:
            measure(name, arts, args.seconds)
    if args.against:
        compare(args.against, [("real", real), ("dense", articles)], args.seconds)
    tracemalloc.start()
    for t, b, d in articles:
        extract_figures(t, b, d)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    print(f"memory:              tracemalloc peak {peak / 1e6:.2f} MB per pass; process max RSS {rss_kb / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
