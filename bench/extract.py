"""Extraction speed and memory on typical ~600-word articles, one core.

    .venv/bin/python bench/extract.py [--seconds 5] [--words 600]

Articles are built from the seed and dev corpora: each corpus article's body is extended with paragraphs
of the next articles until it reaches ~600 words (so the mix of figure-dense and figure-free text is the
corpora's). Prints articles/s, words/s, per-article latency, figures per article, the one-off gazetteer
load time, and peak memory (tracemalloc peak of one pass, and the process max RSS)."""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.corpus import read_article_file  # noqa: E402
from crawler.figures import extract_figures  # noqa: E402
from crawler.places import gazetteer  # noqa: E402

CORPORA = [ROOT.parent / "shared" / "corpus" / "seed", ROOT / "corpus" / "dev"]


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0, help="how long to run the timed loop")
    ap.add_argument("--words", type=int, default=600, help="target article length in words")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    gazetteer()
    load = time.perf_counter() - t0
    articles = build_articles(args.words)
    n_words = [len(f"{t} {b}".split()) for t, b, _ in articles]
    for t, b, d in articles:  # warm-up (regex compilation, caches)
        extract_figures(t, b, d)

    lat: list[float] = []
    figures = 0
    done = 0
    words = 0
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        for (t, b, d), w in zip(articles, n_words, strict=True):
            a = time.perf_counter()
            figures += len(extract_figures(t, b, d))
            lat.append(time.perf_counter() - a)
            done += 1
            words += w
    elapsed = time.perf_counter() - start

    tracemalloc.start()
    for t, b, d in articles:
        extract_figures(t, b, d)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    lat.sort()
    print(f"articles:            {len(articles)} distinct, mean {statistics.mean(n_words):.0f} words")
    print(f"throughput:          {done / elapsed:,.0f} articles/s ({words / elapsed:,.0f} words/s) on one core")
    med, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
    print(f"latency per article: median {med:.2f} ms, p99 {p99:.2f} ms")
    print(f"figures:             {figures / done:.2f} per article")
    print(f"gazetteer load:      {load * 1000:.0f} ms once per process")
    print(f"memory:              tracemalloc peak {peak / 1e6:.2f} MB per pass; process max RSS {rss_kb / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
