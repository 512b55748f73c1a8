"""The events pages: ``/`` and ``/events`` (every event, newest night first) and
``/events/{event_id}`` (one event's breakdown: who reported what, where reports diverge, how each
figure changed). Built from the articles the crawler stored in Redis (alerts.breakdown), rebuilt only
when something new was stored. Article text is hostile input: the templates autoescape it and links
are kept only when they are http(s)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from alerts.breakdown import EventsCache
from web.deps import get_redis
from web.templating import templates

router = APIRouter(tags=["events"])


def _events(request: Request):
    """This app's EventSet (one cache per app, kept on app.state)."""
    state = request.app.state
    cache = getattr(state, "events_cache", None)
    if cache is None:
        cache = state.events_cache = EventsCache()
    return cache.get(get_redis(request))


def safe_url(url: str | None) -> str:
    """Only http(s) links reach the page; anything else (javascript:, data:) becomes "#"."""
    try:
        scheme = urlsplit(url or "").scheme.lower()
    except ValueError:
        return "#"
    return url if scheme in ("http", "https") else "#"


def _clean_links(view: dict) -> dict:
    for a in view["articles"]:
        a["url"] = safe_url(a["url"])
    for m in view["metrics"]:
        for r in m["reports"]:
            r["url"] = safe_url(r["url"])
    for d in view["divergences"]:
        for r in d["reports"]:
            r["url"] = safe_url(r["url"])
    for t in view["timeline"]:
        t["url"] = safe_url(t["url"])
    return view


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
@router.get("/events", response_class=HTMLResponse, summary="Events, newest night first")
def events_list(request: Request):
    events = _events(request).summaries()
    return templates.TemplateResponse(request, "events.html", {"events": events})


@router.get("/events/{event_id}", response_class=HTMLResponse, summary="One event's breakdown")
def event_page(event_id: str, request: Request):
    events = _events(request)
    view = events.breakdown(event_id)
    if view is None:
        near = events.nearest(event_id)
        if near:  # an alert dated by a later version's publication: the same place a night away
            return RedirectResponse(f"/events/{near}", status_code=307)
        raise HTTPException(status_code=404, detail=f"no event {event_id}")
    return templates.TemplateResponse(request, "event.html", {"ev": _clean_links(view)})
