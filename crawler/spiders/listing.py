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

    def links(self, response: TextResponse) -> list[tuple[str, str]]:
        """(href, link text) for the selector's matches: ``a.story::attr(href)`` selects hrefs,
        ``a.story`` elements (their href, or their first descendant link's)."""
        out = []
        for sel in response.css(self.source.link_selector):
            value = sel.get() or ""
            if value.lstrip().startswith("<"):  # an element: its href, or its first descendant link's
                anchor = sel if "href" in sel.attrib else next(iter(sel.css("a[href]")), None)
                if anchor is None:
                    continue
                href = anchor.attrib["href"]
                text = " ".join(anchor.xpath(".//text()").getall())
            else:  # an href string: the text of the link(s) carrying it
                href = value
                text = " ".join(response.xpath("//a[@href=$h]//text()", h=value.strip()).getall())
            if href.strip():
                out.append((href.strip(), " ".join(text.split())))
        return out

    def parse_listing(self, response: Response):
        if self.listing_not_modified(response):
            return
        if strict_text(response) is None:
            self.pending_validators = None
            self.fail("undecodable", response.url, "listing page is not decodable text", transient=False)
            return
        seen_here: set[str] = set()
        for href, text in self.links(response):
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
            # the link text (usually the headline) is all a listing says about an article: when it
            # changes, the article is fetched again; a change in the body alone is not seen here
            entry = Entry(key=key, fp=dedup.entry_fingerprint(key, None, text, None), link=url, title=text)
            request = self.follow_entry(entry)
            if request is not None:
                yield request
