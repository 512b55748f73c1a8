"""A local news site for the demo and the tests: RSS/Atom feeds, html listing pages and article pages served on
127.0.0.1 from in-memory state a test can change while the site runs.

    site = NewsSite().start()
    url = site.add_article("/world/kyiv-attack", "Russia launches record attack", "Para 1.\\nPara 2.",
                           published=datetime(2025, 7, 4, 6, 30, tzinfo=UTC), outlet="CNN", feed="news")
    site.feed_url("news")            # RSS 2.0; site.add_feed("wire", kind="atom") for Atom
    site.listing_url("news")         # html page linking every article of the feed (<a class="story">)
    site.update_article("/world/kyiv-attack", body="...")   # new text, feed entry's <updated> bumped
    site.set_raw("/broken", status=500)                     # any path: status/body/headers of your choice
    site.requests["/feeds/news.xml"], site.statuses[...], site.bytes_sent[...]
    site.stop()

Conditional GETs work like a real server: every resource has a strong ETag (hash of its bytes) and a
Last-Modified (when its content last changed); If-None-Match / If-Modified-Since get a 304. Article
pages look like real news pages (masthead, nav, cookie banner, related links, newsletter box, footer
around an ``<article>``), so text extraction has real boilerplate to remove.

``site_from_corpus(paths_or_dir)`` builds a site from corpus article files (crawler/corpus.py format):
each article is served at its URL's path (or /articles/<stem>), with its own OUTLET, DATE and TITLE.
"""

from __future__ import annotations

import hashlib
import html
import threading
import time as _time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["NewsSite", "Raw", "SiteArticle", "site_from_corpus"]


@dataclass
class SiteArticle:
    path: str
    title: str
    body: str  # paragraphs, one a line
    published: datetime
    updated: datetime
    outlet: str
    feeds: list[str]
    guid: str
    summary: str | None = None
    charset: str = "utf-8"
    modified: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))


@dataclass
class Raw:
    """A fixed response for a path, overriding whatever the site would serve there."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True  # give it an ETag/Last-Modified and honour conditional GETs
    modified: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    content_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    delay: float = 0.0  # seconds to wait before answering (a slow or hanging server)


@dataclass
class _Feed:
    name: str
    kind: str  # rss | atom
    title: str
    modified: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _as_datetime(value: datetime | date | str | None) -> datetime:
    if value is None:
        return _now()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(6, 0))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


class NewsSite:
    """A threaded HTTP server on 127.0.0.1 serving feeds, listings and articles from memory."""

    def __init__(self, name: str = "Local Daily", host: str = "127.0.0.1", port: int = 0,
                 robots_txt: str | None = "User-agent: *\nAllow: /\n"):
        self.name = name
        self.host = host
        self.robots_txt = robots_txt
        self._lock = threading.RLock()
        self._articles: dict[str, SiteArticle] = {}
        self._feeds: dict[str, _Feed] = {}
        self._raw: dict[str, Raw] = {}
        self._thread: threading.Thread | None = None
        self.requests: Counter[str] = Counter()  # path -> number of requests answered
        self.requests_started: Counter[str] = Counter()  # path -> number of requests received
        self.bytes_sent: Counter[str] = Counter()  # path -> body bytes sent
        self.statuses: defaultdict[str, list[int]] = defaultdict(list)  # path -> statuses served
        self.request_headers: defaultdict[str, list[dict[str, str]]] = defaultdict(list)

        class Handler(_Handler):
            site = self

        self._server: ThreadingHTTPServer | None = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True

    # -- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> NewsSite:
        """Serve in a background thread (the port is bound already, so URLs are known before)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever, name="news-site", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            if self._thread:
                self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> NewsSite:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if not self._server:
            raise RuntimeError("site stopped")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- content ------------------------------------------------------------------------------------
    def add_feed(self, name: str, kind: str = "rss", title: str | None = None) -> str:
        if kind not in ("rss", "atom"):
            raise ValueError("kind is 'rss' or 'atom'")
        with self._lock:
            self._feeds[name] = _Feed(name, kind, title or f"{self.name}: {name}")
        return self.feed_url(name)

    def feed_path(self, name: str) -> str:
        feed = self._feeds.get(name)
        ext = "atom" if feed and feed.kind == "atom" else "xml"
        return f"/feeds/{name}.{ext}"

    def feed_url(self, name: str) -> str:
        return self.url(self.feed_path(name))

    def listing_path(self, name: str) -> str:
        return f"/sections/{name}/"

    def listing_url(self, name: str) -> str:
        return self.url(self.listing_path(name))

    def add_article(self, path: str, title: str, body: str, published: datetime | date | str | None = None,
                    outlet: str | None = None, feed: str | list[str] | None = "news", guid: str | None = None,
                    summary: str | None = None, charset: str = "utf-8") -> str:
        """Serve an article at ``path`` and list it in ``feed`` (created as RSS if new; None: no feed).
        Returns its URL."""
        path = path if path.startswith("/") else "/" + path
        feeds = [] if feed is None else [feed] if isinstance(feed, str) else list(feed)
        when = _as_datetime(published)
        with self._lock:
            for name in feeds:
                if name not in self._feeds:
                    self.add_feed(name)
            self._articles[path] = SiteArticle(
                path=path, title=title, body=body, published=when, updated=when, outlet=outlet or self.name,
                feeds=feeds, guid=guid or f"urn:local-news:{hashlib.sha1(path.encode()).hexdigest()[:12]}",
                summary=summary, charset=charset,
            )
            self._touch_feeds(feeds)
        return self.url(path)

    def update_article(self, path: str, *, title: str | None = None, body: str | None = None,
                       summary: str | None = None, bump_feed: bool = True) -> None:
        """Change an article's text; with ``bump_feed`` its feed entry gets a new <updated> time."""
        with self._lock:
            a = self._articles[path]
            if title is not None:
                a.title = title
            if body is not None:
                a.body = body
            if summary is not None:
                a.summary = summary
            a.modified = max(_now(), a.modified + timedelta(seconds=1))
            if bump_feed:
                a.updated = max(a.updated, a.modified)
                self._touch_feeds(a.feeds)

    def remove_article(self, path: str) -> None:
        with self._lock:
            a = self._articles.pop(path)
            self._touch_feeds(a.feeds)

    def article(self, path: str) -> SiteArticle:
        return self._articles[path]

    def set_raw(self, path: str, status: int = 200, body: bytes | str = b"",
                content_type: str | None = "text/html; charset=utf-8", headers: dict[str, str] | None = None,
                conditional: bool = True, content_length: bool = True, delay: float = 0.0) -> str:
        """Serve exactly this at ``path`` (e.g. a 500, a redirect, a malformed feed, a mis-declared page).
        ``content_length=False`` streams the body without a length, closing the connection at its end;
        ``delay`` makes the server wait that many seconds before answering. Returns the URL."""
        with self._lock:
            self._raw[path] = Raw(status, body.encode() if isinstance(body, str) else body, content_type,
                                  headers or {}, conditional, content_length=content_length, delay=delay)
        return self.url(path)

    def clear_raw(self, path: str) -> None:
        with self._lock:
            self._raw.pop(path, None)

    def reset_counters(self) -> None:
        with self._lock:
            self.requests.clear()
            self.requests_started.clear()
            self.bytes_sent.clear()
            self.statuses.clear()
            self.request_headers.clear()

    def _touch_feeds(self, names) -> None:
        for name in names:
            if name in self._feeds:
                f = self._feeds[name]
                f.modified = max(_now(), f.modified + timedelta(seconds=1))

    # -- rendering ----------------------------------------------------------------------------------
    def _feed_articles(self, name: str) -> list[SiteArticle]:
        return sorted((a for a in self._articles.values() if name in a.feeds), key=lambda a: a.published,
                      reverse=True)

    def render_feed(self, name: str) -> tuple[bytes, str, datetime]:
        feed = self._feeds[name]
        items = self._feed_articles(name)
        if feed.kind == "atom":
            entries = "".join(
                f"""
  <entry>
    <id>{_esc(a.guid)}</id>
    <title>{_esc(a.title)}</title>
    <link rel="alternate" href="{_esc(self.url(a.path))}"/>
    <published>{a.published.isoformat()}</published>
    <updated>{a.updated.isoformat()}</updated>
    <author><name>{_esc(a.outlet)}</name></author>
    <summary>{_esc(self._summary(a))}</summary>
  </entry>"""
                for a in items
            )
            xml = f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <id>{_esc(self.feed_url(name))}</id>
  <title>{_esc(feed.title)}</title>
  <link rel="self" href="{_esc(self.feed_url(name))}"/>
  <updated>{feed.modified.isoformat()}</updated>{entries}
</feed>
"""
            return xml.encode("utf-8"), "application/atom+xml; charset=utf-8", feed.modified
        entries = "".join(
            f"""
    <item>
      <title>{_esc(a.title)}</title>
      <link>{_esc(self.url(a.path))}</link>
      <guid isPermaLink="false">{_esc(a.guid)}</guid>
      <pubDate>{format_datetime(a.published)}</pubDate>
      <atom:updated>{a.updated.isoformat()}</atom:updated>
      <dc:creator>{_esc(a.outlet)}</dc:creator>
      <description>{_esc(self._summary(a))}</description>
    </item>"""
            for a in items
        )
        xml = f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>{_esc(feed.title)}</title>
    <link>{_esc(self.listing_url(name))}</link>
    <description>Latest stories from {_esc(self.name)}</description>
    <atom:link href="{_esc(self.feed_url(name))}" rel="self" type="application/rss+xml"/>
    <lastBuildDate>{format_datetime(feed.modified)}</lastBuildDate>{entries}
  </channel>
</rss>
"""
        return xml.encode("utf-8"), "application/rss+xml; charset=utf-8", feed.modified

    @staticmethod
    def _summary(a: SiteArticle) -> str:
        if a.summary is not None:
            return a.summary
        first = a.body.strip().split("\n", 1)[0]
        return first if len(first) <= 240 else first[:237].rsplit(" ", 1)[0] + "..."

    def _chrome_top(self, title: str, charset: str, extra_head: str = "") -> str:
        nav = "".join(f'<li><a href="/sections/{s.lower()}/">{s}</a></li>'
                      for s in ("World", "Europe", "Ukraine", "Politics", "Business", "Sport", "Culture"))
        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="{charset}">
<title>{_esc(title)} | {_esc(self.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{extra_head}
<link rel="stylesheet" href="/static/site.css">
<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}</script>
</head>
<body>
<div class="cookie-banner" role="dialog">We use cookies to improve your experience and to show you
personalised ads. <a href="/privacy">Manage preferences</a> <button>Accept all</button></div>
<header class="masthead">
  <a class="logo" href="/">{_esc(self.name)}</a>
  <nav class="primary-nav" aria-label="Sections"><ul>{nav}</ul></nav>
  <form class="search" action="/search"><input name="q" placeholder="Search"><button>Search</button></form>
  <a class="subscribe" href="/subscribe">Subscribe from £1 a week</a>
</header>
<main id="main-content">
"""

    def _chrome_bottom(self, related: list[SiteArticle]) -> str:
        links = "".join(f'<li><a href="{_esc(r.path)}">{_esc(r.title)}</a></li>' for r in related[:5])
        return f"""</main>
<aside class="most-read" aria-label="Most read">
  <h2>Most read</h2>
  <ol>{links}<li><a href="/culture/festival-review">Festival review: five stars for a summer of song</a></li></ol>
</aside>
<section class="newsletter">
  <h2>Sign up to the Morning Briefing</h2>
  <p>Get the day's top stories delivered to your inbox every morning. Free, and you can unsubscribe any time.</p>
  <form action="/newsletter"><input type="email" name="email" placeholder="Your email"><button>Sign up</button></form>
</section>
<footer class="site-footer">
  <ul><li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li>
  <li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of use</a></li>
  <li><a href="/advertise">Advertise with us</a></li></ul>
  <p>© {date.today().year} {_esc(self.name)}. All rights reserved. Registered in England and Wales.</p>
</footer>
</body>
</html>
"""

    def render_article(self, a: SiteArticle) -> bytes:
        paragraphs = "\n".join(f"    <p>{_esc(p.strip())}</p>" for p in a.body.split("\n") if p.strip())
        head = f"""<link rel="canonical" href="{_esc(self.url(a.path))}">
<meta property="og:title" content="{_esc(a.title)}">
<meta property="og:type" content="article">
<meta property="og:site_name" content="{_esc(a.outlet)}">
<meta property="article:published_time" content="{a.published.isoformat()}">
<meta property="article:modified_time" content="{a.modified.isoformat()}">"""
        related = [r for r in self._articles.values() if r.path != a.path]
        page = (
            self._chrome_top(a.title, a.charset, head)
            + f"""<nav class="breadcrumbs"><a href="/">Home</a> › <a href="/sections/world/">World</a></nav>
<article class="story">
  <header>
    <h1 class="headline">{_esc(a.title)}</h1>
    <p class="byline">By <a href="/authors/staff">{_esc(a.outlet)} staff</a></p>
    <time datetime="{a.published.isoformat()}">{a.published:%-d %B %Y %H:%M} UTC</time>
  </header>
  <div class="story-body">
{paragraphs}
  </div>
  <div class="share-tools">Share this article: <a href="/share/x">X</a> <a href="/share/fb">Facebook</a>
  <a href="/share/email">Email</a></div>
</article>
"""
            + self._chrome_bottom(related)
        )
        return page.encode(a.charset, errors="xmlcharrefreplace")

    def render_listing(self, name: str) -> bytes:
        items = "".join(
            f"""
  <li class="story-card"><a class="story" href="{_esc(a.path)}">{_esc(a.title)}</a>
    <p class="standfirst">{_esc(self._summary(a))}</p></li>"""
            for a in self._feed_articles(name)
        )
        page = (
            self._chrome_top(name.title(), "utf-8")
            + f"""<h1>{_esc(name.title())}</h1>
<ul class="story-list">{items}
</ul>
<p class="pager"><a href="{_esc(self.listing_path(name))}?page=2">Older stories</a>
<a href="https://elsewhere.invalid/partner-story">From our partners</a></p>
"""
            + self._chrome_bottom([])
        )
        return page.encode("utf-8")

    # -- dispatch -----------------------------------------------------------------------------------
    def resolve(self, path: str) -> tuple[int, bytes, str | None, dict[str, str], datetime | None]:
        """(status, body, content type, extra headers, last-modified or None for non-conditional)."""
        with self._lock:
            if path in self._raw:
                raw = self._raw[path]
                return raw.status, raw.body, raw.content_type, dict(raw.headers), (
                    raw.modified if raw.conditional and raw.status == 200 else None)
            if path == "/robots.txt":
                if self.robots_txt is None:
                    return 404, b"not found", "text/plain", {}, None
                return 200, self.robots_txt.encode(), "text/plain; charset=utf-8", {}, None
            for name in self._feeds:
                if path == self.feed_path(name):
                    body, ctype, modified = self.render_feed(name)
                    return 200, body, ctype, {}, modified
                if path in (self.listing_path(name), self.listing_path(name).rstrip("/")):
                    return 200, self.render_listing(name), "text/html; charset=utf-8", {}, self._feeds[name].modified
            if path in self._articles:
                a = self._articles[path]
                return 200, self.render_article(a), f"text/html; charset={a.charset}", {}, a.modified
        page = self._chrome_top("Page not found", "utf-8") + "<h1>Page not found</h1>" + self._chrome_bottom([])
        return 404, page.encode(), "text/html; charset=utf-8", {}, None


class _Handler(BaseHTTPRequestHandler):
    site: NewsSite
    protocol_version = "HTTP/1.1"
    server_version = "LocalNews/1.0"

    def log_message(self, format, *args):  # quiet
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head: bool) -> None:
        site = self.site
        path = urlsplit(self.path).path
        with site._lock:
            raw = site._raw.get(path)
            site.requests_started[path] += 1
        if raw is not None and raw.delay:
            _time.sleep(raw.delay)
        status, body, ctype, headers, modified = site.resolve(path)
        stream = raw is not None and not raw.content_length
        if modified is not None:
            etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
            headers.setdefault("ETag", etag)
            headers.setdefault("Last-Modified", format_datetime(modified, usegmt=True))
            if self._not_modified(etag, modified):
                status, body, ctype = 304, b"", None
        with site._lock:
            site.requests[path] += 1
            site.statuses[path].append(status)
            site.request_headers[path].append(dict(self.headers.items()))
            site.bytes_sent[path] += 0 if head else len(body)
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k, v)
        if stream:
            self.send_header("Connection", "close")
            self.close_connection = True
        elif status != 304:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and status != 304:
            try:
                for i in range(0, len(body), 65536):
                    self.wfile.write(body[i:i + 65536])
                    if stream:
                        self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):  # client gave up (e.g. page too large)
                self.close_connection = True

    def _not_modified(self, etag: str, modified: datetime) -> bool:
        inm = self.headers.get("If-None-Match")
        if inm is not None:
            tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
            return "*" in tags or etag in tags
        ims = self.headers.get("If-Modified-Since")
        if ims:
            try:
                since = parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                return False
            if since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            return modified <= since
        return False


def site_from_corpus(paths: str | Path | list[str | Path], feed: str = "news", kind: str = "rss",
                     name: str = "Local Daily", start: bool = True) -> NewsSite:
    """A site serving corpus article files (a directory's ``*.txt`` or a list of files), all in ``feed``.
    Each article lives at its URL's path (``/sky-live-biggest-attack``) or ``/articles/<stem>``."""
    from crawler.corpus import read_article_file

    if isinstance(paths, str | Path) and Path(paths).is_dir():
        files = sorted(Path(paths).glob("*.txt"))
    elif isinstance(paths, str | Path):
        files = [Path(paths)]
    else:
        files = [Path(p) for p in paths]
    site = NewsSite(name=name)
    site.add_feed(feed, kind=kind)
    for i, f in enumerate(files):
        art = read_article_file(f)
        path = urlsplit(art.url).path if art.url else ""
        if not path or path == "/":
            path = f"/articles/{art.stem}"
        published = datetime.combine(art.date, time(6, 0), tzinfo=UTC) + timedelta(minutes=i) if art.date else None
        site.add_article(path, art.title or art.stem, art.body, published=published, outlet=art.outlet,
                         feed=feed)
    return site.start() if start else site
