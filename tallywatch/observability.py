"""Logging set-up and Sentry: crash and crawl-error reports, without personal data."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def init_sentry(dsn: str | None, *, release: str | None = None, environment: str | None = None) -> bool:
    """Start Sentry when a DSN is configured. Errors logged at ERROR level (crawl failures, job
    failures) become Sentry events; INFO and up are kept as breadcrumbs. No PII by default."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration

    sentry_sdk.init(
        dsn=dsn,
        release=release,
        environment=environment or "production",
        send_default_pii=False,
        traces_sample_rate=0.0,
        integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
    )
    log.info("Sentry error reporting enabled")
    return True


def report_exception(exc: BaseException, **tags: str) -> None:
    """Send an exception to Sentry (a no-op when Sentry is not initialised)."""
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        for k, v in tags.items():
            scope.set_tag(k, v)
        sentry_sdk.capture_exception(exc)
