"""html sources: a listing page whose article links (``source.link_selector``, same origin) are followed."""

from __future__ import annotations

from scrapy.http import Response, TextResponse

from crawler import dedup
from crawler.canonical import canonical_url, same_origin
from crawler.spiders.base import Entry, SourceSpider, strict_text


class ListingSpider(SourceSpider):
    name = "tallywatch-listing"

    async def start(self):
        yield self.listing_request(self.source.url, self.parse_listing)

    def links(self, response: TextResponse) -> list[str]:
        """Hrefs matched by the selector: ``a.story::attr(href)`` gives hrefs, ``a.story`` elements."""
        selected = response.css(self.source.link_selector)
        hrefs = []
        for sel in selected:
            value = sel.get() or ""
            if value.lstrip().startswith("<"):
                value = sel.attrib.get("href") or sel.css("a::attr(href)").get() or ""
            if value.strip():
                hrefs.append(value.strip())
        return hrefs

    def parse_listing(self, response: Response):
        if self.listing_not_modified(response):
            return
        if strict_text(response) is None:
            self.pending_validators = None
            self.fail("undecodable", response.url, "listing page is not decodable text", transient=False)
            return
        seen_here: set[str] = set()
        for href in self.links(response):
            url = response.urljoin(href)
            if not same_origin(url, response.url):
                continue
            try:
                key = canonical_url(url)
            except ValueError:
                continue
            if key in seen_here or key == canonical_url(response.url):
                continue
            seen_here.add(key)
            entry = Entry(key=key, fp=dedup.entry_fingerprint(key, None, None, None), link=url)
            request = self.follow_entry(entry)
            if request is not None:
                yield request
