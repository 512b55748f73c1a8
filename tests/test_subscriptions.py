"""Subscriptions: validation, storage next to the read-only config subscribers, filters, and the CLI
(``tallywatch subscribe / unsubscribe / subscriptions / deliveries``) run as the user runs it."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from alerts import outbox
from alerts import subscriptions as subs
from alerts.models import Alert
from scheduler.cli import main
from tallywatch.config import load_config
from tests.test_outbox import make_alert, stage


@pytest.fixture
def config_file(tmp_path, redis_server, redis_client):
    path = tmp_path / "tallywatch.toml"
    path.write_text(f"""
[settings]
redis_url = "{redis_server.url}"
data_dir = "{tmp_path / 'data'}"

[[subscribers]]
id = "cfg"
email = "cfg@example.org"
kinds = ["record"]
""", encoding="utf-8")
    return path


def run(config_file, capsys, *argv):
    code = main(["--config", str(config_file), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def errors(data, **kw):
    with pytest.raises(subs.SubscriptionError) as e:
        subs.parse(data, **kw)
    return dict(e.value.errors)


def test_validation_names_the_fields():
    assert "email" in errors({"id": "a", "email": "not-an-address"})
    assert errors({"id": "a"}) == {"": "give exactly one channel: 'email' or 'webhook'"}
    assert "" in errors({"id": "a", "email": "a@example.org", "webhook": "https://h.example/x"})
    assert "webhook" in errors({"id": "a", "webhook": "ftp://h.example/x"})
    assert "webhook" in errors({"id": "a", "webhook": "http://user:pw@h.example/x"})
    assert "webhook" in errors({"id": "a", "webhook": "http://10.0.0.5/x"})
    assert "webhook" in errors({"id": "a", "webhook": "http://localhost:8080/x"})
    assert subs.parse({"id": "a", "webhook": "http://127.0.0.1:9/x"}, allow_private=True).webhook
    assert "secrets" in errors({"id": "a", "webhook": "https://h.example/x", "secrets": ["not base64!"]})
    assert "kinds" in errors({"id": "a", "email": "a@example.org", "kinds": ["records"]})
    assert "kinds" in errors({"id": "a", "email": "a@example.org", "kinds": []})
    assert "metrics" in errors({"id": "a", "email": "a@example.org", "metrics": ["drones"]})
    assert "min_value" in errors({"id": "a", "email": "a@example.org", "min_value": -1})
    assert "cadence" in errors({"id": "a", "email": "a@example.org", "cadence": "weekly"})
    assert "cadence" in errors({"id": "a", "email": "a@example.org", "cadence": "digest"})
    assert "at" in errors({"id": "a", "email": "a@example.org", "cadence": "daily", "at": "25:00"})
    assert "timezone" in errors({"id": "a", "email": "a@example.org", "cadence": "daily", "timezone": "Kyiv"})
    assert "id" in errors({"id": "a b", "email": "a@example.org"})
    assert "places" in errors({"id": "a", "email": "a@example.org", "places": ["  "]})
    assert "bogus" in errors({"id": "a", "email": "a@example.org", "bogus": 1})
    d = subs.parse({"id": "a", "email": "a@example.org", "cadence": "daily", "timezone": "Europe/Kyiv"})
    assert d.at == "07:00"
    hook = subs.parse({"id": "h", "webhook": "https://h.example/x"})
    assert hook.secrets[0].startswith("whsec_")  # generated
    assert "secrets" not in json.dumps(hook.public()).replace('"secrets": 1', "")


def test_filters():
    base = {"id": "s", "email": "s@example.org"}
    a = Alert(kind="diverging", key="diverging:1", title="DIVERGING: injured 23 (CNN) vs 14 (The Guardian)",
              night=date(2025, 7, 4), place="Kyiv", metric="injured",
              values=[{"outlet": "CNN", "value": 23, "sentence": "At least 23 people were wounded in Kyiv."},
                      {"outlet": "The Guardian", "value": 14, "sentence": "14 people were injured."}],
              outlet="CNN", created_at=datetime.now(UTC))

    def m(**kw):
        return subs.matches(subs.parse({**base, **kw}), a)

    assert m()
    assert m(kinds=["diverging"]) and not m(kinds=["record", "changed"])
    assert m(metrics=["injured", "killed"]) and not m(metrics=["killed"])
    assert m(places=["kyiv"]) and not m(places=["Odesa"])
    assert m(outlets=["the guardian"]) and not m(outlets=["BBC"])
    assert m(min_value=23) and not m(min_value=24)
    assert m(keywords=["WOUNDED"]) and not m(keywords=["missile"])
    assert not m(places=["Kyiv"], min_value=100)  # all filters must pass


def test_config_subscribers_are_read_only_subscriptions(redis_client, config_file):
    r = redis_client
    config = load_config(config_file)
    (cfg,) = subs.all_subscriptions(r, config)
    assert cfg.read_only and cfg.kinds == ["record"] and cfg.email == "cfg@example.org"
    with pytest.raises(subs.SubscriptionError) as e:
        subs.create(r, config, subs.parse({"id": "cfg", "email": "x@example.org"}))
    assert e.value.status == 409
    subs.create(r, config, subs.parse({"id": "mine", "email": "m@example.org"}))
    assert [s.id for s in subs.all_subscriptions(r, config)] == ["cfg", "mine"]
    assert subs.remove(r, config, "cfg")  # turned off, not deleted from the file
    assert [s.id for s in subs.all_subscriptions(r, config)] == ["mine"]
    assert subs.get(r, config, "cfg") is None


def test_cli_subscribe_list_unsubscribe(redis_client, config_file, capsys):
    code, out, err = run(config_file, capsys, "subscribe", "ana", "--email", "ana@example.org", "--kinds",
                         "record,diverging", "--place", "Kyiv", "--min-value", "100", "--cadence", "daily",
                         "--at", "08:30", "--timezone", "Europe/Kyiv")
    assert code == 0, err
    assert out.strip() == ("subscribed ana: email ana@example.org; kinds record,diverging; places Kyiv; "
                           "min value 100; daily at 08:30 Europe/Kyiv")
    code, out, _ = run(config_file, capsys, "subscribe", "hook", "--webhook", "https://hooks.example.org/tw")
    assert code == 0 and "signing secret (shown once): whsec_" in out

    code, out, _ = run(config_file, capsys, "subscriptions")
    lines = out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["cfg", "ana", "hook"]
    assert "[config, read-only]" in lines[0]
    code, out, _ = run(config_file, capsys, "subscriptions", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows[2]["secrets"] == 1 and "whsec" not in out

    code, out, _ = run(config_file, capsys, "unsubscribe", "ana")
    assert code == 0 and out.strip() == "unsubscribed ana"
    code, out, _ = run(config_file, capsys, "subscriptions")
    assert "ana" not in out


@pytest.mark.parametrize("argv, message", [
    (["subscribe", "x", "--email", "nope"], "--email: 'nope' is not an email address"),
    (["subscribe", "x", "--email", "x@example.org", "--kinds", "bogus"], "--kinds: Input should be"),
    (["subscribe", "x", "--email", "x@example.org", "--cadence", "daily", "--timezone", "Nowhere/X"],
     "--timezone: 'Nowhere/X' is not an IANA time zone"),
    (["subscribe", "x", "--webhook", "http://192.168.1.1/h"], "--webhook: 192.168.1.1 is a loopback/private"),
    (["subscribe", "cfg", "--email", "x@example.org"], "ID: 'cfg' is a subscriber of the config file"),
    (["subscribe", "x"], "give exactly one channel: 'email' or 'webhook'"),
    (["subscribe", "x", "--email", "x@example.org", "--webhook", "https://h.example/x"], "exactly one channel"),
    (["subscribe", "x", "--email", "x@example.org", "--min-value", "lots"], "--min-value: Input should be a valid"),
    (["unsubscribe", "nobody"], "no subscription 'nobody'"),
    (["deliveries", "--redrive", "nope"], "no failed delivery 'nope'"),
    (["deliveries", "--redrive"], "give --redrive ID or --redrive --all"),
])
def test_cli_errors_are_one_line_and_exit_2(redis_client, config_file, capsys, argv, message):
    code, out, err = run(config_file, capsys, *argv)
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("tallywatch: error: ")
    assert message in err


def test_cli_subscribe_twice_needs_replace(redis_client, config_file, capsys):
    assert run(config_file, capsys, "subscribe", "x", "--email", "x@example.org")[0] == 0
    code, _, err = run(config_file, capsys, "subscribe", "x", "--email", "y@example.org")
    assert code == 2 and "exists (use --replace to change it)" in err
    assert run(config_file, capsys, "subscribe", "x", "--email", "y@example.org", "--replace")[0] == 0
    assert subs.get(redis_client, load_config(config_file), "x").email == "y@example.org"


def test_cli_deliveries_failed_and_redrive(redis_client, config_file, capsys):
    r = redis_client
    config = load_config(config_file)  # cfg's mail server (localhost:25) is not there
    stage(r, config, [make_alert(1), make_alert(2)], ["cfg"])
    outbox.deliver_pass(r, config, policy=outbox.Policy(max_attempts=1))
    code, out, _ = run(config_file, capsys, "deliveries", "--failed")
    lines = out.strip().splitlines()
    assert code == 0 and lines[-1] == "1 failed delivery"
    did = lines[0].split()[0]
    assert "cfg" in lines[0] and "tries 1" in lines[0] and "error: SMTP" in lines[0]
    code, out, _ = run(config_file, capsys, "deliveries")
    assert out.strip() == "outbox: 0 to send, 0 waiting for a retry, 0 staged, 1 failed"
    code, out, _ = run(config_file, capsys, "deliveries", "--redrive", did)
    assert code == 0 and out.strip() == "re-queued 1 delivery"
    assert run(config_file, capsys, "deliveries")[1].strip() == "outbox: 1 to send, 0 waiting for a retry, " \
                                                                "0 staged, 0 failed"
    outbox.deliver_pass(r, config, policy=outbox.Policy(max_attempts=1))
    code, out, _ = run(config_file, capsys, "deliveries", "--redrive", "--all")
    assert out.strip() == "re-queued 1 delivery"


def test_cli_deliver_once(redis_client, config_file, capsys):
    from tests.test_outbox import Smtp

    smtp = Smtp().start()
    try:
        smtp_table = f'[smtp]\nhost = "127.0.0.1"\nport = {smtp.port}\n\n[[subscribers]]'
        config_file.write_text(config_file.read_text().replace("[[subscribers]]", smtp_table))
        stage(redis_client, load_config(config_file), [make_alert(1)], ["cfg"])
        code, out, _ = run(config_file, capsys, "deliver", "--once")
        assert code == 0 and out.strip() == "delivered 1 (1 alerts, 0 digests), 0 to retry, 0 given up"
        assert len(smtp.messages) == 1
    finally:
        smtp.stop()
