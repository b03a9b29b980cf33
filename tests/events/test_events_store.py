"""The SQLite event store and `edgewatch events` listing."""

import json

import pytest
from event_scenes import T0

from edgewatch.cli import build_parser
from edgewatch.cli.events import list_events, parse_duration
from edgewatch.errors import ConfigError
from edgewatch.events.model import Crossing, Episode, Happening
from edgewatch.events.store import EVERY_EPISODE, EpisodeQuery, EventStore


def episode(i, **kw) -> Episode:
    fields = dict(id=f"e{i}", camera="yard", label="person", track_id=i, start=T0 + i * 60)
    return Episode(**{**fields, **kw})


def happening(e: Episode, kind, at, **kw) -> Happening:
    return Happening(e.id, e.camera, kind, e.label, e.track_id, at, **kw)


@pytest.fixture
def store(tmp_path):
    s = EventStore(tmp_path / "events.sqlite3")
    yield s
    s.close()


def test_an_episode_is_one_row_updated_and_its_happenings_are_kept_in_order(store):
    e = episode(1, top_score=0.8)
    store.save(e, [happening(e, "entered", e.start)])
    e.entered_zones, e.zones = ["porch"], ["porch"]
    store.save(e, [happening(e, "zone_entered", e.start + 1, zone="porch")])
    e.crossings.append(Crossing("gate", "left->right", e.start + 2))
    e.end, e.snapshot = e.start + 3, "yard/e1.jpg"
    crossed = happening(e, "line_crossed", e.start + 2, zone="gate", direction="left->right")
    store.save(e, [crossed, happening(e, "left", e.start + 3)])
    (back,) = store.episodes()
    assert back.episode.end == e.end and back.episode.snapshot == "yard/e1.jpg"
    assert back.episode.entered_zones == ["porch"]
    assert back.episode.crossings == [Crossing("gate", "left->right", e.start + 2)]
    kinds = [h.kind for h in back.happenings]
    assert kinds == ["entered", "zone_entered", "line_crossed", "left"]


def test_the_box_current_zones_and_snapshot_time_are_kept(store):
    """Regression: the store had no columns for them, so stored events said box
    [0, 0, 0, 0] and current_zones [] whatever the object's were."""
    e = episode(1, box=(12.5, 40.0, 88.0, 230.25), zones=["porch", "drive"])
    e.snapshot, e.snapshot_time = "yard/e1.jpg", T0 + 61.5
    store.save(e)
    (back,) = store.episodes()
    assert back.episode == e
    assert back.episode.to_dict()["box"] == [12.5, 40.0, 88.0, 230.2]
    assert back.episode.to_dict()["current_zones"] == ["porch", "drive"]
    e.box, e.zones, e.end = (14.0, 41.0, 90.0, 231.0), [], T0 + 70
    store.save(e)
    assert store.episodes()[0].episode == e


def test_a_store_made_before_the_box_and_zones_columns_gets_them(tmp_path):
    import sqlite3

    path = tmp_path / "events.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE episodes (id TEXT PRIMARY KEY, camera TEXT NOT NULL, label TEXT NOT "
        'NULL, track_id INTEGER NOT NULL, start REAL NOT NULL, "end" REAL, score REAL NOT '
        "NULL, top_score REAL NOT NULL, entered_zones TEXT NOT NULL, crossings TEXT NOT "
        "NULL, loitering TEXT NOT NULL, snapshot TEXT, thumbnail TEXT, stationary INTEGER "
        "NOT NULL)"
    )
    db.execute("INSERT INTO episodes VALUES ('old', 'yard', 'car', 3, ?, ?, 0.7, 0.8, "
               "'[\"porch\"]', '[]', '[]', NULL, NULL, 1)", (T0, T0 + 9))  # fmt: skip
    db.commit()
    db.close()
    store = EventStore(path)
    new = episode(2, box=(1.0, 2.0, 3.0, 4.0), zones=["porch"], snapshot_time=T0 + 121)
    store.save(new)
    store.close()
    store = EventStore(path)  # opening again adds nothing twice
    found = {x.episode.id: x.episode for x in store.episodes()}
    store.close()
    assert found["e2"] == new
    old = found["old"]
    assert (old.box, old.zones, old.snapshot_time) == ((0, 0, 0, 0), [], None)
    assert (old.entered_zones, old.top_score, old.stationary) == (["porch"], 0.8, True)


def test_filters_find_every_episode_that_had_it(store):
    for i in range(1, 4):
        store.save(episode(i), [happening(episode(i), "entered", T0 + i * 60)])
    two = episode(2)
    store.save(two, [happening(two, "zone_entered", T0 + 121, zone="porch"),
                     happening(two, "zone_left", T0 + 125, zone="porch")])  # fmt: skip
    three = episode(3, camera="street", label="car")
    store.save(three, [happening(three, "line_crossed", T0 + 181, zone="gate")])
    assert [x.episode.id for x in store.episodes()] == ["e3", "e2", "e1"]
    assert [x.episode.id for x in store.episodes(EpisodeQuery(zone="porch"))] == ["e2"]
    assert [x.episode.id for x in store.episodes(EpisodeQuery(kind="zone_entered"))] == ["e2"]
    assert [x.episode.id for x in store.episodes(EpisodeQuery(kind="line_crossed"))] == ["e3"]
    assert [x.episode.id for x in store.episodes(EpisodeQuery(camera="street"))] == ["e3"]
    assert [x.episode.id for x in store.episodes(EpisodeQuery(label="car"))] == ["e3"]
    assert [x.episode.id for x in store.episodes(limit=1)] == ["e3"]


def test_keys_list_what_episodes_lists_and_by_id_reads_them_whole(store):
    """The events page's two steps: the keys of a page (no happenings read), then the
    episodes it has not built yet."""
    for i in range(1, 6):
        e = episode(i, end=T0 + i * 60 + 5 if i % 2 else None, snapshot=f"yard/e{i}.jpg")
        store.save(e, [happening(e, "entered", T0 + i * 60)])
    crossed = episode(4)
    store.save(crossed, [happening(crossed, "line_crossed", T0 + 242, zone="gate")])
    queries = (EpisodeQuery(), EpisodeQuery(kind="line_crossed"),
               EpisodeQuery(since_s=150, now=T0 + 300))  # fmt: skip
    for filters in [(q, 100) for q in queries] + [(EVERY_EPISODE, 2)]:
        listed = [x.episode for x in store.episodes(*filters)]
        keys = store.episode_keys(*filters)
        assert [k[0] for k in keys] == [e.id for e in listed], filters
        assert [k[1] for k in keys] == [e.end for e in listed], filters
    key = store.episode_keys(limit=1)[0]
    assert key == ("e5", T0 + 305, "yard/e5.jpg", None, 0.0, 0.0)
    found = store.episodes_by_id(["e4", "e1", "nope"])
    assert set(found) == {"e4", "e1"}
    assert [h.kind for h in found["e4"].happenings] == ["entered", "line_crossed"]
    assert found["e1"].episode.snapshot == "yard/e1.jpg" and store.episodes_by_id([]) == {}


def test_since_keeps_episodes_still_open_or_ended_recently(store):
    store.save(episode(1, start=T0 - 7200))  # open since two hours
    store.save(episode(2, start=T0 - 7200, end=T0 - 10))
    store.save(episode(3, start=T0 - 7200, end=T0 - 7000))
    assert {x.episode.id for x in store.episodes(EpisodeQuery(since_s=60, now=T0))} == {"e1", "e2"}


def test_a_store_of_edgewatch_0_1_is_carried_over(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE events (id TEXT PRIMARY KEY, camera TEXT NOT NULL, kind TEXT NOT NULL, "
        "zone TEXT, label TEXT NOT NULL, track_id INTEGER NOT NULL, start REAL NOT NULL, "
        '"end" REAL, best_confidence REAL NOT NULL, snapshot TEXT, direction TEXT)'
    )
    db.execute("INSERT INTO events VALUES ('a', 'yard', 'left', NULL, 'person', 1, ?, ?, "
               "0.9, '/s/a.jpg', NULL)", (T0, T0 + 5))  # fmt: skip
    db.execute("INSERT INTO events VALUES ('b', 'yard', 'line_crossed', 'gate', 'person', 1, "
               "?, ?, 0.9, NULL, 'left->right')", (T0 + 2, T0 + 2))  # fmt: skip
    db.commit()
    db.close()
    store = EventStore(path)
    found = {x.episode.id: x for x in store.episodes(EpisodeQuery(since_s=None))}
    store.close()
    assert set(found) == {"a", "b"}
    assert found["a"].episode.end == T0 + 5 and found["a"].happenings[0].kind == "left"
    assert found["b"].episode.crossings[0].line == "gate"
    EventStore(path).close()  # opening again adds nothing twice
    store = EventStore(path)
    assert len(store.episodes()[0].happenings) == 1
    store.close()


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


def test_list_events_prints_one_row_per_episode_with_its_story(store, capsys):
    import time

    now = time.time()
    one = episode(1, start=now - 30, end=now - 20, top_score=0.8, snapshot="yard/e1.jpg")
    store.save(one, [happening(one, "entered", now - 30),
                     happening(one, "line_crossed", now - 25, zone="gate",
                               direction="left->right"),
                     happening(one, "left", now - 20)])  # fmt: skip
    two = episode(2, start=now - 10)
    store.save(two, [happening(two, "entered", now - 10),
                     happening(two, "zone_entered", now - 9, zone="porch")])  # fmt: skip
    store.save(episode(3, start=now - 7200, camera="street"))
    path = str(store.path)
    assert list_events(args_for("--store", path, "--since", "1h", "--camera", "yard")) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:6] == ["start", "camera", "label", "track", "duration", "top"]
    assert len(out) == 3
    assert "ongoing" in out[1] and "entered porch" in out[1]
    assert "10.0s" in out[2] and "0.80" in out[2] and "crossed gate left->right" in out[2]
    assert "yard/e1.jpg" in out[2]
    list_events(args_for("--store", path, "--kind", "zone_entered"))
    assert len(capsys.readouterr().out.splitlines()) == 2
    list_events(args_for("--store", path, "--label", "dog"))
    assert "(no episodes)" in capsys.readouterr().out
    list_events(args_for("--store", path, "--json", "--zone", "gate"))
    (line,) = capsys.readouterr().out.splitlines()
    data = json.loads(line)
    assert data["id"] == "e1" and [h["kind"] for h in data["happenings"]][1] == "line_crossed"


def test_list_events_without_a_store_says_so(tmp_path):
    with pytest.raises(ConfigError, match="no event store at"):
        list_events(args_for("--store", str(tmp_path / "none.sqlite3")))
