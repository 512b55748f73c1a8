"""Jinja2 templates for the pages, autoescaped: article text is hostile input."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.autoescape = True


def when(value) -> str:
    """An ISO timestamp as people read it: 2026-11-30 00:51:36 UTC."""
    from datetime import UTC, datetime

    if not value:
        return "—"
    try:
        return datetime.fromisoformat(str(value)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return str(value)


templates.env.filters["when"] = when
