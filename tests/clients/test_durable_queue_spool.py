"""The durable queue as the InfluxDB spool: groups of points in order, the bound in points,
restarts, bad paths, and files from before it had one name."""

from __future__ import annotations

import pytest

from edgewatch.clients.durable_queue import DurableQueue
from edgewatch.errors import ConfigError

pytestmark = pytest.mark.timeout(180)


def open_spool(path, max_points: int) -> DurableQueue:
    """The spool as the InfluxDB output opens it."""
    return DurableQueue(
        path, max_points, what="InfluxDB spool", setting="outputs.influx.spool_path"
    )


def group(tag: str, points: int) -> list[str]:
    return [f"m,obj={tag}{k} x=1 {k}" for k in range(points)]


def test_groups_come_back_oldest_first_and_leave_only_when_acked(tmp_path):
    spool = open_spool(tmp_path / "s.sqlite3", max_points=1000)
    for tag in "abc":
        assert spool.append_lines(group(tag, 3)) == 0
    assert spool.append_lines([]) == 0  # a frame without objects is no group
    assert spool.depth() == 9

    groups = spool.peek(100)
    assert [g.lines for g in groups] == [group("a", 3), group("b", 3), group("c", 3)]
    assert [g.id for g in groups] == sorted(g.id for g in groups)
    # Bounded in points, whole groups only; after_id continues behind a cursor.
    assert [g.lines for g in spool.peek(5)] == [group("a", 3)]
    assert [g.lines for g in spool.peek(6, after_id=groups[0].id)] == [group("b", 3), group("c", 3)]
    # One group larger than the limit still comes out, alone.
    assert [g.lines for g in spool.peek(1)] == [group("a", 3)]

    spool.ack([groups[1].id])
    assert spool.depth() == 6
    assert [g.lines for g in spool.peek(100)] == [group("a", 3), group("c", 3)]
    spool.ack([groups[1].id, groups[0].id])  # acking one twice is harmless
    assert spool.depth() == 3
    spool.close()


def test_beyond_the_bound_the_oldest_groups_are_dropped_and_counted_across_restarts(tmp_path):
    path = tmp_path / "s.sqlite3"
    spool = open_spool(path, max_points=10)
    for tag in "abc":
        spool.append_lines(group(tag, 4))  # 12 points: the oldest group of 4 goes
    assert spool.depth() == 8 and spool.dropped == 4
    assert [g.lines for g in spool.peek(100)] == [group("b", 4), group("c", 4)]
    spool.close()

    spool = open_spool(path, max_points=10)
    assert spool.depth() == 8 and spool.dropped == 4
    assert spool.append_lines(group("d", 5)) == 4  # 13 points: b goes, and 9 fit
    assert spool.dropped == 8
    # A group larger than the whole bound cannot be kept at all.
    assert spool.append_lines(group("e", 11)) == 20
    assert spool.depth() == 0 and spool.peek(100) == []
    spool.close()
    assert open_spool(path, max_points=10).dropped == 28


def test_unacked_groups_survive_a_reopen_in_order(tmp_path):
    path = tmp_path / "state" / "s.sqlite3"  # the folder is created
    spool = open_spool(path, max_points=1000)
    spool.append_lines(group("a", 2))
    spool.append_lines(group("b", 1))
    first = spool.peek(100)[0]
    spool.ack([first.id])
    spool.append_lines(group("c", 2))
    del spool  # no close(): as after a crash

    spool = open_spool(path, max_points=1000)
    assert spool.depth() == 3
    groups = spool.peek(100)
    assert [g.lines for g in groups] == [group("b", 1), group("c", 2)]
    # Ids are never reused, so a newer group always sorts after the older ones.
    spool.append_lines(group("d", 1))
    assert spool.peek(100)[-1].id > groups[-1].id
    spool.close()
    spool.close()  # twice is harmless
    spool.ack([groups[0].id])  # a late confirmation after close is ignored


def test_an_unusable_path_is_a_config_error_naming_the_setting(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError) as caught:
        open_spool(blocker / "s.sqlite3", max_points=100)
    assert "outputs.influx.spool_path" in str(caught.value)

    not_sqlite = tmp_path / "notes.txt"
    not_sqlite.write_text("not a database " * 100)
    with pytest.raises(ConfigError) as caught:
        open_spool(not_sqlite, max_points=100)
    assert "outputs.influx.spool_path" in str(caught.value)


def test_a_spool_file_of_edgewatch_0_1_is_sent_after_the_upgrade(tmp_path):
    """Regression: merging the outbox and the spool renamed the table; the points waiting
    in a 0.1 file must not be forgotten."""
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE spool (id INTEGER PRIMARY KEY AUTOINCREMENT, points INTEGER NOT NULL,"
        " payload TEXT NOT NULL);"
        "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
        f"INSERT INTO spool VALUES (4, 3, '{chr(10).join(group('a', 3))}');"
        "INSERT INTO counters VALUES ('dropped', 5);"
    )
    db.commit()
    db.close()
    spool = open_spool(path, max_points=100)
    assert spool.depth() == 3 and spool.dropped == 5
    assert [(g.id, g.lines) for g in spool.peek(100)] == [(4, group("a", 3))]
    spool.close()
