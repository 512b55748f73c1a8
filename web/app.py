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
    from web import api, events, schedule

    for module in (events, api, schedule):
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict:
        redis.ping()
        return {"ok": True}

    return app


def serve(config: Config, redis, host: str = "127.0.0.1", port: int = 8080) -> int:
    import uvicorn

    uvicorn.run(create_app(config, redis), host=host, port=port, log_level="info")
    return 0
