"""docker-compose.yml stays in step with the code: it parses, has the services the README names, and
every tallywatch command in it is one the CLI accepts. (No Docker engine runs here.)"""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from scheduler.cli import build_parser

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def test_compose_services_and_commands():
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert {"redis", "scheduler", "worker", "deliver", "web", "mailpit"} <= set(services)
    assert "--appendonly" in services["redis"]["command"] and "yes" in services["redis"]["command"]
    parser = build_parser()
    for name in ("scheduler", "worker", "deliver", "web"):
        command = services[name]["command"]
        if command[:2] == ["sh", "-c"]:
            command = shlex.split(command[2].replace("${SCHEDULER_ARGS:-}", "--distributed").removeprefix("exec "))
        assert command[0] == "tallywatch", name
        args = parser.parse_args(command[1:])
        assert args.config == "/config/tallywatch.toml"
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    for svc in services.values():
        for dep in svc.get("depends_on", {}):
            assert dep in services
