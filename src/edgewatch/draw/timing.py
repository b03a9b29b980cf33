"""What the label layout costs: ``python -m edgewatch.draw.timing``.

Random person-sized boxes at 1280x720 with labels like the video's; prints the median
and the fastest of many runs (the fastest is the cost itself, the median adds what else
the machine was doing)."""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from edgewatch.draw.labels import label_size
from edgewatch.draw.layout import overlapping_pairs, place_labels
from edgewatch.draw.overlay import draw_detections
from edgewatch.draw.style import style_for
from edgewatch.types import Detections, Frame


def crowd(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """``count`` person-sized boxes at random places, many of them side by side."""
    rng = np.random.default_rng(seed)
    box_w = rng.uniform(0.03, 0.07, count) * width
    box_h = box_w * rng.uniform(2.0, 3.0, count)
    x = rng.uniform(0, width - box_w)
    y = rng.uniform(0, height - box_h)
    return np.stack([x, y, x + box_w, y + box_h], axis=1)


def measure(count: int = 30, height: int = 720, width: int = 1280, runs: int = 2000) -> dict:
    """Seconds per `place_labels` call for ``count`` labels (fastest and median), how many
    label pairs still overlap, and the fastest whole `draw_detections` (boxes, labels and
    stamp drawn) for comparison."""
    style = style_for(height, width)
    boxes = crowd(count, height, width)
    sizes = [label_size(f"#{100 + i} person {60 + i % 40}%", style) for i in range(count)]
    stamp = [(0, 0, 300, 30)]

    def place():
        return place_labels(boxes, sizes, (height, width), stroke=style.stroke, reserved=stamp)

    place()  # warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        place()
        times.append(time.perf_counter() - started)
    detections = Detections(
        xyxy=boxes,
        confidence=np.full(count, 0.8),
        class_id=np.zeros(count),
        tracker_id=np.arange(100, 100 + count),
        class_names={0: "person"},
    )
    image = np.zeros((height, width, 3), np.uint8)
    draws = []
    for _ in range(max(runs // 10, 1)):
        started = time.perf_counter()
        draw_detections(Frame("camera", 0, 0.0, image), detections)
        draws.append(time.perf_counter() - started)
    return {
        "fastest_s": min(times),
        "median_s": statistics.median(times),
        "overlaps": len(overlapping_pairs(place())),
        "draw_fastest_s": min(draws),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT")
    parser.add_argument("--counts", default="8,30,60", help="labels per frame, comma-separated")
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    for count in (int(c) for c in args.counts.split(",")):
        m = measure(count, height, width, args.runs)
        print(
            f"{count:3d} labels at {width}x{height}: fastest {m['fastest_s'] * 1e3:.3f} ms, "
            f"median {m['median_s'] * 1e3:.3f} ms, overlapping pairs {m['overlaps']}; "
            f"whole draw_detections {m['draw_fastest_s'] * 1e3:.2f} ms"
        )


if __name__ == "__main__":
    main()
