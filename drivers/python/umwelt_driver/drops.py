"""Counting dropped messages by class, logging them at a bounded rate, and
noticing sustained invalid traffic (Rust: ``DropCounter`` and the runtime's
``DropLog``)."""

from __future__ import annotations

import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

from .errors import DROP_CLASSES, ErrorClass

#: Invalid messages per second that count towards an alarm.
ALARM_PER_SECOND = 10
#: Consecutive such seconds that raise it.
ALARM_SECONDS = 3


class DropLog:
    """Thread-safe drop counts by :class:`ErrorClass`, with at most one log
    line per ``interval_s`` (the others are counted, not printed) and an
    "under attack?" alarm while at least :data:`ALARM_PER_SECOND` drops
    arrive in each of :data:`ALARM_SECONDS` consecutive seconds.

    ``log`` receives each line; ``monotonic`` is the clock (for tests)."""

    def __init__(
        self,
        log: Callable[[str], None],
        interval_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._interval = interval_s
        self._clock = monotonic
        self._lock = threading.Lock()
        self._counts: Dict[ErrorClass, int] = {c: 0 for c in DROP_CLASSES}
        self._last_log: Optional[float] = None
        self._held_back = 0
        self._total_then = 0
        self._busy_seconds = 0

    def record(self, cls: ErrorClass, why: str) -> None:
        """Counts one dropped message of class ``cls`` and logs ``why``
        unless a line was logged less than ``interval_s`` ago."""
        with self._lock:
            self._counts[cls] = self._counts.get(cls, 0) + 1
            now = self._clock()
            if self._last_log is not None and now - self._last_log < self._interval:
                self._held_back += 1
                return
            held, self._held_back, self._last_log = self._held_back, 0, now
            total = sum(self._counts.values())
        kind = "stale or unauthorised" if cls.is_freshness else "malformed"
        more = f", {held} more not logged" if held else ""
        self._log(f"dropped a {kind} message: {why} ({total} dropped so far{more})")

    def count(self, cls: ErrorClass) -> int:
        """Messages dropped as ``cls``."""
        with self._lock:
            return self._counts.get(cls, 0)

    def total(self) -> int:
        """Messages dropped for any reason."""
        with self._lock:
            return sum(self._counts.values())

    def by_class(self) -> List[Tuple[str, int]]:
        """``(class name, count)`` for each class with drops, in Rust's order."""
        with self._lock:
            return [(c.value, n) for c, n in self._counts.items() if n]

    def summary(self) -> str:
        """One line, e.g. ``3 dropped (stale 1, expired 2)``."""
        parts = self.by_class()
        total = sum(n for _, n in parts)
        inner = ", ".join(f"{c} {n}" for c, n in parts)
        return f"{total} dropped" + (f" ({inner})" if inner else "")

    def telemetry_values(self) -> List[Tuple[str, float]]:
        """``dropped`` (the total) and ``dropped_<class>`` for every class,
        so that monitors see a class appear."""
        with self._lock:
            counts = dict(self._counts)
        values = [("dropped", float(sum(counts.values())))]
        values += [(f"dropped_{c.value}", float(counts[c])) for c in DROP_CLASSES]
        return values

    def second_passed(self) -> Optional[str]:
        """Call once a second: the alarm sentence while invalid traffic is
        sustained, else ``None``."""
        with self._lock:
            total = sum(self._counts.values())
            new, self._total_then = total - self._total_then, total
            self._busy_seconds = self._busy_seconds + 1 if new >= ALARM_PER_SECOND else 0
            busy = self._busy_seconds
        if busy < ALARM_SECONDS:
            return None
        return (
            f"under attack? {new} invalid messages in the last second, "
            f"{busy} s running ({self.summary()})"
        )
