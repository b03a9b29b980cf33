"""BatchCollector: full batches leave at once, a lone frame leaves after max_wait_s,
nothing is lost, duplicated or reordered, and close() lets the consumer finish."""

from __future__ import annotations

import threading
import time

import pytest

from edgewatch.gpu.batching import BatchCollector


def timed_take(collector: BatchCollector, **kwargs) -> tuple[list, float]:
    start = time.monotonic()
    batch = collector.take(**kwargs)
    return batch, time.monotonic() - start


def test_a_full_batch_returns_at_once():
    collector = BatchCollector(max_batch=4, max_wait_s=5.0)
    for item in range(6):
        collector.put(item)
    batch, took = timed_take(collector)
    assert batch == [0, 1, 2, 3] and took < 0.1


def test_a_batch_filling_while_waiting_returns_when_full():
    collector = BatchCollector(max_batch=3, max_wait_s=5.0)
    collector.put("a")
    threading.Timer(0.05, lambda: [collector.put(x) for x in "bc"]).start()
    batch, took = timed_take(collector)
    assert batch == ["a", "b", "c"] and took < 1.0


def test_a_smaller_max_batch_for_one_take_is_honoured():
    collector = BatchCollector(max_batch=32, max_wait_s=5.0)
    collector.put(1)
    threading.Timer(0.05, lambda: collector.put(2)).start()
    batch, took = timed_take(collector, max_batch=2)
    assert batch == [1, 2] and took < 1.0


def test_a_lone_item_returns_after_about_max_wait():
    collector = BatchCollector(max_batch=8, max_wait_s=0.05)
    collector.put("only")
    batch, took = timed_take(collector)
    assert batch == ["only"]
    assert 0.04 <= took < 0.2


def test_the_wait_counts_from_the_oldest_item_not_the_take():
    """A camera is never kept waiting longer than max_wait_s, however late the take."""
    collector = BatchCollector(max_batch=8, max_wait_s=0.3)
    collector.put("old")
    time.sleep(0.3)
    batch, took = timed_take(collector)
    assert batch == ["old"] and took < 0.15


def test_a_take_waits_for_the_first_item():
    collector = BatchCollector(max_batch=8, max_wait_s=0.05)
    threading.Timer(0.1, lambda: collector.put("late")).start()
    batch, took = timed_take(collector)
    assert batch == ["late"] and 0.1 <= took < 0.4


def test_items_leave_in_arrival_order():
    collector = BatchCollector(max_batch=3, max_wait_s=0.01)
    for item in range(8):
        collector.put(item)
    taken = [collector.take(), collector.take(), collector.take()]
    assert taken == [[0, 1, 2], [3, 4, 5], [6, 7]]


def test_many_producers_lose_and_duplicate_nothing():
    collector = BatchCollector(max_batch=16, max_wait_s=0.01)
    cameras, frames_each = 8, 250
    taken: list = []

    def consume():
        while batch := collector.take():
            assert len(batch) <= 16
            taken.extend(batch)

    def produce(camera: int):
        for frame in range(frames_each):
            collector.put((camera, frame))

    consumer = threading.Thread(target=consume)
    consumer.start()
    producers = [threading.Thread(target=produce, args=(c,)) for c in range(cameras)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    collector.close()
    consumer.join(timeout=5)
    assert not consumer.is_alive()
    assert sorted(taken) == [(c, f) for c in range(cameras) for f in range(frames_each)]
    for camera in range(cameras):  # each camera's frames stay in order
        assert [f for c, f in taken if c == camera] == list(range(frames_each))
    stats = collector.stats()
    assert stats["items"] == cameras * frames_each
    assert stats["mean_batch_size"] == pytest.approx(stats["items"] / stats["batches"])


def test_close_drains_what_is_left_then_returns_empty():
    collector = BatchCollector(max_batch=4, max_wait_s=10.0)
    for item in range(6):
        collector.put(item)
    collector.close()
    assert collector.take() == [0, 1, 2, 3]
    batch, took = timed_take(collector)
    assert batch == [4, 5] and took < 0.1
    assert collector.take() == [] and collector.take() == []
    assert collector.put(6) is False
    assert collector.stats()["refused"] == 1


def test_close_wakes_a_waiting_consumer():
    collector = BatchCollector(max_batch=4, max_wait_s=10.0)
    threading.Timer(0.05, collector.close).start()
    batch, took = timed_take(collector)
    assert batch == [] and took < 1.0


def test_stats_count_batches_and_items():
    collector = BatchCollector(max_batch=2, max_wait_s=0.0)
    assert collector.stats()["mean_batch_size"] == 0.0
    for item in range(3):
        collector.put(item)
    collector.take()
    collector.take()
    assert collector.stats() == {
        "batches": 2,
        "items": 3,
        "mean_batch_size": 1.5,
        "waiting": 0,
        "refused": 0,
    }


@pytest.mark.parametrize("max_batch, max_wait_s", [(0, 0.1), (4, -1.0)])
def test_bad_settings_are_refused(max_batch, max_wait_s):
    with pytest.raises(ValueError, match="max_"):
        BatchCollector(max_batch=max_batch, max_wait_s=max_wait_s)
