"""Line protocol and the detection message turned into points, as Telegraf's json_v2 does."""

import urllib.request

import numpy as np
import pytest

from edgewatch.bench.localservers import Influxd
from edgewatch.clients.influx.line_protocol import (
    MalformedMessage,
    decode_message,
    detection_points,
    epoch_ns,
    escape_key,
    escape_measurement,
    format_field,
    line,
    system_point,
)
from edgewatch.outputs.message import build_message
from edgewatch.types import Detections, Frame

M = "BW_Inference_results"


def message(n_objects=2, **frame):
    """A message as the pipeline builds it: real `build_message` on a real Frame."""
    detections = Detections(
        xyxy=np.array([[10 + i, 20, 110 + i, 220] for i in range(n_objects)], np.float32).reshape(
            -1, 4
        ),
        confidence=np.full(n_objects, 0.875, np.float32),
        class_id=np.ones(n_objects, np.int32),
        tracker_id=np.array([7] + [-1] * (n_objects - 1))[:n_objects],
        class_names={1: "person"},
    )
    image = np.zeros((576, 768, 3), np.uint8)
    built = build_message(Frame("front door", 42, 1_700_000_000.123456, image), detections)
    return {**built, **frame}


def test_measurement_escapes_commas_and_spaces_only():
    assert escape_measurement("BW Inference,results=x") == "BW\\ Inference\\,results=x"


def test_tag_keys_and_values_escape_commas_equals_and_spaces():
    assert escape_key("front door,a=b") == "front\\ door\\,a\\=b"


def test_backslashes_stay_literal_but_a_trailing_one_is_dropped():
    # InfluxDB 1.x unescapes only \, \= and \space; a final \ would escape the separator.
    assert escape_key("a\\b") == "a\\b"
    assert escape_key("a\\") == "a"


def test_string_fields_escape_quotes_and_backslashes():
    assert format_field('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'


def test_field_types():
    assert format_field(1.5) == "1.5"
    assert format_field(3) == "3i"
    assert format_field(True) == "true"
    assert format_field(float(2**64 - 1)) == "1.8446744073709552e+19"
    with pytest.raises(MalformedMessage, match="not finite"):
        format_field(float("nan"))


def test_line_sorts_tags_and_leaves_out_empty_ones():
    assert (
        line("m", {"z": "1", "a": "x y", "e": ""}, {"v": 1.0, "s": "t"}, 5)
        == 'm,a=x\\ y,z=1 v=1.0,s="t" 5'
    )


def test_epoch_ns_is_exact_to_the_microsecond():
    assert epoch_ns(1_700_000_000.123456) == 1_700_000_000_123_456_000


def test_one_point_per_object_with_telegraf_field_types():
    lines = detection_points(
        message(), topic="edgewatch/front/inference", host="box", measurement=M
    )
    assert lines == [
        "BW_Inference_results,camera=front\\ door,host=box,obj=OBJ1,"
        'topic=edgewatch/front/inference classID=1.0,label="person",confidence=0.875,'
        "coor_left=10.0,coor_top=20.0,box_width=100.0,box_height=200.0,objectID=7.0,"
        "detection_frame_number=42.0,total_num_obj=2.0 1700000000123456000",
        "BW_Inference_results,camera=front\\ door,host=box,obj=OBJ2,"
        'topic=edgewatch/front/inference classID=1.0,label="person",confidence=0.875,'
        "coor_left=11.0,coor_top=20.0,box_width=100.0,box_height=200.0,"
        "objectID=1.8446744073709552e+19,detection_frame_number=42.0,total_num_obj=2.0 "
        "1700000000123456000",
    ]


def test_empty_frame_gives_no_point():
    assert detection_points(message(0), topic="t", host="h", measurement=M) == []


def test_receive_time_is_used_without_a_timestamp():
    msg = message(1)
    del msg["timestamp"]
    (point,) = detection_points(msg, topic="t", host="h", measurement=M, received_ns=99)
    assert point.endswith(" 99")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: m.pop("inference_results"), "'inference_results' is missing"),
        (lambda m: m.pop("total_num_obj"), "'total_num_obj' is missing"),
        (lambda m: m.update(detection_frame_number="7"), "'detection_frame_number' must be a num"),
        (lambda m: m["inference_results"][1].pop("confidence"), r"\[1\]\.confidence is missing"),
        (lambda m: m["inference_results"][0].update(label=3), r"\[0\]\.label must be a string"),
        (lambda m: m["inference_results"][0].update(classID=True), r"classID must be a number"),
        (lambda m: m["inference_results"][1].update(unique_com_id="OBJ1"), "repeats"),
        (lambda m: m.update(timestamp="noon"), "'timestamp' must be epoch seconds"),
        (lambda m: m.update(camera=["x"]), "'camera' must be a string"),
    ],
)
def test_malformed_messages_name_the_problem(change, reason):
    msg = message(2)
    change(msg)
    with pytest.raises(MalformedMessage, match=reason):
        detection_points(msg, topic="t", host="h", measurement=M)


def test_a_non_object_message_is_malformed():
    with pytest.raises(MalformedMessage, match="JSON object, got list"):
        detection_points([1], topic="t", host="h", measurement=M)


def test_system_statistics_become_one_point_of_float_fields():
    point = system_point(
        {"cpu_percent": 12, "temp_c": 51.5, "name": "x", "timestamp": 1_700_000_000.5},
        topic="edgewatch/box/system",
        host="box",
        measurement="edge_system",
    )
    assert (
        point == "edge_system,host=box,topic=edgewatch/box/system cpu_percent=12.0,temp_c=51.5 "
        "1700000000500000000"
    )
    with pytest.raises(MalformedMessage, match="no numeric value"):
        system_point({"a": "b"}, topic="t", host="h", measurement="s")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"timestamp": 2.5}, "not a time of this century"),  # 1970: a clock never set
        ({"timestamp": 1e12}, "not a time of this century"),  # the year 33658
        ({"timestamp": 1e999}, "beyond what a float field holds"),
        ({"total_num_obj": 10**400}, "beyond what a float field holds"),
        ({"camera": "door\x00"}, "holds the character"),
        ({"camera": "\ud800"}, "holds the character"),
    ],
)
def test_values_influxdb_cannot_store_are_malformed_here_not_refused_there(message, reason):
    msg = message_with(message)
    with pytest.raises(MalformedMessage, match=reason):
        detection_points(msg, topic="t", host="h", measurement=M)


def message_with(changes: dict) -> dict:
    msg = message(1)
    msg.update(changes)
    return msg


def test_decode_message_refuses_what_would_take_a_thread_down():
    with pytest.raises(MalformedMessage, match="nested too deeply"):
        decode_message(b"[" * 50_000 + b"]" * 50_000, max_bytes=10**6)
    with pytest.raises(MalformedMessage, match="more than the 1,024 allowed"):
        decode_message(b" " * 2000, max_bytes=1024)
    with pytest.raises(MalformedMessage, match="not JSON"):
        decode_message(b"\xff", max_bytes=1024)
    assert decode_message(b'{"a": 1}', max_bytes=1024) == {"a": 1}


@pytest.mark.timeout(60)
def test_influxd_keeps_one_point_per_object_and_the_escaped_names(tmp_path):
    """Objects of one frame share the time; only distinct `obj` tags keep them apart."""
    msg = message(3, camera='yard, "north"=1')
    lines = detection_points(msg, topic="edgewatch/yard/inference", host="a b", measurement=M)
    with Influxd(tmp_path) as influx:
        influx.query("CREATE DATABASE d", post=True)
        body = "\n".join(lines).encode()
        urllib.request.urlopen(f"{influx.url}/write?db=d&precision=ns", data=body, timeout=10)
        rows = influx.rows(f"SELECT * FROM {M} GROUP BY *", "d")
        field_types = {r["fieldKey"]: r["fieldType"] for r in influx.rows("SHOW FIELD KEYS", "d")}
    assert sorted(row["obj"] for row in rows) == ["OBJ1", "OBJ2", "OBJ3"]
    assert {row["camera"] for row in rows} == {'yard, "north"=1'}
    assert {row["host"] for row in rows} == {"a b"}
    assert {row["time"] for row in rows} == {1_700_000_000_123_456_000}
    assert sorted(row["objectID"] for row in rows) == [
        7,
        pytest.approx(2**64),
        pytest.approx(2**64),
    ]
    # As Telegraf's json_v2 writes them, so the two never conflict in field type.
    assert field_types == {**{key: "float" for key in field_types}, "label": "string"}
    assert len(field_types) == 10
    assert rows[0]["label"] == "person"
