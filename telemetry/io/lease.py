"""The run lease: one run at a time writes an output root.

One run at a time writes an output root: a run holds the **lease** ``_lock/lease.json`` (:class:`RunLease`),
taken and renewed by compare-and-swap (:meth:`~telemetry.io.store.Store.write_if`; conditional PUTs on S3).
A second run fails at once with :class:`~telemetry.errors.LockedError` naming the holder. A lease not
renewed for ``ttl_s`` (its run died) may be taken over; a run whose lease was taken over stops with
:class:`~telemetry.errors.LeaseLostError`. See docs/reliability.md for what this does and does not guarantee.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import threading
import time
from typing import Any

from telemetry.contract.layout import LEASE_KEY
from telemetry.errors import LeaseLostError, LockedError, StoreError
from telemetry.io.store import Store

__all__ = ["RunLease"]

logger = logging.getLogger(__name__)


def _iso(epoch_s: float) -> str:
    return dt.datetime.fromtimestamp(epoch_s, dt.UTC).isoformat(timespec="seconds")


class RunLease:
    """Exclusive, expiring right of one run to write an output root.

    The lease object ``_lock/lease.json`` names the run, host, pid and an expiry time (the holder's clock,
    epoch seconds). :meth:`acquire` creates it only if absent, or replaces it only if it is released or
    expired, and only if it did not change since it was read (compare-and-swap): of two runs that try at
    once, exactly one wins. A background thread renews the expiry every ``ttl_s / 3`` seconds with the same
    compare-and-swap; if the lease was taken over meanwhile, :attr:`lost` says why, and :meth:`check`
    raises :class:`~telemetry.errors.LeaseLostError`. :meth:`release` marks it released (again by
    compare-and-swap: a lease taken over is left alone). Use as a context manager.

    Clocks of different hosts are trusted to within a small fraction of ``ttl_s``.
    """

    def __init__(self, out: Store, run_id: str, command: str, ttl_s: float) -> None:
        self.out = out
        self.run_id = run_id
        self.command = command
        self.ttl_s = ttl_s
        self.lost: str | None = None
        self._token: str | None = None
        self._acquired_at = time.time()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _record(self, state: str, now: float) -> bytes:
        data = {
            "run_id": self.run_id,
            "command": self.command,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "state": state,
            "acquired_at": _iso(self._acquired_at),
            "renewed_at": _iso(now),
            "expires_at": _iso(now + self.ttl_s),
            "expires_at_epoch_s": now + self.ttl_s,
        }
        return json.dumps(data, indent=1, sort_keys=True).encode()

    @classmethod
    def acquire(cls, out: Store, run_id: str, *, command: str = "", ttl_s: float = 120.0) -> RunLease:
        """Take the lease of `out` for `run_id` and start renewing it.

        Raises:
            LockedError: another run holds a lease that has not expired, or won a simultaneous attempt.
        """
        if ttl_s <= 0:
            raise ValueError(f"'ttl_s' must be > 0 seconds (got {ttl_s!r})")
        lease = cls(out, run_id, command, ttl_s)
        current = out.read_with_token(LEASE_KEY)
        now = time.time()
        if current is None:
            lease._token = out.write_if(LEASE_KEY, lease._record("held", now), None)
        else:
            data, token = current
            holder = _parse_lease(data)
            if holder.get("state") == "held" and float(holder.get("expires_at_epoch_s", 0)) > now:
                raise LockedError(_locked_message(out, holder))
            lease._token = out.write_if(LEASE_KEY, lease._record("held", now), token)
            if lease._token is not None and holder.get("state") == "held":
                logger.warning("took over the expired lease of run %s on %s", holder.get("run_id"), out.url)
        if lease._token is None:  # another run won the compare-and-swap
            again = out.read_with_token(LEASE_KEY)
            raise LockedError(_locked_message(out, _parse_lease(again[0]) if again else {}))
        lease._thread = threading.Thread(target=lease._heartbeat, name=f"lease-{run_id}", daemon=True)
        lease._thread.start()
        return lease

    def renew(self) -> bool:
        """Push the expiry forward; False (and :attr:`lost` set) when the lease was taken over."""
        with self._lock:
            if self.lost is not None or self._token is None:
                return False
            token = self.out.write_if(LEASE_KEY, self._record("held", time.time()), self._token)
            if token is None:
                current = self.out.read_with_token(LEASE_KEY)
                holder = _parse_lease(current[0]) if current else {}
                self.lost = (
                    f"the lease on {self.out.url} was taken over by run {holder.get('run_id', '?')} "
                    f"after this run ({self.run_id}) did not renew it for {self.ttl_s:g} s"
                )
                return False
            self._token = token
            return True

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            try:
                if not self.renew():
                    return
            except StoreError as exc:  # transient: the next beat tries again before the lease expires
                logger.warning("could not renew the lease on %s: %s", self.out.url, exc)

    def check(self) -> None:
        """Raise :class:`~telemetry.errors.LeaseLostError` when the lease was lost."""
        if self.lost is not None:
            raise LeaseLostError(f"{self.lost}; this run stopped, re-run to finish its work")

    def release(self) -> None:
        """Stop renewing and mark the lease released (a no-op when it was lost)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self.lost is None and self._token is not None:
                with contextlib.suppress(StoreError):
                    self.out.write_if(LEASE_KEY, self._record("released", time.time()), self._token)
                self._token = None

    def __enter__(self) -> RunLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _parse_lease(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _locked_message(out: Store, holder: dict[str, Any]) -> str:
    h = {k: holder.get(k, "?") for k in ("run_id", "host", "pid", "acquired_at", "expires_at")}
    return (
        f"output root {out.url} is in use by run {h['run_id']} "
        f"({holder.get('command') or 'telemetry'}, host {h['host']}, pid {h['pid']}) "
        f"since {h['acquired_at']}; its lease expires at {h['expires_at']} unless "
        f"renewed. Wait for that run to finish, or use another --out. If that run is dead, re-run after the "
        f"expiry (or delete {out.url}/{LEASE_KEY})"
    )
