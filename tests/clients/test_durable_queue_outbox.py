"""The durable queue as the MQTT outbox: order per stream, acknowledgement, the bound in
messages, surviving a restart, and files from before it had one name."""

from __future__ import annotations

import threading

import pytest

from edgewatch.clients.durable_queue import DurableQueue
from edgewatch.errors import ConfigError


def open_outbox(path, max_messages: int) -> DurableQueue:
    """The outbox as the MQTT output opens it."""
    return DurableQueue(path, max_messages, what="MQTT outbox", setting="outputs.mqtt.outbox_path")


def fill(outbox: DurableQueue, n: int, stream: str = "cam", start: int = 0) -> None:
    for i in range(start, start + n):
        outbox.append(str(i).encode(), stream=stream, topic=f"t/{stream}", qos=1)


def payloads(rows) -> list[int]:
    return [int(row.payload) for row in rows]


def test_peek_gives_oldest_first_and_ack_removes_only_acknowledged(tmp_path):
    outbox = open_outbox(tmp_path / "o.sqlite3", 100)
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
    outbox = open_outbox(tmp_path / "o.sqlite3", 100)
    fill(outbox, 3, "a")
    fill(outbox, 3, "b", start=10)
    fill(outbox, 2, "a", start=3)
    assert payloads(outbox.peek(10, stream="a")) == [0, 1, 2, 3, 4]
    assert payloads(outbox.peek(10, stream="b")) == [10, 11, 12]
    assert outbox.depth("a") == 5


def test_bound_drops_the_oldest_and_counts_them_across_restarts(tmp_path):
    path = tmp_path / "o.sqlite3"
    outbox = open_outbox(path, 10)
    fill(outbox, 25)
    assert payloads(outbox.peek(100)) == list(range(15, 25))
    assert outbox.dropped == 15
    outbox.close()
    reopened = open_outbox(path, 10)
    assert reopened.dropped == 15
    assert reopened.depth() == 10
    fill(reopened, 1, start=25)
    assert reopened.dropped == 16


def test_queued_messages_survive_a_restart(tmp_path):
    path = tmp_path / "state" / "o.sqlite3"  # the folder is created
    outbox = open_outbox(path, 100)
    fill(outbox, 4)
    outbox.ack([outbox.peek(1)[0].id])
    outbox.close()
    reopened = open_outbox(path, 100)
    rows = reopened.peek(10)
    assert payloads(rows) == [1, 2, 3]
    assert rows[0].topic == "t/cam" and rows[0].qos == 1 and rows[0].retain is False
    fill(reopened, 1, start=4)  # ids keep growing: new rows go after the old ones
    assert payloads(reopened.peek(10)) == [1, 2, 3, 4]


def test_appends_from_many_threads_lose_nothing(tmp_path):
    outbox = open_outbox(tmp_path / "o.sqlite3", 10_000)
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
        open_outbox(blocker / "o.sqlite3", 100)


def test_a_file_that_is_no_database_is_a_clear_config_error(tmp_path):
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"x" * 4096)
    with pytest.raises(ConfigError, match="not a database"):
        open_outbox(path, 100)


def test_an_outbox_file_of_edgewatch_0_1_is_sent_after_the_upgrade(tmp_path):
    """Regression: merging the outbox and the spool renamed the table; the rows waiting in
    a 0.1 file must not be forgotten."""
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL,"
        " topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,"
        " retain INTEGER NOT NULL);"
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        "INSERT INTO outbox VALUES (7, 'cam', 't/cam', X'3037', 1, 0);"
        "INSERT INTO outbox VALUES (9, 'yard', 't/yard', X'3039', 2, 1);"
        "INSERT INTO counters VALUES ('dropped', 3);"
    )
    db.commit()
    db.close()
    outbox = open_outbox(path, 100)
    rows = outbox.peek(10)
    assert [(r.id, r.topic, r.payload, r.qos, r.retain) for r in rows] == [
        (7, "t/cam", b"07", 1, False),
        (9, "t/yard", b"09", 2, True),
    ]
    assert outbox.depth() == 2 and outbox.depth("yard") == 1 and outbox.dropped == 3
    fill(outbox, 1, start=10)
    assert outbox.peek(10)[-1].id > 9  # new rows still go after the old ones
