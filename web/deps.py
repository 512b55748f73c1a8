"""Request-scoped access to the app's config and Redis client (set once in ``create_app``)."""

from __future__ import annotations

from fastapi import Request

from tallywatch.config import Config


def get_config(request: Request) -> Config:
    return request.app.state.config


def get_redis(request: Request):
    return request.app.state.redis


def require_token(request: Request) -> None:
    """Bearer-token check for the JSON API: tokens come from the environment variable named by
    ``settings.api_token_env`` (comma-separated). No token configured: the API is closed."""
    import hmac
    import os

    from fastapi import HTTPException

    config = get_config(request)
    tokens = [t.strip() for t in os.environ.get(config.settings.api_token_env, "").split(",") if t.strip()]
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    if not tokens:
        raise HTTPException(503, f"API disabled: set {config.settings.api_token_env} to enable it")
    if scheme.lower() != "bearer" or not any(hmac.compare_digest(token, t) for t in tokens):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
