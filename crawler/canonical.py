"""Canonical article URLs: one spelling per article, so the same page reached through a feed link with
tracking parameters, an upper-case host or a ``#comments`` fragment is one article, not three.

``canonical_url`` builds on ``w3lib.url.canonicalize_url`` (what Scrapy's request fingerprints use:
percent-encoding normalised, query arguments sorted, fragment dropped, scheme and host lower-cased)
and adds what a news crawler needs on top: tracking parameters removed, default ports dropped, an
empty path turned into ``/``, a trailing ``index.html`` dropped and the host's trailing dot removed.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

# Query parameters that only say where a click came from; they never select different content.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid", "ttclid", "li_fat_id",
        "igshid", "mc_cid", "mc_eid", "ocid", "cmpid", "cmp", "smid", "smtyp", "ito", "ref_src",
        "ref_url", "taid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "wt.mc_id", "wt_mc_id",
        "__twitter_impression", "s_cid", "spm", "icid", "xtor",
    }
)
# Families of tracking parameters: utm_source, at_medium (BBC), ns_campaign (Comscore), pk_kwd (Matomo).
TRACKING_PREFIXES = ("utm_", "at_", "ns_", "pk_", "mtm_", "hsa_", "oly_", "vero_")

_DEFAULT_PORTS = {"http": 80, "https": 443}
_INDEX_PAGE = re.compile(r"(?:^|/)(?:index|default)\.(?:html?|php|aspx?)$", re.I)


def is_tracking_param(name: str) -> bool:
    low = name.lower()
    return low in TRACKING_PARAMS or low.startswith(TRACKING_PREFIXES)


def canonical_url(url: str, base: str | None = None) -> str:
    """The canonical form of an http(s) URL (``base`` resolves a relative one first).

    Raises ValueError for a URL without a host or with a non-http(s) scheme.
    """
    url = url.strip()
    if base:
        url = urljoin(base, url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    url = canonicalize_url(url, keep_blank_values=True, keep_fragments=False)
    parts = urlsplit(url)
    host = parts.hostname.rstrip(".").lower()  # type: ignore[union-attr]  # checked above
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in URL: {url!r}") from None
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path or "/"
    if _INDEX_PAGE.search(path):
        path = _INDEX_PAGE.sub("/", path) if "/" in path else "/"
        path = path.replace("//", "/") or "/"
    # w3lib already sorted and re-encoded the arguments: filter them without re-encoding
    query = "&".join(
        pair for pair in parts.query.split("&") if pair and not is_tracking_param(unquote_plus(pair.split("=")[0]))
    )
    return urlunsplit((scheme, netloc, path, query, ""))


def same_origin(a: str, b: str) -> bool:
    """True when both URLs share scheme, host and (effective) port."""
    pa, pb = urlsplit(a), urlsplit(b)
    if pa.scheme.lower() != pb.scheme.lower():
        return False
    host_a, host_b = (pa.hostname or "").rstrip("."), (pb.hostname or "").rstrip(".")
    port_a = pa.port or _DEFAULT_PORTS.get(pa.scheme.lower())
    port_b = pb.port or _DEFAULT_PORTS.get(pb.scheme.lower())
    return host_a == host_b and port_a == port_b
