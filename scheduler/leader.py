"""Exactly one active scheduler: a Redis lock with expiry elects the leader.

Every ``tallywatch run`` process tries to take the lock; the holder renews it every few seconds;
the others stand by and retry. If the leader dies, its lock expires after ``ttl`` seconds and a
standby takes over (well inside 30 s with the defaults).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid

LEADER_KEY = "tw:scheduler:leader"
INSTANCES_KEY = "tw:scheduler:instances"

# compare-and-act scripts: only the holder may renew or release the lock
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def new_instance_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class LeaderLock:
    def __init__(self, redis, instance_id: str, ttl: float = 15.0):
        self.redis = redis
        self.instance_id = instance_id
        self.ttl_ms = int(ttl * 1000)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def acquire_or_renew(self) -> bool:
        """True while this instance holds the lock (acquiring it if it is free)."""
        if self.redis.set(LEADER_KEY, self.instance_id, nx=True, px=self.ttl_ms):
            return True
        return bool(self._renew(keys=[LEADER_KEY], args=[self.instance_id, self.ttl_ms]))

    def release(self) -> None:
        self._release(keys=[LEADER_KEY], args=[self.instance_id])

    def holder(self) -> str | None:
        return self.redis.get(LEADER_KEY)


def heartbeat(redis, instance_id: str, role: str) -> None:
    """Record this process in the instances table (``tallywatch status`` reads it)."""
    redis.hset(INSTANCES_KEY, instance_id, json.dumps({"role": role, "seen": time.time(), "pid": os.getpid()}))


def forget_instance(redis, instance_id: str) -> None:
    redis.hdel(INSTANCES_KEY, instance_id)
