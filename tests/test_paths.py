"""What edgewatch keeps on the box is the user's alone: 0600 files in 0700 folders, whatever
the umask. Regression: outbox, spool, event store and snapshot JPEGs (pictures of people)
were 0644 in 0755 folders, readable by every user of the box."""

import os
import stat

import numpy as np
import pytest

from edgewatch.clients.durable_queue import DurableQueue
from edgewatch.events.config import SnapshotConfig
from edgewatch.events.model import Episode
from edgewatch.events.snapshots import SnapshotWriter
from edgewatch.events.store import EventStore
from edgewatch.paths import built_in_place, folder_locked, make_private_dir, write_private


@pytest.fixture(autouse=True)
def permissive_umask():
    old = os.umask(0o022)  # the usual default: 0644 files, 0755 folders
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_state_databases_and_their_journals_are_private(tmp_path):
    queue = DurableQueue(tmp_path / "state" / "q.sqlite3", 10, what="MQTT outbox", setting="x")
    queue.append(b"x")
    store = EventStore(tmp_path / "state" / "events.sqlite3")
    assert mode(tmp_path / "state") == 0o700
    for name in ("q.sqlite3", "q.sqlite3-wal", "events.sqlite3"):
        assert mode(tmp_path / "state" / name) == 0o600, name
    queue.close()
    store.close()


def test_snapshots_are_private(tmp_path):
    writer = SnapshotWriter(SnapshotConfig(dir=tmp_path / "snaps"))
    writer.keep("e1", np.zeros((48, 64, 3), np.uint8), (1, 1, 20, 30), 0.9, 0.0)
    episode = Episode("e1", "door", "person", 1, 0.0)
    writer.write_best(episode, 0, (), ())
    assert episode.snapshot == "door/e1.jpg"
    for name in ("e1.jpg", "e1-crop.jpg"):
        assert mode(tmp_path / "snaps" / "door" / name) == 0o600
    assert mode(tmp_path / "snaps") == mode(tmp_path / "snaps" / "door") == 0o700


def test_folders_that_exist_keep_the_mode_their_owner_gave(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    make_private_dir(shared / "mine")
    assert mode(shared) == 0o755 and mode(shared / "mine") == 0o700


def test_write_private_replaces_atomically(tmp_path):
    target = tmp_path / "a" / "f.bin"
    write_private(target, b"one")
    write_private(target, b"two")
    assert target.read_bytes() == b"two" and mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["f.bin"]  # no .part left over


def test_built_in_place_appears_whole_and_readable_by_all_or_not_at_all(tmp_path):
    path = tmp_path / "model.onnx"
    with built_in_place(path) as temporary:
        assert temporary.parent == tmp_path and not path.exists()  # nothing half-made
        temporary.write_bytes(b"built")
    assert path.read_bytes() == b"built"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # a cache can be shared
    with pytest.raises(RuntimeError), built_in_place(path, suffix=".tmp.pt2") as temporary:
        assert temporary.name.endswith(".tmp.pt2")
        temporary.write_bytes(b"half")
        raise RuntimeError("the builder failed")
    assert path.read_bytes() == b"built"  # the earlier build stays
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no leftovers


def test_folder_locked_makes_processes_take_turns_and_leaves_no_file(tmp_path):
    import threading

    order = []

    def hold(name: str, held: threading.Event | None = None) -> None:
        with folder_locked(tmp_path):
            order.append(f"{name} in")
            if held is not None:
                held.set()
                threading.Event().wait(0.2)  # the other one tries meanwhile
            order.append(f"{name} out")

    held = threading.Event()
    first = threading.Thread(target=hold, args=("first", held))
    first.start()
    held.wait()
    second = threading.Thread(target=hold, args=("second",))  # flock: its own open file
    second.start()
    first.join()
    second.join()
    assert order == ["first in", "first out", "second in", "second out"]
    assert list(tmp_path.iterdir()) == []  # the folder is the lock
