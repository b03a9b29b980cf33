"""The SQLite event store and `edgewatch events` listing."""

import pytest
from event_scenes import T0

from edgewatch.cli import build_parser
from edgewatch.cli.events import list_events, parse_duration
from edgewatch.errors import ConfigError
from edgewatch.events.engine import Event
from edgewatch.events.store import EventStore


def event(i, **kw) -> Event:
    fields = dict(
        id=f"e{i}",
        camera="yard",
        kind="entered",
        zone=None,
        label="person",
        track_id=i,
        start=T0 + i * 60,
        best_confidence=0.8,
    )
    return Event(**{**fields, **kw})


@pytest.fixture
def store(tmp_path):
    s = EventStore(tmp_path / "events.sqlite3")
    yield s
    s.close()


def test_round_trip_and_upsert_keeps_one_row_per_event(store):
    e = event(1, zone="porch", kind="zone_entered", snapshot="/s/e1.jpg")
    store.upsert(e)
    e.kind, e.end, e.best_confidence = "zone_left", e.start + 12.5, 0.95
    store.upsert(e)
    (back,) = store.query()
    assert back == e and back.duration_s == 12.5


def test_filters_and_newest_first(store):
    store.upsert(event(1))
    store.upsert(event(2, camera="street"))
    store.upsert(event(3, label="car"))
    store.upsert(event(4, zone="porch", kind="zone_entered"))
    store.upsert(event(5, kind="line_crossed", zone="gate", direction="left->right"))
    assert [e.id for e in store.query()] == ["e5", "e4", "e3", "e2", "e1"]
    assert [e.id for e in store.query(camera="street")] == ["e2"]
    assert [e.id for e in store.query(label="car")] == ["e3"]
    assert [e.id for e in store.query(zone="porch")] == ["e4"]
    assert [e.id for e in store.query(kind="line_crossed")][0] == "e5"
    assert [e.id for e in store.query(limit=2)] == ["e5", "e4"]
    # since: started in the last 150 s of "now" = T0 + 300 -> e3 (T0+180) onwards;
    # e1 and e2 are still open, so they count as recent too
    assert [e.id for e in store.query(since_s=150, now=T0 + 300)] == ["e5", "e4", "e3", "e2", "e1"]
    for i in (1, 2):
        store.upsert(event(i, camera="street" if i == 2 else "yard", end=T0 + i * 60 + 1))
    assert [e.id for e in store.query(since_s=150, now=T0 + 300)] == ["e5", "e4", "e3"]


def test_since_keeps_events_still_open_or_ended_recently(store):
    store.upsert(event(1, start=T0 - 7200))  # open since two hours
    store.upsert(event(2, start=T0 - 7200, end=T0 - 10, kind="left"))
    store.upsert(event(3, start=T0 - 7200, end=T0 - 7000, kind="left"))
    assert {e.id for e in store.query(since_s=60, now=T0)} == {"e1", "e2"}


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800), ("45", 45), ("1.5h", 5400)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_duration_refuses_nonsense():
    with pytest.raises(ConfigError, match="not a duration"):
        parse_duration("1 week")


def args_for(*argv):
    return build_parser().parse_args(["events", *argv])


def test_list_events_prints_a_table(tmp_path, store, capsys, monkeypatch):
    import time

    now = time.time()
    store.upsert(event(1, start=now - 30, end=now - 20, kind="left", snapshot="/s/e1.jpg"))
    store.upsert(
        event(
            2,
            start=now - 10,
            kind="line_crossed",
            zone="gate",
            direction="left->right",
            end=now - 10,
        )
    )
    store.upsert(event(3, start=now - 7200, camera="street"))
    path = str(store.path)
    assert list_events(args_for("--store", path, "--since", "1h", "--camera", "yard")) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == [
        "time",
        "camera",
        "kind",
        "zone/line",
        "label",
        "track",
        "duration",
        "conf",
        "snapshot",
    ]
    assert len(out) == 3
    assert "line_crossed" in out[1] and "gate (left->right)" in out[1] and "0.0s" in out[1]
    assert "left" in out[2] and "10.0s" in out[2] and "0.80" in out[2] and "/s/e1.jpg" in out[2]
    list_events(args_for("--store", path, "--label", "dog"))
    assert "(no events)" in capsys.readouterr().out


def test_list_events_without_a_store_says_so(tmp_path):
    with pytest.raises(ConfigError, match="no event store at"):
        list_events(args_for("--store", str(tmp_path / "none.sqlite3")))
