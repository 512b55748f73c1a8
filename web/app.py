"""The FastAPI application: each area is a router of its own module."""

from __future__ import annotations

from fastapi import FastAPI

from tallywatch.config import Config


def create_app(config: Config, redis) -> FastAPI:
    app = FastAPI(
        title="tallywatch",
        version="0.1.0",
        description="Figures reported by news outlets on air attacks: events, diverging reports, "
        "subscriptions to alerts, the crawl schedule.",
    )
    app.state.config = config
    app.state.redis = redis
    for name in ("events", "api", "schedule"):
        module = _router_module(name)
        if module is not None:
            app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        redis.ping()
        return {"ok": True}

    return app


def _router_module(name: str):
    import importlib

    try:
        return importlib.import_module(f"web.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"web.{name}":
            return None  # that area is not built (yet)
        raise


def serve(config: Config, redis, host: str = "127.0.0.1", port: int = 8080) -> int:
    import uvicorn

    uvicorn.run(create_app(config, redis), host=host, port=port, log_level="info")
    return 0
