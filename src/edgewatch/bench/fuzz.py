"""`edgewatch bench fuzz`: what strangers' bytes do to the config loader, the ingest
validator, the line-protocol encoder and the video sources.

Each property says what must hold for every input: the function answers with its result
or with the one error type it documents (a `ConfigError`, a `MalformedMessage`, a
`SourceError`), never another exception, and what it produces is well formed. Hypothesis
draws the inputs: arbitrary bytes and text, arbitrary JSON, and valid documents with one
part mutated, which reach deeper than random bytes do. The tests run a few hundred cases
of each; the bench runs ``--cases`` (10,000 by default) and says how long each took.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from edgewatch.clients.influx.line_protocol import (
    MalformedMessage,
    decode_message,
    detection_points,
    line,
    system_point,
)
from edgewatch.config import config_from_dict, load_config
from edgewatch.errors import ConfigError, MissingDependencyError, SourceError
from edgewatch.machine import describe_machine
from edgewatch.types import Frame


def _hypothesis():
    try:
        import hypothesis
        from hypothesis import strategies
    except ImportError:
        raise MissingDependencyError("hypothesis", "pip install hypothesis") from None
    return hypothesis, strategies


# -- what must hold -------------------------------------------------------------------


def check_config_dict(data: object) -> None:
    """A config made of anything is a Config or a ConfigError."""
    with contextlib.suppress(ConfigError):
        config_from_dict(data if isinstance(data, dict) else {"cameras": data})


def check_config_text(text: str, folder: Path) -> None:
    """A config file holding anything is a Config or a ConfigError."""
    path = folder / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with contextlib.suppress(ConfigError):
        load_config(path)


def check_message(payload: bytes) -> None:
    """A message is points or a MalformedMessage; its points are well-formed lines."""
    try:
        message = decode_message(payload, max_bytes=1_048_576)
        if isinstance(message, dict) and "inference_results" in message:
            lines = detection_points(message, topic="edgewatch/c/inference", host="h",
                                     measurement="BW_Inference_results")  # fmt: skip
        else:
            lines = [system_point(message, topic="edgewatch/h/system", host="h",
                                  measurement="edge_system")]  # fmt: skip
    except MalformedMessage:
        return
    for text in lines:
        parse_line(text)


def check_line(measurement: str, tags: dict, fields: dict) -> None:
    """Any point is a line that reads back as what was written, or a MalformedMessage."""
    try:
        text = line(measurement, tags, fields, 1_700_000_000_000_000_000)
    except MalformedMessage:
        return
    except ValueError as error:
        if not fields:
            return  # "a point needs at least one field": documented
        raise AssertionError(f"unexpected ValueError: {error}") from None
    name, tag_values, field_values, _ = parse_line(text)

    def stored(text: str) -> str:  # what line() promises to keep of a name
        return text.rstrip("\\").replace("\n", "\\n")

    assert name == stored(measurement), (name, measurement)
    kept = {stored(k): stored(v) for k, v in tags.items() if stored(v)}
    assert tag_values == kept, (tag_values, kept)
    assert field_values == {stored(k): v for k, v in fields.items()}, (field_values, fields)


def check_video_file(path: Path, *, max_frames: int = 50) -> None:
    """A damaged video file gives frames, or a SourceError; it never hangs (the caller's
    timeout) and never raises anything else."""
    from edgewatch.sources.base import CameraConfig
    from edgewatch.sources.file import FileSource

    source = FileSource(CameraConfig(name="fuzz", source=str(path)))
    try:
        source.open()
        for n, (picture, _) in enumerate(source.frames()):
            frame = (Frame("fuzz", n, 0.0, picture) if picture.ndim == 3
                     else Frame("fuzz", n, 0.0, yuv=picture))  # fmt: skip
            assert frame.image.shape == (frame.height, frame.width, 3)
            if n >= max_frames:
                break
    except SourceError:
        pass
    finally:
        source.close()


# Line protocol, read back as InfluxDB 1.x reads it: a backslash escapes only the
# characters special at that place; anywhere else it is a literal backslash.


def parse_line(text: str) -> tuple[str, dict[str, str], dict[str, object], int]:
    """measurement[,tag=value...] field=value[,...] timestamp, unescaped; AssertionError
    when the line is not one InfluxDB would accept."""
    assert "\n" not in text and text.encode("utf-8"), text
    name, i = _take(text, 0, stops=", ", specials=", ")
    tags: dict[str, str] = {}
    while text[i] == ",":
        key, i = _take(text, i + 1, stops="=", specials=",= ")
        assert text[i] == "=", text
        value, i = _take(text, i + 1, stops=", ", specials=",= ")
        assert key and value and key != "time", text
        tags[key] = value
    assert name and text[i] == " ", text
    fields: dict[str, object] = {}
    while True:
        key, i = _take(text, i + 1, stops="=", specials=",= ")
        assert key and key != "time" and text[i] == "=", text
        if text[i + 1] == '"':
            value, i = _string(text, i + 2)
        else:
            ends = [k for k in (text.find(",", i), text.find(" ", i)) if k >= 0]
            assert ends, text  # no timestamp after the fields
            end = min(ends)
            value, i = _value(text[i + 1 : end]), end
        fields[key] = value
        if text[i] == " ":
            break
    stamp = text[i + 1 :]
    assert stamp.isdigit(), text
    return name, tags, fields, int(stamp)


def _take(text: str, i: int, *, stops: str, specials: str) -> tuple[str, int]:
    out = []
    while i < len(text) and text[i] not in stops:
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in specials:
            i += 1
        out.append(text[i])
        i += 1
    assert i < len(text), text  # a key or value runs into the end of the line
    return "".join(out), i


def _string(text: str, i: int) -> tuple[str, int]:
    out = []
    while text[i] != '"':
        if text[i] == "\\" and text[i + 1] in '"\\':
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out), i + 1


def _value(text: str) -> object:
    if text in ("true", "false"):
        return text == "true"
    if text.endswith("i"):
        value = int(text[:-1])
        assert -(2**63) <= value < 2**63, text
        return value
    value = float(text)
    assert math.isfinite(value), text
    return value


# -- what to try --------------------------------------------------------------------------


def strategies_for_messages(st):
    """Random bytes, random JSON, and valid detection messages with one part changed."""
    scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
    anything = st.recursive(scalar, lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                            max_leaves=12)  # fmt: skip
    obj = st.fixed_dictionaries({
        "classID": st.integers(0, 90) | anything, "label": st.text(max_size=12) | anything,
        "confidence": st.floats(0, 1) | anything, "coor_left": st.floats() | st.integers(),
        "coor_top": st.floats(), "box_width": st.floats(), "box_height": st.floats(),
        "objectID": st.integers(), "unique_com_id": st.text(max_size=6) | anything,
    })  # fmt: skip
    message = st.fixed_dictionaries({
        "camera": st.text(max_size=12) | anything,
        "timestamp": st.floats() | st.integers() | anything,
        "detection_frame_number": st.integers() | st.floats() | anything,
        "total_num_obj": st.integers(0, 5) | anything,
        "inference_results": st.lists(obj, max_size=4) | anything,
    })  # fmt: skip
    as_json = st.builds(lambda m: json.dumps(m, allow_nan=True).encode(), message | anything)
    return st.binary(max_size=512) | as_json


def strategies_for_points(st):
    text = st.text(max_size=16)
    value = st.floats() | st.integers(-(2**63), 2**63 - 1) | st.booleans() | text
    return text, st.dictionaries(text, text, max_size=4), st.dictionaries(text, value, max_size=4)


def strategies_for_configs(st):
    scalar = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    anything = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3)
                            | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                            max_leaves=10)  # fmt: skip
    sections = st.sampled_from(["cameras", "detector", "tracking", "events", "outputs", "mqtt",
                                "influx", "cloud", "forward", "ingest", "pipeline"])  # fmt: skip
    return st.dictionaries(sections, anything, max_size=4) | anything, st.text(max_size=300)


def damaged_videos(clip: Path, folder: Path, count: int, seed: int = 0) -> list[Path]:
    """Copies of ``clip`` cut short, with bytes flipped, or in the wrong container."""
    import random

    rng = random.Random(seed)
    data = clip.read_bytes()
    paths = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            damaged = data[: rng.randrange(0, len(data))]
        elif kind == 1:
            damaged = bytearray(data)
            for _ in range(rng.randrange(1, 200)):
                damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
            damaged = bytes(damaged)
        else:
            damaged = b"\x00\x00\x00\x18ftypmp42" + data[rng.randrange(0, 4096) :]
        path = folder / f"damaged-{i}-{('cut', 'flipped', 'container')[kind]}.mp4"
        path.write_bytes(damaged)
        paths.append(path)
    return paths


# -- the bench -----------------------------------------------------------------------------


def run_property(check: Callable, strategy, cases: int) -> float:
    hypothesis, _ = _hypothesis()
    settings = hypothesis.settings(max_examples=cases, deadline=None, database=None,
                                   suppress_health_check=list(hypothesis.HealthCheck))  # fmt: skip
    started = time.perf_counter()
    hypothesis.given(strategy)(settings(check))()
    return time.perf_counter() - started


def print_fuzz_bench(args) -> int:
    from edgewatch.paths import sample_clip

    _, st = _hypothesis()
    cases = args.cases
    print(describe_machine())
    print(f"edgewatch bench fuzz: {cases:,} cases per property", flush=True)
    config_dicts, config_texts = strategies_for_configs(st)
    measurement, tags, fields = strategies_for_points(st)
    with tempfile.TemporaryDirectory(prefix="edgewatch-fuzz-") as folder:
        folder = Path(folder)
        runs = {
            "config loader (structures)": (check_config_dict, config_dicts),
            "config loader (file text)": (lambda t: check_config_text(t, folder), config_texts),
            "ingest validator (messages)": (check_message, strategies_for_messages(st)),
            "line-protocol encoder (points)": (
                lambda point: check_line(*point), st.tuples(measurement, tags, fields)),
        }  # fmt: skip
        for name, (check, strategy) in runs.items():
            seconds = run_property(check, strategy, cases)
            print(f"  {name}: {cases:,} cases, no failure ({seconds:.1f} s)", flush=True)
        videos = damaged_videos(sample_clip(), folder, args.videos)
        started = time.perf_counter()
        for path in videos:
            check_video_file(path)
        print(
            f"  video sources: {len(videos)} damaged copies of the sample (cut, bytes "
            f"flipped, wrong container), no failure ({time.perf_counter() - started:.1f} s)"
        )
    return 0
