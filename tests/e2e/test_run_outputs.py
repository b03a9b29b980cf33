"""`edgewatch run` on the real footage, checked through its outputs with real clients."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import datetime

import numpy as np
import pytest
from conftest import VENV_BIN, edgewatch, read_frames

from edgewatch.draw.overlay import class_color
from edgewatch.types import UNTRACKED_OBJECT_ID

MESSAGE_KEYS = {"detection_frame_number", "total_num_obj", "inference_results"}
OBJECT_KEYS = [
    "classID", "label", "confidence", "coor_left", "coor_top", "box_width", "box_height",
    "objectID", "unique_com_id",
]  # fmt: skip


@pytest.fixture(scope="module")
def run_60(tmp_path_factory):
    """60 frames of the bundled clip with JSON lines and a recording."""
    out = tmp_path_factory.mktemp("run")
    result = edgewatch(
        "run", "--no-web", "--max-frames", "60", "--no-rtsp",
        "--json-out", str(out / "d.jsonl"), "--record", str(out / "r.mp4"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = (out / "d.jsonl").read_text().splitlines()
    return out, [json.loads(line) for line in lines], result


def test_json_lines_follow_the_message_format_exactly(run_60):
    _, messages, _ = run_60
    assert len(messages) == 60
    assert [m["detection_frame_number"] for m in messages] == list(range(60))
    for message in messages:
        assert message.keys() >= MESSAGE_KEYS
        assert message["camera"] == "sample"
        datetime.fromisoformat(message["capture_time"].replace("Z", "+00:00"))
        results = message["inference_results"]
        assert message["total_num_obj"] == len(results)
        assert [r["unique_com_id"] for r in results] == [f"OBJ{i + 1}" for i in range(len(results))]
        for obj in results:
            assert list(obj) == [*OBJECT_KEYS, "seen_s"]
            assert isinstance(obj["classID"], int) and isinstance(obj["label"], str)
            assert 0.0 < obj["confidence"] <= 1.0
            # Tracking is on by default: objectID is the camera's track ID.
            assert isinstance(obj["objectID"], int) and 1 <= obj["objectID"] < 10_000
            assert obj["seen_s"] >= 0
            assert obj["coor_left"] >= 0 and obj["coor_left"] + obj["box_width"] <= 768.1
            assert obj["coor_top"] >= 0 and obj["coor_top"] + obj["box_height"] <= 576.1
            assert obj["box_width"] > 0 and obj["box_height"] > 0
    timestamps = [m["timestamp"] for m in messages]
    assert timestamps == sorted(timestamps)
    # A tracked person keeps its ID from frame to frame.
    ids = [{o["objectID"] for o in m["inference_results"]} for m in messages]
    assert len(ids[20] & ids[21]) >= 2


def test_untracked_objects_carry_the_reference_sentinel(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("tracking: {enabled: false}\n")
    out = tmp_path / "d.jsonl"
    result = edgewatch("run", "--no-web", "--config", str(config), "--max-frames", "5",
                       "--no-rtsp", "--json-out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    objects = [o for line in out.read_text().splitlines()
               for o in json.loads(line)["inference_results"]]  # fmt: skip
    assert objects and all(o["objectID"] == UNTRACKED_OBJECT_ID for o in objects)
    assert all(list(o) == OBJECT_KEYS for o in objects)
    # The raw text keeps the 64-bit sentinel exact (no float rounding).
    assert '"objectID":18446744073709551615' in out.read_text()


def test_people_walking_in_the_footage_are_detected(run_60):
    _, messages, _ = run_60
    with_person = [
        m for m in messages if any(o["label"] == "person" for o in m["inference_results"])
    ]
    assert len(with_person) >= 50  # people walk through the whole clip
    people = [o for m in messages for o in m["inference_results"] if o["label"] == "person"]
    # Pedestrians are taller than wide.
    assert np.median([o["box_height"] / o["box_width"] for o in people]) > 1.5


def test_recording_is_playable_and_shows_the_drawn_boxes(run_60, vtest_path):
    out, messages, _ = run_60
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(out / "r.mp4")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    stream = json.loads(probe.stdout)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 768, 576)
    assert int(stream["nb_read_frames"]) == 60
    index = next(i for i, m in enumerate(messages) if m["total_num_obj"])
    (recorded,) = read_frames(out / "r.mp4", [index])
    (original,) = read_frames(vtest_path, [index])
    obj = max(messages[index]["inference_results"], key=lambda o: o["box_height"])
    color = np.array(class_color(obj["classID"]), dtype=float)
    # The box's left edge is drawn in the class colour over what the camera saw.
    x = int(round(obj["coor_left"]))
    y0 = int(obj["coor_top"] + obj["box_height"] * 0.3)
    y1 = int(obj["coor_top"] + obj["box_height"] * 0.7)
    # The median: another object's box or label may cross part of this edge.
    edge = np.median(recorded[y0:y1, x].astype(float), axis=0)
    assert np.abs(edge - color).max() < 60, (edge, color)
    assert np.abs(np.median(original[y0:y1, x].astype(float), axis=0) - color).max() > 60


def test_run_summary_reports_per_stage_timings(run_60):
    _, _, result = run_60
    assert "done: 60 frames" in result.stderr
    for stage in ("decode", "detect", "draw"):
        assert f"{stage} " in result.stderr.split("done:")[1]


def test_sigterm_stops_cleanly_and_flushes_outputs(tmp_path):
    process = subprocess.Popen(
        [str(VENV_BIN / "edgewatch"), "run", "--no-web", "--no-rtsp",
         "--json-out", str(tmp_path / "d.jsonl"), "--record", str(tmp_path / "r.mp4")],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(6)  # the sample plays in real time, looped: it would never end by itself
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "SIGTERM received" in stderr and "Traceback" not in stderr
    lines = (tmp_path / "d.jsonl").read_text().splitlines()
    assert len(lines) >= 10
    for line in lines:
        json.loads(line)  # every line complete
    frames = read_frames(tmp_path / "r.mp4", [len(lines) - 1])
    assert frames[0].shape == (576, 768, 3)  # the last frame made it into the file


def test_detect_prints_json_for_images(tmp_path, vtest_path):
    import cv2

    (frame,) = read_frames(vtest_path, [100])
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), frame)
    result = edgewatch("detect", str(image))
    assert result.returncode == 0, result.stderr
    message = json.loads(result.stdout)
    assert message["image"] == str(image)
    assert any(o["label"] == "person" for o in message["inference_results"])


def person_green_pixels(image: np.ndarray) -> int:
    """Pixels of the person box colour; the raw footage has none (checked below)."""
    b, g, r = (image[:, :, c].astype(int) for c in range(3))
    return int(((g > 150) & (r < 90) & (b < 90)).sum())


def test_rtsp_stream_serves_the_annotated_video(port, vtest_path):
    import av

    process = subprocess.Popen(
        [str(VENV_BIN / "edgewatch"), "run", "--no-web", "--rtsp-port", str(port),
         "--max-frames", "150"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        decoded = []
        deadline = time.monotonic() + 60
        while not decoded and time.monotonic() < deadline:
            try:
                url = f"rtsp://127.0.0.1:{port}/sample"
                with av.open(url, options={"rtsp_transport": "tcp"}, timeout=(5, 5)) as stream:
                    for frame in stream.decode(video=0):
                        decoded.append(frame.to_ndarray(format="bgr24"))
                        if len(decoded) == 20:
                            break
            except (av.FFmpegError, OSError):
                time.sleep(0.3)  # the server is still starting
        assert len(decoded) == 20, "no video from the RTSP server"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert decoded[0].shape == (576, 768, 3)
    # The camera name and time are drawn on a dark box at the top left, where the raw
    # footage is bright.
    (raw,) = read_frames(vtest_path, [50])
    assert np.median(raw[6:14, 8:120]) > 100
    assert all(np.median(image[6:14, 8:120]) < 80 for image in decoded)
    # People are boxed in the person colour, which the raw footage never shows.
    assert person_green_pixels(raw) == 0
    assert sum(person_green_pixels(image) > 200 for image in decoded) >= 15


def test_several_cameras_run_in_one_process(tmp_path, vtest_path):
    clip = tmp_path / "street.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(vtest_path), "-frames:v", "30",
         "-vf", "scale=640:480", "-c:v", "libx264", str(clip)],
        check=True,
    )  # fmt: skip
    config = tmp_path / "two.yaml"
    config.write_text(
        "cameras:\n"
        "  - {name: front, source: sample, max_frames: 25}\n"
        f"  - {{name: street, source: {clip}}}\n"
        "outputs:\n  rtsp: {enabled: false}\n"
    )
    out = tmp_path / "d.jsonl"
    result = edgewatch(
        "run",
        "--no-web",
        "--config",
        str(config),
        "--json-out",
        str(out),
        "--record",
        str(tmp_path / "rec-{camera}.mp4"),
    )
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in out.read_text().splitlines()]
    by_camera = {name: [m for m in messages if m["camera"] == name] for name in ("front", "street")}
    assert len(by_camera["front"]) == 25 and len(by_camera["street"]) == 30
    for frames in by_camera.values():
        assert [m["detection_frame_number"] for m in frames] == list(range(len(frames)))
    assert {m["frame_width"] for m in by_camera["street"]} == {640}
    assert any(m["total_num_obj"] for m in by_camera["street"])  # people in the rescaled clip
    for name, count in (("front", 25), ("street", 30)):
        assert len(read_frames(tmp_path / f"rec-{name}.mp4", [count - 1])) == 1
