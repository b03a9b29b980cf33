"""No thread dies silently: every worker thread of edgewatch is a `SupervisedThread`.

An unexpected exception in a worker is logged once with its traceback. Then either the
work starts again (``restart=True``: a camera reader, an output's runner, with a growing
pause so a thread failing on every try does not spin), or the process is marked as
crashed (`crashed()`): the command's main loop sees it, shuts down in order and exits
non-zero, and systemd (`deploy/systemd/`) starts it again. A live process that does
nothing is never the outcome.

Threads report progress with `beat()`; `health()` gives the figures the system statistics
carry: how many supervised threads are alive, how many crashed, and how long ago the most
stuck one last made progress.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

log = logging.getLogger(__name__)

RESTART_MIN_S, RESTART_MAX_S = 1.0, 60.0

_threads: weakref.WeakSet[SupervisedThread] = weakref.WeakSet()
_lock = threading.Lock()
_crash: list[str] = []  # the first unrecoverable crash of this process, as one line
_crash_count = 0


class SupervisedThread(threading.Thread):
    """A daemon thread running ``target`` (or the subclass's `work`) under supervision."""

    def __init__(
        self,
        target: Callable[[], object] | None = None,
        *,
        name: str,
        restart: bool = False,
        beats: bool = True,
        daemon: bool = True,
    ) -> None:
        """``beats``: the work calls `beat` every few seconds (a thread blocked in a
        foreign event loop cannot, and does not count in ``stalest_thread_s``)."""
        super().__init__(name=name, daemon=daemon)
        self._work = target
        self.restart = restart
        self.beats = beats
        self.crashes = 0
        self.last_beat = time.monotonic()
        with _lock:
            _threads.add(self)

    def work(self) -> None:
        """The thread's job; returns when done. Subclasses override it (or pass target)."""
        if self._work is not None:
            self._work()

    def finish(self) -> None:
        """Runs once when the thread ends for good (after the last restart)."""

    def beat(self) -> None:
        """Progress: called by the work loop at least every few seconds while it runs."""
        self.last_beat = time.monotonic()

    def run(self) -> None:
        pause = RESTART_MIN_S
        try:
            while True:
                try:
                    self.work()
                    return
                except Exception as error:
                    self._crashed(error)
                    if not self.restart:
                        return
                time.sleep(pause)
                pause = min(pause * 2, RESTART_MAX_S)
                log.info("thread %s: starting its work again", self.name)
                self.beat()
        finally:
            self.finish()

    def _crashed(self, error: Exception) -> None:
        global _crash_count
        self.crashes += 1
        with _lock:
            _crash_count += 1
        if self.crashes == 1:  # the traceback once; a thread failing again is counted
            what = "restarting it" if self.restart else "the process will exit"
            log.exception("thread %s failed unexpectedly (%s); %s", self.name, error, what)
        if not self.restart:
            with _lock:
                if not _crash:
                    _crash.append(f"thread {self.name} failed: {type(error).__name__}: {error}")


def crashed() -> str | None:
    """One line on the first worker that failed beyond restarting, or None."""
    with _lock:
        return _crash[0] if _crash else None


def health() -> dict[str, float]:
    """Figures for the system statistics (numbers only)."""
    now = time.monotonic()
    with _lock:
        threads = [t for t in _threads if t.is_alive()]
        crashes = _crash_count
    stalest = max((now - t.last_beat for t in threads if t.beats), default=0.0)
    return {
        "threads_alive": float(len(threads)),
        "thread_crashes": float(crashes),
        "stalest_thread_s": round(stalest, 3),
    }


def reset() -> None:
    """Forget earlier crashes (a test, or an embedder running one pipeline after another)."""
    global _crash_count
    with _lock:
        _crash.clear()
        _crash_count = 0
