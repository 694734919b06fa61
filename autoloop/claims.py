"""Run claims: at most one live writer per run, across terminals, array-job retries and hosts that
share a filesystem.

A claim is `runs/<run_id>/.claim`, created with O_CREAT | O_EXCL (atomic on local filesystems and on
NFSv3+), holding the owner (host, pid, token, time). The owner refreshes the file's mtime (the
heartbeat) while it works. A claim whose heartbeat is older than `stale_after` seconds belongs to a dead
or stuck writer, and a claim whose owner was a process on this host that no longer exists (killed,
crashed) is dead at once; either is taken over: the stale file is renamed away first (exactly one contender's
rename succeeds), then the new claim is created as usual.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path

DEFAULT_STALE_AFTER = 600.0  # seconds without a heartbeat before a claim counts as abandoned
HEARTBEAT_EVERY = 30.0


class Claim:
    def __init__(self, path: Path, token: str):
        self.path = path
        self.token = token

    def owned(self) -> bool:
        try:
            return json.loads(self.path.read_text()).get("token") == self.token
        except (OSError, ValueError):
            return False

    def beat(self) -> None:
        try:
            os.utime(self.path)
        except OSError:
            pass

    def release(self) -> None:
        if self.owned():
            self.path.unlink(missing_ok=True)


def claim_path(run_dir: Path) -> Path:
    return Path(run_dir) / ".claim"


def read_owner(run_dir: Path) -> dict | None:
    try:
        owner = json.loads(claim_path(run_dir).read_text())
        owner["age_s"] = time.time() - claim_path(run_dir).stat().st_mtime
        return owner
    except (OSError, ValueError):
        return None


def try_claim(run_dir: Path, stale_after: float = DEFAULT_STALE_AFTER, job: str | None = None) -> Claim | None:
    """Claim a run directory (created if needed); None if a live writer holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = claim_path(run_dir)
    token = uuid.uuid4().hex
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "token": token, "job": job,
             "claimed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                age = time.time() - path.stat().st_mtime
            except FileNotFoundError:
                continue  # released meanwhile: try again
            if age < stale_after and not _owner_dead(path):
                return None
            aside = path.with_name(f".claim.stale-{token}")
            try:
                os.rename(path, aside)  # only one contender wins this rename
            except FileNotFoundError:
                return None  # someone else took it over first
            aside.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(owner, f)
            f.flush()
            os.fsync(f.fileno())
        return Claim(path, token)
    return None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _owner_dead(path: Path) -> bool:
    """True when the claim's owner ran on this host and its process is gone."""
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return False  # being written right now, or unreadable: let the heartbeat decide
    return owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int) and not pid_alive(owner["pid"])


class Heartbeat:
    """Refresh a set of claims from a background thread while a batch generates."""

    def __init__(self, claims: list[Claim], every: float = HEARTBEAT_EVERY):
        self.claims = claims
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="autoloop-heartbeat")

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            for c in self.claims:
                c.beat()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
