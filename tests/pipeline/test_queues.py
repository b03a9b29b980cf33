import threading
import time

import pytest

from edgewatch.pipeline.queues import BoundedQueue, Closed, FrameInbox


def test_live_put_drops_the_oldest_and_counts_it():
    queue = BoundedQueue[int](2)
    for i in range(5):
        queue.put(i)
    assert queue.dropped == 3
    assert [queue.get(0), queue.get(0)] == [3, 4]


def test_lossless_put_waits_for_room_and_loses_nothing():
    queue = BoundedQueue[int](2)
    got = []

    def consume():
        while True:
            try:
                got.append(queue.get())
            except Closed:
                return
            time.sleep(0.005)  # a slow consumer

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(50):
        queue.put(i, lossless=True)
    queue.close()
    consumer.join(5)
    assert got == list(range(50)) and queue.dropped == 0


def test_get_times_out_and_raises_closed_when_drained():
    queue = BoundedQueue[int](1)
    with pytest.raises(TimeoutError):
        queue.get(0.01)
    queue.put(1)
    queue.close()
    assert queue.get() == 1
    with pytest.raises(Closed):
        queue.get()


def test_lossless_put_gives_up_when_stop_is_set():
    queue = BoundedQueue[int](1)
    queue.put(0)
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    assert queue.put(1, lossless=True, stop=stop) is False


def test_inbox_takes_round_robin_so_a_busy_camera_cannot_starve_another():
    stop = threading.Event()
    inbox = FrameInbox[str](["a", "b"], capacity=10)
    for i in range(6):
        inbox.put("a", f"a{i}", lossless=True, stop=stop)
    inbox.put("b", "b0", lossless=True, stop=stop)
    first = inbox.take(4)
    assert "b0" in first and len(first) == 4


def test_inbox_returns_none_once_every_camera_finished_and_drained():
    stop = threading.Event()
    inbox = FrameInbox[str](["a"], capacity=4)
    inbox.put("a", "x", lossless=True, stop=stop)
    inbox.finish("a")
    assert inbox.take(4) == ["x"]
    assert inbox.take(4) is None


def test_inbox_take_times_out_empty_while_cameras_are_open():
    inbox = FrameInbox[str](["a"], capacity=4)
    assert inbox.take(4, timeout=0.01) == []
