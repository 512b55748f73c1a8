"""The ``tallywatch`` command. Each subcommand imports its stage lazily, so ``--help`` is fast and a
user mistake ends in one clear line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from tallywatch.config import ConfigError, load_config
from tallywatch.errors import UserError

DEFAULT_CONFIG = "tallywatch.toml"


def _config(args):
    path = args.config or os.environ.get("TALLYWATCH_CONFIG") or DEFAULT_CONFIG
    if not Path(path).exists():
        raise UserError(
            f"config file not found: {path} (pass --config PATH or set TALLYWATCH_CONFIG; "
            "see tallywatch.example.toml)"
        )
    return load_config(path)


def _redis(config):
    from tallywatch.store import connect

    try:
        return connect(config.settings.redis_url, config.settings.data_dir)
    except ConnectionError as e:
        raise UserError(str(e)) from None


def cmd_run(args) -> int:
    from scheduler.service import run_service

    if args.distributed and args.cycles:
        raise UserError("--cycles counts crawls done in this process: it does not go with --distributed")
    if args.cycles is not None and args.cycles < 1:
        raise UserError("--cycles wants a positive number")
    return run_service(_config(args), cycles=args.cycles, distributed=args.distributed)


def cmd_worker(args) -> int:
    from scheduler.distributed import run_worker

    if args.concurrency < 1:
        raise UserError("--concurrency wants a positive number")
    return run_worker(_config(args), concurrency=args.concurrency)


def cmd_crawl(args) -> int:
    from scheduler.service import crawl_once

    config = _config(args)
    ids = args.sources or [s.id for s in config.enabled_sources]
    for sid in ids:
        config.source(sid)  # ConfigError names an unknown id
    return crawl_once(config, ids)


def cmd_extract(args) -> int:
    from crawler.extract_cli import cmd_extract as run

    return run(args.files, args.format)


def cmd_breakdown(args) -> int:
    from alerts.breakdown_cli import cmd_breakdown as run

    return run(args.files, args.format)


def cmd_seed_records(args) -> int:
    from alerts.ledger import seed_from_csv

    config = _config(args)
    csv_path = Path(args.csv or config.settings.records_csv or "")
    if not csv_path.is_file():
        raise UserError(f"no CSV file at {csv_path or '(none given)'}: pass the daily Air Force table")
    n = seed_from_csv(_redis(config), csv_path)
    print(f"record ledger: {n} nights loaded from {csv_path}")
    return 0


def cmd_alerts(args) -> int:
    from alerts.history import recent_alerts

    for alert in recent_alerts(_redis(_config(args)), limit=args.limit):
        print(f"{alert.created_at:%Y-%m-%d %H:%M}  {alert.kind:<9}  {alert.title}")
    return 0


def cmd_check_config(args) -> int:
    config = _config(args)
    print(f"{config.path}: {len(config.sources)} sources ({len(config.enabled_sources)} enabled), "
          f"{len(config.subscribers)} subscribers")
    for s in config.sources:
        trigger = s.trigger(config.settings.timezone)
        print(f"  {s.id:<20} {s.kind:<5} {'on ' if s.enabled else 'off'} {s.schedule:<16} {trigger}")
    return 0


def cmd_schedule(args) -> int:
    from scheduler.schedule_cli import ScheduleError, run_schedule_command

    config = _config(args)
    try:
        return run_schedule_command(args, config, _redis(config), sys.stdout)
    except ScheduleError as e:
        raise UserError(str(e)) from None


def cmd_status(args) -> int:
    from scheduler.status import Health, check, print_health

    config = _config(args)
    try:
        redis = _redis(config)
    except UserError as e:
        health = Health()
        health.add("FAIL", str(e))
        return print_health(health, sys.stdout)
    return print_health(check(redis, config), sys.stdout)


def cmd_serve(args) -> int:
    from web.app import serve

    config = _config(args)
    return serve(config, _redis(config), host=args.host, port=args.port)


def _subscriptions_command(name: str, args) -> int:
    from alerts import subscriptions_cli

    config = _config(args)
    try:
        return getattr(subscriptions_cli, f"run_{name}")(args, config, _redis(config), sys.stdout)
    except subscriptions_cli.CliError as e:
        raise UserError(str(e)) from None


def cmd_subscribe(args) -> int:
    return _subscriptions_command("subscribe", args)


def cmd_unsubscribe(args) -> int:
    return _subscriptions_command("unsubscribe", args)


def cmd_subscriptions(args) -> int:
    return _subscriptions_command("subscriptions", args)


def cmd_deliveries(args) -> int:
    return _subscriptions_command("deliveries", args)


def cmd_deliver(args) -> int:
    return _subscriptions_command("deliver", args)


def cmd_demo(args) -> int:
    from scheduler.demo import run_demo

    return run_demo(Path(args.out))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tallywatch", description="Figures from news of air attacks; alerts on "
                                "new records, changed numbers and diverging reports.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    config_help = f"config file (default: $TALLYWATCH_CONFIG or {DEFAULT_CONFIG})"
    p.add_argument("--config", "-c", help=config_help)
    # --config is accepted anywhere on the line, also after a sub-command's own arguments
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("--config", "-c", default=argparse.SUPPRESS, help=config_help)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name, func, help_):
        parents = [] if name in ("extract", "breakdown", "demo") else [with_config]
        sp = sub.add_parser(name, help=help_, description=help_, parents=parents)
        sp.set_defaults(func=func)
        return sp

    sp = add("run", cmd_run, "run the scheduler: crawl each source on its schedule, alert, send digests")
    sp.add_argument("--cycles", type=int, default=None, help="stop after every source has run N times")
    sp.add_argument("--distributed", action="store_true",
                    help="only schedule: put crawl requests on the Redis queue for 'tallywatch worker' processes")
    sp = add("worker", cmd_worker, "crawl requests from the Redis queue (distributed mode; run as many as you like)")
    sp.add_argument("--concurrency", type=int, default=2, help="crawls at the same time (default 2)")
    sp = add("crawl", cmd_crawl, "crawl sources once now and process alerts")
    sp.add_argument("sources", nargs="*", help="source ids (default: all enabled)")
    sp = add("extract", cmd_extract, "print the figures found in article files")
    sp.add_argument("--format", choices=("jsonl", "table"), default="jsonl")
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp = add("breakdown", cmd_breakdown, "group article files into events; print each event's figures by outlet")
    sp.add_argument("--format", choices=("json", "table"), default="table")
    sp.add_argument("files", nargs="+", metavar="FILE")
    sp = add("seed-records", cmd_seed_records, "load the record ledger from the daily Air Force CSV")
    sp.add_argument("csv", nargs="?", help="CSV path (default: settings.records_csv)")
    sp = add("alerts", cmd_alerts, "list the most recent alerts")
    sp.add_argument("--limit", type=int, default=20)
    add("check-config", cmd_check_config, "validate the config file and show the schedule")
    from scheduler.schedule_cli import add_schedule_arguments

    add_schedule_arguments(with_config, add("schedule", cmd_schedule, "list and change the persistent crawl schedule "
                               "(changes reach a running scheduler within seconds)"))
    add("status", cmd_status, "health: scheduler, leader, Redis, last crawl per source (exit 1 when unhealthy)")
    sp = add("serve", cmd_serve, "serve the web app: events, diverging reports, subscriptions API, schedule")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8080)
    from alerts import subscriptions_cli as subs_cli

    subs_cli.add_subscribe_arguments(add("subscribe", cmd_subscribe,
                                         "subscribe an email address or a webhook to alerts"))
    subs_cli.add_unsubscribe_arguments(add("unsubscribe", cmd_unsubscribe, "remove a subscription"))
    subs_cli.add_subscriptions_arguments(add("subscriptions", cmd_subscriptions, "list the subscriptions"))
    subs_cli.add_deliveries_arguments(add("deliveries", cmd_deliveries,
                                          "the delivery outbox: queued, failed (--failed), re-drive (--redrive)"))
    subs_cli.add_deliver_arguments(add("deliver", cmd_deliver, "run the delivery worker until SIGTERM"))
    sp = add("demo", cmd_demo, "run the demo: a local news site, two crawl cycles, the alerts received")
    sp.add_argument("--out", default="demo-out", help="where the received emails and webhooks are saved")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    try:
        return args.func(args) or 0
    except (UserError, ConfigError) as e:
        print(f"tallywatch: error: {e}", file=sys.stderr)
        return 2
    except ConnectionError as e:  # Redis (or another service) unreachable at start-up
        print(f"tallywatch: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
