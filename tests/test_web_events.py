"""The events pages, served by a real uvicorn on loopback from a real Redis, read by real headless
Chromium (Debian's package: apt-get install -y chromium). Chromium tests skip when it is missing."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from alerts.grouping import date_only_published
from crawler.corpus import read_article_file
from crawler.figures import extract_figures
from tallywatch.models import Article, Figure
from tests.conftest import free_port
from tests.test_alerts_helpers import make_config, write_article

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
HIGHLIGHT = (0xFD, 0xE7, 0xE2)  # .diverging background in web/templates/base.html

EVIL_TITLE = "<script>document.title='pwned'</script>Kyiv attack <b>bold</b>"
EVIL_BODY = ("<img src=x onerror=\"document.title='pwned'\"> Ten people were injured in Kyiv overnight. "
             "<script>document.body.innerHTML='pwned'</script>")


def seed_articles(seed_dir: Path) -> list[Article]:
    """The seed corpus as the crawler would store it (extracted figures, one version each)."""
    out, seen = [], set()
    for path in sorted(seed_dir.glob("*.txt")):
        af = read_article_file(path)
        a = Article(url=af.url, outlet=af.outlet.split(" (")[0], source_id=af.stem, title=af.title, body=af.body,
                    published=date_only_published(af.date))
        if a.fingerprint in seen:
            continue  # the crawler's dedup drops the syndicated copy
        seen.add(a.fingerprint)
        a.figures = extract_figures(af.title, af.body, af.date)
        out.append(a)
    return out


def evil_article() -> Article:
    return Article(
        url="https://evil.example/kyiv", outlet="Evil <i>Outlet</i>", source_id="evil", title=EVIL_TITLE,
        body=EVIL_BODY, published=datetime.fromisoformat("2025-07-04T10:00:00+03:00"),
        figures=[Figure("injured", 10, location="Kyiv", sentence=EVIL_BODY)],
    )


def populate(redis, seed_dir: Path) -> None:
    for a in seed_articles(seed_dir):
        write_article(redis, a)
    write_article(redis, evil_article())


class Server:
    """tallywatch's web app under uvicorn in a thread, on a free loopback port."""

    def __init__(self, redis):
        import uvicorn

        from web.app import create_app

        self.port = free_port()
        config = uvicorn.Config(create_app(make_config(), redis), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self):
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def site(redis_server, seed_dir):
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushdb()
    populate(client, seed_dir)
    server = Server(client).start()
    yield server
    server.stop()
    client.flushdb()


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


# --- over HTTP -------------------------------------------------------------------------------------


def test_events_list_newest_first(site):
    for path in ("/", "/events"):
        r = httpx.get(site.url + path)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    html = httpx.get(site.url + "/events").text
    kyiv, poltava, june = (html.index(f'href="/events/{i}"') for i in
                           ("2025-07-04-kyiv", "2025-07-03-poltava", "2025-06-29-ukraine"))
    assert kyiv < poltava < june
    assert "2025-07-04-sergiyev-posad" in html


def test_event_page_and_missing_event(site):
    r = httpx.get(site.url + "/events/2025-07-04-kyiv")
    assert r.status_code == 200
    assert "Kyiv, night of 3-4 July 2025" in r.text
    assert 'href="https://example.invalid/cnn-record-drones"' in r.text
    assert httpx.get(site.url + "/events/2025-07-04-atlantis").status_code == 404
    # a link dated a night off (an alert dated by a later version) lands on the place's event
    r = httpx.get(site.url + "/events/2025-07-04-poltava", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/events/2025-07-03-poltava"
    assert httpx.get(site.url + "/events/2025-07-09-poltava").status_code == 404
    assert httpx.get(site.url + "/events/%3Cscript%3E").status_code == 404


def test_hostile_article_text_is_escaped(site):
    html = httpx.get(site.url + "/events/2025-07-04-kyiv").text
    assert "<script>document" not in html and "<img src=x" not in html and "<i>Outlet" not in html
    assert "&lt;script&gt;document.title=" in html and "&lt;img src=x onerror=" in html


# --- in a real browser -----------------------------------------------------------------------------


@needs_chromium
def test_browser_dom_highlights_diverging_rows_and_runs_no_injected_script(site, tmp_path):
    res = chromium(tmp_path, "--dump-dom", site.url + "/events/2025-07-04-kyiv")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    assert "<title>Kyiv, night of 3-4 July 2025 · tallywatch</title>" in dom  # not "pwned"
    assert "pwned" not in dom.split("<main>")[0]
    assert "<img" not in dom and "<script" not in dom
    rows = [line for line in dom.splitlines() if 'class="report-row' in line]
    diverging = [r for r in rows if "diverging" in r]
    assert any('data-metric="injured" data-outlet="CNN"' in r for r in diverging)
    assert any('data-metric="injured" data-outlet="The Guardian"' in r for r in diverging)
    assert not any('data-metric="drones_launched"' in r for r in diverging)


@needs_chromium
def test_browser_screenshot_shows_the_table_with_the_highlight(site, tmp_path):
    from PIL import Image

    png = tmp_path / "event.png"
    res = chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,900", "--hide-scrollbars",
                   site.url + "/events/2025-07-04-kyiv")
    assert res.returncode == 0 and png.is_file(), res.stderr[-2000:]
    img = Image.open(png).convert("RGB")
    assert img.size == (1200, 900)
    colours = img.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # text, table, header: not a blank page
    counts = {c: n for n, c in colours}
    assert counts.get(HIGHLIGHT, 0) > 2000  # the diverging rows' background is on screen
    assert counts.get((0x16, 0x32, 0x4F), 0) > 10000  # the page header
