"""The JSON API for subscriptions and deliveries (bearer-token authenticated) and the one-click
unsubscribe endpoint (authenticated by its signed token).

Tokens: the environment variable named by ``settings.api_token_env`` (default
``TALLYWATCH_API_TOKEN``), several separated by commas. Without one the API answers 503.
The OpenAPI schema is FastAPI's (``/openapi.json``, ``/docs``).
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from alerts import outbox
from alerts import subscriptions as subs
from alerts.history import get_alert
from alerts.subscriptions import SubscriptionError, SubscriptionIn
from alerts.unsubscribe import token_subscriber, verify
from tallywatch.config import Config
from web.deps import get_config, get_redis, require_token

ConfigDep = Annotated[Config, Depends(get_config)]
RedisDep = Annotated[object, Depends(get_redis)]
Token = Annotated[str, Query(description="the signed token from the email")]


api = APIRouter(prefix="/api", tags=["subscriptions"], dependencies=[Depends(require_token)])


class SubscriptionOut(BaseModel):
    id: str
    email: str | None = None
    webhook: str | None = None
    secrets: int | None = Field(None, description="how many signing secrets (never shown)")
    kinds: list[str]
    metrics: list[str]
    places: list[str]
    outlets: list[str]
    min_value: float | None = None
    keywords: list[str]
    cadence: str
    at: str | None = None
    timezone: str
    created_at: float
    source: str
    read_only: bool
    failing: bool = False


class CreatedSubscription(SubscriptionOut):
    secret: str | None = Field(None, description="the generated signing secret (shown once)")


def _unprocessable(e: SubscriptionError) -> HTTPException:
    if e.status != 422:
        return HTTPException(e.status, str(e))
    return HTTPException(422, [{"loc": ["body", *(f.split(".") if f else [])], "msg": m, "type": "value_error"}
                               for f, m in e.errors])


def _out(redis, sub) -> dict:
    return {**sub.public(), "failing": subs.is_failing(redis, sub.id)}


@api.get("/subscriptions", response_model=list[SubscriptionOut], summary="List subscriptions")
def list_subscriptions(config: ConfigDep, redis: RedisDep):
    return [_out(redis, s) for s in subs.all_subscriptions(redis, config)]


@api.post("/subscriptions", status_code=201, response_model=CreatedSubscription, summary="Create a subscription",
          responses={409: {"description": "the id exists"}, 422: {"description": "invalid fields"}})
def create_subscription(body: SubscriptionIn, config: ConfigDep, redis: RedisDep):
    return _save(body, config, redis, replace=False)


def _save(body: SubscriptionIn, config: Config, redis, *, replace: bool) -> dict:
    given = body.model_dump(exclude_unset=True)
    try:
        sub = subs.parse(given, allow_private=config.settings.allow_private_webhooks, source="api")
        subs.create(redis, config, sub, replace=replace)
    except SubscriptionError as e:
        raise _unprocessable(e) from None
    out = _out(redis, sub)
    if sub.webhook and not given.get("secrets"):
        out["secret"] = sub.secrets[0]
    return out


@api.get("/subscriptions/{sid}", response_model=SubscriptionOut, summary="One subscription")
def get_subscription(sid: str, config: ConfigDep, redis: RedisDep):
    sub = subs.get(redis, config, sid)
    if sub is None:
        raise HTTPException(404, f"no subscription {sid!r}")
    return _out(redis, sub)


@api.put("/subscriptions/{sid}", response_model=CreatedSubscription, summary="Replace a subscription",
         responses={403: {"description": "a read-only (config) subscription"}})
def replace_subscription(sid: str, body: SubscriptionIn, config: ConfigDep,
                         redis: RedisDep):
    if body.id != sid:
        raise HTTPException(422, [{"loc": ["body", "id"], "msg": "must equal the id in the path",
                                   "type": "value_error"}])
    _writable(config, redis, sid)
    return _save(body, config, redis, replace=True)


@api.delete("/subscriptions/{sid}", status_code=204, summary="Remove a subscription",
            responses={403: {"description": "a read-only (config) subscription"}})
def delete_subscription(sid: str, config: ConfigDep, redis: RedisDep):
    _writable(config, redis, sid)
    if not subs.remove(redis, config, sid, reason="API DELETE"):
        raise HTTPException(404, f"no subscription {sid!r}")
    return Response(status_code=204)


def _writable(config: Config, redis, sid: str) -> None:
    if any(s.id == sid for s in config.subscribers):
        raise HTTPException(403, f"subscription {sid!r} comes from the config file and is read-only")


@api.get("/deliveries", summary="Outbox counts", tags=["deliveries"])
def deliveries(redis: RedisDep) -> dict:
    return outbox.queued(redis)


@api.get("/deliveries/failed", summary="Deliveries given up on (dead letters)", tags=["deliveries"])
def failed_deliveries(redis: RedisDep) -> list[dict]:
    return outbox.dead_letters(redis)


class Redrive(BaseModel):
    ids: list[str] | None = Field(None, description="delivery ids; leave out with all=true")
    all: bool = False


@api.post("/deliveries/redrive", summary="Queue failed deliveries again", tags=["deliveries"])
def redrive(body: Redrive, redis: RedisDep) -> dict:
    if body.all == bool(body.ids):
        raise HTTPException(422, [{"loc": ["body", "ids"], "msg": "give ids or all=true", "type": "value_error"}])
    return {"requeued": outbox.redrive(redis, None if body.all else body.ids)}


@api.get("/alerts/{key}", summary="One alert in full (the link of a truncated webhook payload)", tags=["alerts"])
def alert(key: str, redis: RedisDep) -> dict:
    found = get_alert(redis, key)
    if found is None:
        raise HTTPException(404, f"no alert {key!r}")
    return found.to_dict()


# -- one-click unsubscribe (RFC 8058): no bearer token, the signed token is the authority ----------

public = APIRouter(tags=["unsubscribe"])

_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tallywatch: {title}</title>
<meta name="robots" content="noindex"></head><body style="font-family: sans-serif; max-width: 36em; margin: 2em auto;">
<h1 style="font-size: 1.3em;">{title}</h1>{body}</body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status_code=status)


def _check(redis, config: Config, token: str):
    """(subscription or None, valid?)"""
    sid = token_subscriber(token)
    if sid is None:
        return None, False
    sub = subs.get(redis, config, sid)
    if sub is None:
        return None, True  # gone already: say so, whoever asks
    return sub, verify(redis, token, sub.created_at)


@public.get("/unsubscribe", response_class=HTMLResponse, summary="Confirm page (a GET never unsubscribes)")
def unsubscribe_page(token: Token, config: ConfigDep, redis: RedisDep):
    sub, ok = _check(redis, config, token)
    if not ok:
        return _page("Invalid link", "<p>This unsubscribe link is not valid.</p>", 400)
    if sub is None:
        return _page("Not subscribed", "<p>This subscription no longer exists.</p>")
    return _page("Unsubscribe?", (
        f"<p>Stop alerts for subscription “{html.escape(sub.id)}” ({html.escape(sub.channel)})?</p>"
        f'<form method="post" action="unsubscribe?token={html.escape(token, quote=True)}">'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>'))


@public.post("/unsubscribe", response_class=HTMLResponse, summary="One-click unsubscribe (RFC 8058)")
def unsubscribe(token: Token, config: ConfigDep,
                      redis: RedisDep):
    sub, ok = _check(redis, config, token)
    if not ok:
        return _page("Invalid link", "<p>This unsubscribe link is not valid.</p>", 400)
    if sub is not None:
        subs.remove(redis, config, sub.id, reason="one-click unsubscribe")
    return _page("Unsubscribed", "<p>You will receive no more alerts from this subscription.</p>")


router = APIRouter()
router.include_router(api)
router.include_router(public)
