"""Article files in the corpus format: a header block of ``Key: value`` lines (URL, OUTLET, DATE,
TITLE; any may be missing), one blank line, then the body, one paragraph a line."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

HEADER_KEYS = {"URL", "OUTLET", "DATE", "TITLE"}


@dataclass
class ArticleFile:
    stem: str
    url: str | None
    outlet: str | None
    date: date | None
    title: str
    body: str


def parse_article_text(text: str, stem: str = "") -> ArticleFile:
    headers: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines) and lines[i].strip():
        key, sep, value = lines[i].partition(":")
        if not sep or key.strip().upper() not in HEADER_KEYS:
            break  # no header block: the file is all body
        headers[key.strip().upper()] = value.strip()
        i += 1
    body_lines = lines[i:] if headers else lines
    day = None
    if headers.get("DATE"):
        try:
            day = datetime.fromisoformat(headers["DATE"]).date()
        except ValueError:
            day = None
    return ArticleFile(
        stem=stem,
        url=headers.get("URL"),
        outlet=headers.get("OUTLET"),
        date=day,
        title=headers.get("TITLE", ""),
        body="\n".join(line for line in body_lines if line.strip()),
    )


def read_article_file(path: str | Path) -> ArticleFile:
    """Raises OSError / UnicodeDecodeError for unreadable files; the caller reports them."""
    path = Path(path)
    return parse_article_text(path.read_text(encoding="utf-8"), stem=path.stem)
