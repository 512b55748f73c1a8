"""Request-scoped access to the app's config and Redis client (set once in ``create_app``)."""

from __future__ import annotations

from fastapi import Request

from tallywatch.config import Config


def get_config(request: Request) -> Config:
    return request.app.state.config


def get_redis(request: Request):
    return request.app.state.redis
