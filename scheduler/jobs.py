"""The job functions the persistent job store refers to by name (``scheduler.jobs:crawl``).

They must stay importable under these names: a stored job points at them. They delegate to the
running ``Service`` of this process.
"""

from __future__ import annotations

CRAWL_FUNC = "scheduler.jobs:crawl"
DIGEST_FUNC = "scheduler.jobs:digest"

_service = None


def bind(service) -> None:
    global _service
    _service = service


def _current():
    if _service is None:
        raise RuntimeError("no scheduler service is running in this process")
    return _service


async def crawl(source_id: str) -> None:
    await _current().crawl_job(source_id)


async def digest() -> None:
    await _current().digest_job()


def crawl_job_id(source_id: str) -> str:
    return f"crawl:{source_id}"


DIGEST_JOB_ID = "digest"
