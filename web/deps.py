"""Request-scoped access to the app's config and Redis client (set once in ``create_app``)."""

from __future__ import annotations

import hmac
import os
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from tallywatch.config import Config


def get_config(request: Request) -> Config:
    return request.app.state.config


def get_redis(request: Request):
    return request.app.state.redis


_bearer = HTTPBearer(auto_error=False, description="API token (settings.api_token_env, default TALLYWATCH_API_TOKEN)")


def api_tokens(config: Config) -> list[str]:
    raw = os.environ.get(config.settings.api_token_env, "")
    return [t.strip() for t in raw.split(",") if t.strip()]


def require_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    config: Annotated[Config, Depends(get_config)],
) -> None:
    """Bearer-token check for the JSON APIs: tokens come from the environment variable named by
    ``settings.api_token_env`` (comma-separated). No token configured: the API is closed (503)."""
    tokens = api_tokens(config)
    if not tokens:
        raise HTTPException(503, f"the API is disabled: set {config.settings.api_token_env}")
    given = credentials.credentials if credentials and credentials.scheme.lower() == "bearer" else ""
    if not any(hmac.compare_digest(given.encode(), t.encode()) for t in tokens):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})
