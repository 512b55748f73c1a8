"""The CLI side of subscriptions and deliveries: ``tallywatch subscribe / unsubscribe / subscriptions /
deliveries / deliver``. ``scheduler/cli.py`` adds the arguments (:func:`add_*_arguments`) and calls
the ``run_*`` functions; a user mistake raises :class:`CliError` (printed as one line, exit 2)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the stages are imported when a command runs: --help stays fast
    from alerts.subscriptions import SubscriptionError
    from tallywatch.config import Config

log = logging.getLogger(__name__)


class CliError(Exception):
    """One line for the user."""


def _split(values: list[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or []:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def add_subscribe_arguments(sp) -> None:
    sp.add_argument("id", help="subscription id (letters, digits, _ . @ + -)")
    # checked by the model, not argparse, so every mistake is one line naming the flag
    sp.add_argument("--email", help="deliver by email to this address (or --webhook)")
    sp.add_argument("--webhook", help="deliver by signed POST to this http(s) URL (or --email)")
    sp.add_argument("--secret", action="append", metavar="WHSEC",
                    help="webhook signing secret (repeat while rotating; default: a new one, printed once)")
    sp.add_argument("--kinds", action="append", metavar="KIND[,KIND]", help="record, changed, diverging (default all)")
    sp.add_argument("--metric", action="append", metavar="METRIC", help="only this metric (repeatable)")
    sp.add_argument("--place", action="append", help="only this place (repeatable)")
    sp.add_argument("--outlet", action="append", help="only alerts involving this outlet (repeatable)")
    sp.add_argument("--min-value", help="only alerts with a figure at least this large")
    sp.add_argument("--keyword", action="append", help="only alerts mentioning this (repeatable)")
    sp.add_argument("--cadence", default="instant", help="instant, hourly or daily (default instant)")
    sp.add_argument("--at", help="daily: local time HH:MM (default 07:00)")
    sp.add_argument("--timezone", default="UTC", help="daily: IANA time zone (default UTC)")
    sp.add_argument("--replace", action="store_true", help="replace an existing subscription with this id")


def _flag(field: str) -> str:
    flags = {"min_value": "--min-value", "metrics": "--metric", "places": "--place", "outlets": "--outlet",
             "keywords": "--keyword", "secrets": "--secret", "id": "ID"}
    return flags.get(field.split(".")[0], f"--{field.split('.')[0]}") if field else ""


def _error_line(e: SubscriptionError) -> str:
    return "; ".join(f"{_flag(f)}: {m}" if f else m for f, m in e.errors)


def run_subscribe(args, config: Config, redis, out) -> int:
    from alerts import subscriptions as subs_mod
    from alerts.subscriptions import SubscriptionError

    data = {"id": args.id, "email": args.email, "webhook": args.webhook, "secrets": args.secret or [],
            "kinds": _split(args.kinds) or ["record", "changed", "diverging"], "metrics": _split(args.metric),
            "places": args.place or [], "outlets": args.outlet or [], "min_value": args.min_value,
            "keywords": args.keyword or [], "cadence": args.cadence, "at": args.at, "timezone": args.timezone}
    try:
        sub = subs_mod.parse(data, allow_private=config.settings.allow_private_webhooks, source="cli")
        subs_mod.create(redis, config, sub, replace=args.replace)
    except SubscriptionError as e:
        raise CliError(_error_line(e) + (" (use --replace to change it)" if e.status == 409 and "exists" in str(e)
                                         else "")) from None
    print(f"subscribed {sub.id}: {describe(sub)}", file=out)
    if sub.webhook and not args.secret:
        print(f"signing secret (shown once): {sub.secrets[0]}", file=out)
    return 0


def add_unsubscribe_arguments(sp) -> None:
    sp.add_argument("id", help="subscription id")


def run_unsubscribe(args, config: Config, redis, out) -> int:
    from alerts import subscriptions as subs_mod

    if subs_mod.get(redis, config, args.id) is None:
        raise CliError(f"no subscription {args.id!r} (see 'tallywatch subscriptions')")
    subs_mod.remove(redis, config, args.id, reason="tallywatch unsubscribe")
    print(f"unsubscribed {args.id}", file=out)
    return 0


def add_subscriptions_arguments(sp) -> None:
    sp.add_argument("--json", action="store_true", help="one JSON object per line")


def describe(sub) -> str:
    parts = [sub.channel, "kinds " + ",".join(sub.kinds)]
    for name in ("metrics", "places", "outlets", "keywords"):
        values = getattr(sub, name)
        if values:
            parts.append(f"{name} " + ",".join(values))
    if sub.min_value is not None:
        parts.append(f"min value {sub.min_value:g}")
    cadence = sub.cadence + (f" at {sub.at} {sub.timezone}" if sub.cadence == "daily" else "")
    parts.append(cadence)
    return "; ".join(parts)


def run_subscriptions(args, config: Config, redis, out) -> int:
    from alerts import subscriptions as subs_mod

    off = subs_mod.disabled(redis)
    for sub in subs_mod.all_subscriptions(redis, config, include_disabled=True):
        d = sub.public()
        d["disabled"] = off.get(sub.id) if sub.read_only else None
        d["failing"] = subs_mod.is_failing(redis, sub.id)
        if args.json:
            print(json.dumps(d, ensure_ascii=False), file=out)
            continue
        flags = [f for f, on in (("config, read-only", sub.read_only), ("off", bool(d["disabled"])),
                                 ("address failing", d["failing"])) if on]
        print(f"{sub.id:<20} {describe(sub)}" + (f"  [{', '.join(flags)}]" if flags else ""), file=out)
    return 0


def add_deliveries_arguments(sp) -> None:
    sp.add_argument("--failed", action="store_true", help="list the deliveries given up on (dead letters)")
    sp.add_argument("--redrive", nargs="?", const="", metavar="ID",
                    help="queue a dead-lettered delivery again (ID from --failed; with --all: every one)")
    sp.add_argument("--all", action="store_true", help="with --redrive: all dead-lettered deliveries")


def run_deliveries(args, config: Config, redis, out) -> int:
    from alerts import outbox

    if args.redrive is not None:
        if args.all == bool(args.redrive):
            raise CliError("give --redrive ID or --redrive --all")
        ids = None if args.all else [args.redrive]
        if ids and not any(d["id"] == args.redrive for d in outbox.dead_letters(redis)):
            raise CliError(f"no failed delivery {args.redrive!r} (see 'tallywatch deliveries --failed')")
        n = outbox.redrive(redis, ids)
        print(f"re-queued {n} deliver{'y' if n == 1 else 'ies'}", file=out)
        return 0
    if args.all:
        raise CliError("--all goes with --redrive")
    if args.failed:
        dead = outbox.dead_letters(redis)
        for d in dead:
            f = d["fields"]
            when = datetime.fromtimestamp(d["at"]).strftime("%Y-%m-%d %H:%M:%S")
            what = f"digest {f['digest']}" if f.get("digest") else "alerts " + ",".join(outbox.entry_keys(f))
            print(f"{d['id']}  {when}  {f.get('sub')}  tries {d['attempts']}  {what}  error: {d['error']}", file=out)
        print(f"{len(dead)} failed deliver{'y' if len(dead) == 1 else 'ies'}", file=out)
        return 0
    q = outbox.queued(redis)
    print(f"outbox: {q['stream']} to send, {q['delayed']} waiting for a retry, {q['staged']} staged, "
          f"{q['dead']} failed", file=out)
    return 0


def add_deliver_arguments(sp) -> None:
    sp.add_argument("--consumer", default=f"deliver-{socket.gethostname()}-{os.getpid()}",
                    help="consumer name in the outbox group, never used by two running processes at once "
                         "(default deliver-<host>-<pid>; a stable name re-reads its own unacknowledged "
                         "deliveries at once after a restart, others are taken over after --claim-idle)")
    sp.add_argument("--once", action="store_true", help="one pass, then exit")
    sp.add_argument("--poll", type=float, default=0.5, help="seconds between passes when idle")
    sp.add_argument("--claim-idle", type=float, default=60.0,
                    help="seconds after which another worker's unacknowledged delivery is taken over")


def run_deliver(args, config: Config, redis, out) -> int:
    from alerts import outbox
    from alerts import subscriptions as subs_mod

    policy = outbox.Policy.from_config(config, claim_idle_ms=int(args.claim_idle * 1000))
    if args.once:
        subs = subs_mod.all_subscriptions(redis, config)
        outbox.enqueue_digests(redis, subs)
        stats = outbox.deliver_pass(redis, config, args.consumer, policy)
        print(f"delivered {stats.sent} ({stats.alerts} alerts, {stats.digests} digests), {stats.failed} to retry, "
              f"{stats.dead} given up", file=out)
        return 0
    stop = threading.Event()

    def _stop(signum, frame):
        log.info("delivery worker: signal %d, finishing the current delivery", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("delivery worker %s started", args.consumer)
    outbox.run_worker(redis, config, args.consumer, policy, stop=stop, poll=args.poll)
    log.info("delivery worker %s stopped", args.consumer)
    return 0
