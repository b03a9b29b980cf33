"""Frames from many camera threads gathered into batches for one detector.

A GPU detects a batch of 32 frames in little more time than one, so the detector
should wait for a full batch, but never so long that a quiet camera's frame goes
stale: a batch leaves when it is full or when its oldest frame has waited
``max_wait_s``, whichever comes first.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class BatchCollector:
    """Thread-safe: any number of threads `put`, one or more consumers `take`.

    `close()` ends it: `take` then returns what is left without waiting, and [] from
    then on, so a `while batch := collector.take()` loop ends; later `put`s are refused.
    """

    def __init__(
        self,
        max_batch: int,
        max_wait_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``clock`` stamps arrivals; it must run in seconds, as waits use real time."""
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be 0 or more, got {max_wait_s}")
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._waiting: deque[tuple[float, Any]] = deque()  # (arrival time, item)
        self._changed = threading.Condition()
        self._wanted: list[int] = []  # the batch size each waiting consumer waits for
        self._closed = False
        self._batches = 0
        self._items = 0
        self._refused = 0

    def put(self, item: Any) -> bool:
        """Adds an item; False (and counted) if the collector is closed."""
        with self._changed:
            if self._closed:
                self._refused += 1
                return False
            self._waiting.append((self._clock(), item))
            # Wake consumers only when one may now have something to do: the first item
            # starts a clock, a full batch ends a wait. Waking them on every frame of
            # every camera would cost a thread switch per frame.
            count = len(self._waiting)
            if count == 1 or count >= min(self._wanted, default=self.max_batch):
                self._changed.notify_all()
            return True

    def take(self, max_batch: int | None = None) -> list:
        """Up to ``max_batch`` items in arrival order, once that many wait or the oldest
        has waited ``max_wait_s``; after `close()`, what is left at once, then []."""
        limit = self.max_batch if max_batch is None else max_batch
        if limit < 1:
            raise ValueError(f"max_batch must be at least 1, got {limit}")
        with self._changed:
            self._wanted.append(limit)
            try:
                self._wait_for_batch(limit)
            finally:
                self._wanted.remove(limit)
            count = min(limit, len(self._waiting))
            batch = [self._waiting.popleft()[1] for _ in range(count)]
            if batch:
                self._batches += 1
                self._items += count
            return batch

    def _wait_for_batch(self, limit: int) -> None:
        """Waits (holding the condition) until a batch of ``limit`` may leave."""
        while not self._closed and len(self._waiting) < limit:
            if not self._waiting:
                self._changed.wait()
                continue
            left = self._waiting[0][0] + self.max_wait_s - self._clock()
            if left <= 0:
                return
            self._changed.wait(timeout=left)

    def close(self) -> None:
        """Ends the collector: consumers drain what is left and then get []."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def waiting(self) -> int:
        """Items waiting now; without the lock (a deque's length is read atomically), as
        every camera's thread asks before each frame."""
        return len(self._waiting)

    def stats(self) -> dict[str, float]:
        """Batches and items taken so far, the mean batch size, and what waits now."""
        with self._changed:
            return {
                "batches": self._batches,
                "items": self._items,
                "mean_batch_size": self._items / self._batches if self._batches else 0.0,
                "waiting": len(self._waiting),
                "refused": self._refused,
            }
