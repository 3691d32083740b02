"""Bounds on the expensive work one request may start: plan size, and one plan drawn at a time.

Drawing a plan is seconds of CPU (design, draw, reasons for every purchase) in the same process that
scores listings. Plans larger than `max_plan_budget` / `max_plan_targets` are refused with the field named,
and a second plan request while one is being drawn gets 429 with Retry-After instead of a second core's
worth of work, so scoring keeps its share of the machine.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: what a client should wait before trying again when a plan is being drawn
RETRY_AFTER_S = 5


class Busy(Exception):
    """Another plan is being drawn now."""


class Gate:
    """At most `slots` plans drawn at once; a request beyond that is refused at once, never queued."""

    def __init__(self, slots: int = 1):
        self._sem = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._sem.acquire(blocking=False):
            raise Busy("another plan is being drawn; retry in a few seconds")
        try:
            yield
        finally:
            self._sem.release()
