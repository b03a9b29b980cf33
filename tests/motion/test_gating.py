"""Motion gating end to end: what is detected and when, with the real detector where it
matters, and a clock that runs an hour in a second where it does not."""

import numpy as np
import pytest
from conftest import read_frames

from edgewatch.config import config_from_dict
from edgewatch.detect.regions import crops_of, merge_crops
from edgewatch.geometry import box_iou
from edgewatch.pipeline import build_pipeline
from edgewatch.pipeline.gating import CameraGate
from edgewatch.sources.base import CameraConfig
from edgewatch.track import ByteTracker, TrackerConfig
from edgewatch.types import Detections, Frame

NAMES = {0: "person", 2: "car"}
CAR = [600.0, 400.0, 800.0, 520.0]


class Collect:
    name, wants_annotated, lossless = "collect", False, True

    def __init__(self):
        self.frames = {}

    def open(self, streams):
        pass

    def write(self, frame, detections):
        self.frames[frame.index] = detections

    def close(self):
        pass


def clip(tmp_path, frames: list[np.ndarray], fps: int = 10):
    """A real H.264 file of ``frames``."""
    import av

    path = tmp_path / "synthetic.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = (
            frames[0].shape[1],
            frames[0].shape[0],
            "yuv420p",
        )
        stream.options = {"crf": "18"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def run(path, **camera):
    sink = Collect()
    config = config_from_dict({
        "cameras": [{"name": "c", "source": str(path), "realtime": False, **camera}],
        "outputs": {"rtsp": {"enabled": False}}, "pipeline": {"stats_interval_s": 0},
    })  # fmt: skip
    summary = build_pipeline(config, sinks=[sink]).run()
    return sink, summary.stats["counters"]


def test_a_still_scene_costs_no_detection_after_warm_up(tmp_path, vtest_path):
    (still,) = read_frames(vtest_path, [0])
    rng = np.random.default_rng(1)
    frames = [np.clip(still + rng.normal(0, 3, still.shape), 0, 255).astype(np.uint8)
              for _ in range(40)]  # 4 s: one refresh at the start, none after  # fmt: skip
    _, counters = run(clip(tmp_path, frames))
    assert counters["detected.c"] == 1 and counters["skipped.c"] == 39


def test_a_person_walking_in_is_detected_within_two_frames(tmp_path, vtest_path):
    """A walker from the footage, pasted into an empty scene from frame 20 on."""
    first, walker_frame = read_frames(vtest_path, [0, 400])
    background = np.full_like(first, 110)
    person = walker_frame[295:412, 684:745]  # a walker of vtest's frame 400
    frames = []
    for i in range(40):
        image = background.copy()
        if i >= 20:
            x = 100 + 12 * (i - 20)
            image[220:337, x : x + 61] = person
        frames.append(image)
    sink, counters = run(clip(tmp_path, frames), motion={"refresh_s": 60})
    first_seen = min(i for i, d in sink.frames.items() if "person" in d.labels)
    assert 20 <= first_seen <= 22
    assert counters["skipped.c"] > 15  # the empty scene was not detected over and over


def test_a_parked_car_stays_tracked_through_an_hour_of_stillness():
    """The accelerated clock: one frame a second for an hour; the detector is asked only at
    the refreshes (every 5 s), and sees the car then."""
    gate = CameraGate(CameraConfig(name="c", source="x.mp4"), 1280, 720, input_size=300)
    tracker = ByteTracker(TrackerConfig(), NAMES)
    image = np.zeros((8, 8, 3), np.uint8)
    ids, detections_made = set(), 0
    for t in range(3600):
        frame = Frame("c", t, 1_700_000_000.0 + t, image, motion=np.zeros((0, 4)))
        plan = gate.plan(frame, tracker.moving_boxes(10.0))
        if plan.skipped:
            out = tracker.update(None, frame.timestamp)
        else:
            gate.detecting(frame, plan)
            detections_made += 1
            car = Detections(xyxy=[CAR], confidence=[0.8], class_id=[2], class_names=NAMES)
            out = tracker.update(car, frame.timestamp, observed=plan.regions)
        if t >= 10:  # confirmed at the third refresh (min_hits)
            assert out.labels == ["car"], t
            ids.update(out.tracker_id.tolist())
    assert ids == {1} and detections_made == 720


def test_crops_map_boxes_back_exactly():
    """Detections in crop pixels land where the crop lies in the frame."""
    regions = np.array([[100, 50, 400, 350], [1000, 600, 1300, 900]])
    found = [
        Detections(xyxy=[[10, 20, 60, 120]], confidence=[0.9], class_id=[0], class_names=NAMES),
        Detections(xyxy=[[0, 0, 30, 40]], confidence=[0.7], class_id=[2], class_names=NAMES),
    ]
    merged = merge_crops(found, regions, NAMES)
    assert merged.xyxy.tolist() == [[110, 70, 160, 170], [1000, 600, 1030, 640]]
    image = np.arange(1080 * 1920 * 3, dtype=np.uint32).reshape(1080, 1920, 3)
    (crop, _) = crops_of(image, regions)
    assert crop.shape == (300, 300, 3) and crop[0, 0, 0] == image[50, 100, 0]


@pytest.mark.slow
def test_a_far_person_is_found_by_its_crop_in_a_1080p_frame(vtest_path):
    """The real detector on a 1080p picture holding one small walker: in the crop around
    it, it is found where it is."""
    from edgewatch.detect import create_detector
    from edgewatch.detect.base import DetectorConfig

    (frame,) = read_frames(vtest_path, [400])
    person = frame[295:412, 684:745]
    picture = np.full((1080, 1920, 3), 110, np.uint8)
    picture[700:817, 1400:1461] = person
    regions = np.array([[1275, 615, 1575, 915]])
    detector = create_detector(DetectorConfig(precision="fp32"))
    merged = merge_crops(detector.detect(crops_of(picture, regions)), regions,
                         detector.class_names)  # fmt: skip
    people = merged[np.array([label == "person" for label in merged.labels], bool)]
    assert len(people) and box_iou([1405, 706, 1456, 812], people.xyxy).max() >= 0.5
