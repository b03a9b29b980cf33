"""Bounded hand-over between stages: live work drops the oldest, file work waits."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Closed(Exception):
    """The queue was closed and is empty."""


class BoundedQueue(Generic[T]):
    """A FIFO of at most ``capacity`` items.

    ``put(item, lossless=False)`` evicts the oldest item when full (and counts it), so a
    live consumer always gets the newest picture; ``lossless=True`` waits for room instead.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self.dropped = 0
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._closed = False

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, *, lossless: bool = False, stop: threading.Event | None = None) -> bool:
        """Queue ``item``; False when the queue was closed (or ``stop`` set while waiting)."""
        with self._cond:
            while lossless and len(self._items) >= self.capacity and not self._closed:
                if stop is not None and stop.is_set():
                    return False
                self._cond.wait(0.1)
            if self._closed:
                return False
            if len(self._items) >= self.capacity:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> T:
        """The oldest item; raises `Closed` once closed and drained, TimeoutError on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._items:
                if self._closed:
                    raise Closed
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError
                self._cond.wait(remaining)
            item = self._items.popleft()
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more puts; gets drain what is left, then raise `Closed`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class FrameInbox(Generic[T]):
    """One bounded queue per camera, read as batches taken round-robin across cameras,
    so a busy camera cannot starve a quiet one."""

    def __init__(self, cameras: list[str], capacity: int) -> None:
        self.queues = {name: BoundedQueue[T](capacity) for name in cameras}
        self._open = set(cameras)
        self._cond = threading.Condition()
        self._next = 0

    def put(self, camera: str, item: T, *, lossless: bool, stop: threading.Event) -> bool:
        queued = self.queues[camera].put(item, lossless=lossless, stop=stop)
        with self._cond:
            self._cond.notify_all()
        return queued

    def finish(self, camera: str) -> None:
        """This camera sends nothing more."""
        with self._cond:
            self._open.discard(camera)
            self._cond.notify_all()

    def take(self, max_items: int, timeout: float = 0.1) -> list[T] | None:
        """Up to ``max_items`` items, at least one unless ``timeout`` passes ([]); None once
        every camera has finished and everything was taken."""
        deadline = time.monotonic() + timeout
        names = list(self.queues)
        with self._cond:
            while True:
                batch: list[T] = []
                for _ in range(max_items):
                    got = False
                    for i in range(len(names)):
                        queue = self.queues[names[(self._next + i) % len(names)]]
                        if len(queue):
                            batch.append(queue.get())
                            self._next = (self._next + i + 1) % len(names)
                            got = True
                            break
                    if not got or len(batch) == max_items:
                        break
                if batch:
                    return batch
                if not self._open:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)

    @property
    def dropped(self) -> dict[str, int]:
        return {name: queue.dropped for name, queue in self.queues.items()}
