"""The on-disk outbox: order, acknowledgement, the bound, and surviving a restart."""

from __future__ import annotations

import threading

import pytest

from edgewatch.errors import ConfigError
from edgewatch.mqtt.outbox import Outbox


def fill(outbox: Outbox, n: int, stream: str = "cam", start: int = 0) -> None:
    for i in range(start, start + n):
        outbox.append(f"t/{stream}", str(i).encode(), 1, False, stream=stream)


def payloads(rows) -> list[int]:
    return [int(row.payload) for row in rows]


def test_peek_gives_oldest_first_and_ack_removes_only_acknowledged(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", 100)
    fill(outbox, 5)
    rows = outbox.peek(3)
    assert payloads(rows) == [0, 1, 2]
    assert payloads(outbox.peek(10, after_id=rows[-1].id)) == [3, 4]
    outbox.ack([rows[0].id, rows[2].id])
    assert payloads(outbox.peek(10)) == [1, 3, 4]
    assert outbox.depth() == 3
    outbox.ack([rows[0].id])  # acknowledging twice is harmless
    assert outbox.depth() == 3


def test_streams_keep_their_own_order(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", 100)
    fill(outbox, 3, "a")
    fill(outbox, 3, "b", start=10)
    fill(outbox, 2, "a", start=3)
    assert payloads(outbox.peek(10, stream="a")) == [0, 1, 2, 3, 4]
    assert payloads(outbox.peek(10, stream="b")) == [10, 11, 12]
    assert outbox.depth("a") == 5


def test_bound_drops_the_oldest_and_counts_them_across_restarts(tmp_path):
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path, 10)
    fill(outbox, 25)
    assert payloads(outbox.peek(100)) == list(range(15, 25))
    assert outbox.dropped == 15
    outbox.close()
    reopened = Outbox(path, 10)
    assert reopened.dropped == 15
    assert reopened.depth() == 10
    fill(reopened, 1, start=25)
    assert reopened.dropped == 16


def test_queued_messages_survive_a_restart(tmp_path):
    path = tmp_path / "state" / "o.sqlite3"  # the folder is created
    outbox = Outbox(path, 100)
    fill(outbox, 4)
    outbox.ack([outbox.peek(1)[0].id])
    outbox.close()
    reopened = Outbox(path, 100)
    rows = reopened.peek(10)
    assert payloads(rows) == [1, 2, 3]
    assert rows[0].topic == "t/cam" and rows[0].qos == 1 and rows[0].retain is False
    fill(reopened, 1, start=4)  # ids keep growing: new rows go after the old ones
    assert payloads(reopened.peek(10)) == [1, 2, 3, 4]


def test_appends_from_many_threads_lose_nothing(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", 10_000)
    threads = [
        threading.Thread(target=fill, args=(outbox, 200, f"s{i}", i * 1000)) for i in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outbox.depth() == 800
    for i in range(4):
        assert payloads(outbox.peek(1000, stream=f"s{i}")) == list(range(i * 1000, i * 1000 + 200))


def test_unwritable_path_is_a_clear_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match=r"cannot open the MQTT outbox .*outbox_path"):
        Outbox(blocker / "o.sqlite3", 100)


def test_a_file_that_is_no_database_is_a_clear_config_error(tmp_path):
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"x" * 4096)
    with pytest.raises(ConfigError, match="not a database"):
        Outbox(path, 100)
