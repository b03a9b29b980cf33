"""The dashboard in a real browser on the real footage (issue 14's tests).

One `edgewatch run` for the whole module: the bundled clip at its own pace, looped, with the
walkway zone and the post line of test_e2e_events.py, so that people keep entering the zone
and crossing the line while the tests look. Headless Chromium (Playwright, the system's
/usr/bin/chromium) logs in through the form and checks what a user sees: the live picture
moving with boxes drawn on it, charts with something drawn on their canvases, events
arriving without a reload, the filters, the snapshot dialog, the system figures. The counts
are compared last, with the run stopped and `edgewatch web` serving the same stores, so that
the store cannot change between counting it and reading the page.

Each page's screenshot is kept for a person to look at (a blank chart can pass every DOM
check): in $EDGEWATCH_TEST_ARTIFACTS, else <repo>/test-artifacts/web/.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from conftest import VENV_BIN, wait_for

from edgewatch.bench.localservers import free_port

CHROMIUM = Path("/usr/bin/chromium")
# PLATFORM.md's flags (Playwright adds --headless itself).
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--disable-dev-shm-usage",
]  # fmt: skip
PASSWORD = "hunter2"  # in secrets_guard.TEST_SECRETS: the suite fails if any output shows it
CAMERA = "yard"
WALKWAY = [[300, 150], [760, 150], [760, 330], [300, 330]]  # where people walk in vtest.avi
POST = {"a": [430, 100], "b": [430, 400]}  # a line across the walkway
ADDRESS = re.compile(r"web: (http://127\.0\.0\.1:\d+) \(user admin")
REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} missing (`make test` installs chromium)"
    ),
]


# ---- the run, its stores, the browser ----


@dataclass
class Served:
    """A running `edgewatch` command and what it serves."""

    process: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """Ctrl-C, as a user stops it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        from secrets_guard import record_output  # the plugin conftest loads

        record_output(self.output())
        return self.process.returncode


def serve(folder: Path, *args: str) -> Served:
    """Starts `edgewatch ARGS` (its output to a file: a pipe nobody reads would fill and
    block it) and waits for the log line that gives the dashboard's address."""
    log = folder / f"{args[0]}-{time.monotonic_ns()}.log"
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "XDG_STATE_HOME": str(folder / "state"),
        "EDGEWATCH_WEB_PASSWORD": PASSWORD,
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(VENV_BIN / "edgewatch"), *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    served = Served(process, "", log)
    found: list[str] = []

    def address() -> bool:
        found.extend(ADDRESS.findall(served.output()))
        return bool(found) or process.poll() is not None

    if not wait_for(address, 90, interval=0.2) or not found:
        served.stop()
        pytest.fail(f"`edgewatch {' '.join(args)}` gave no address; it said:\n{served.output()}")
    served.url = found[0]
    return served


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dashboard")


@pytest.fixture(scope="module")
def config_path(folder: Path, vtest_path) -> Path:
    path = folder / "edgewatch.yaml"
    path.write_text(yaml.safe_dump({
        "cameras": [{"name": CAMERA, "source": "sample", "realtime": True, "loop": True}],
        "events": {
            "enabled": True,
            "zones": [{"name": "walkway", "camera": CAMERA, "points": WALKWAY}],
            "lines": [{"name": "post", "camera": CAMERA, **POST}],
            "store_path": str(folder / "events.sqlite3"),
            "snapshots": {"dir": str(folder / "snapshots"), "write_after_s": 1},
        },
        "web": {"history_path": str(folder / "history.sqlite3")},
        "pipeline": {"stats_interval_s": 0, "system_interval_s": 1},
        "outputs": {"rtsp": {"enabled": False}},
    }))  # fmt: skip
    return path


@pytest.fixture(scope="module")
def run(folder: Path, config_path: Path):
    served = serve(folder, "run", "--config", str(config_path), "--no-rtsp",
                   "--web-port", str(free_port()))  # fmt: skip
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def still_running(run):
    """Each test starts with the run alive; if it died, its log says why."""
    if run.process.poll() is not None:
        pytest.fail(f"`edgewatch run` ended (status {run.process.returncode}):\n{run.output()}")


def new_context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    return context


@pytest.fixture(scope="module")
def context(browser, run):
    """A browser signed in through the form, kept for the module."""
    context = new_context(browser)
    log_in(context.new_page(), run.url, "/").close()
    yield context
    context.close()


@pytest.fixture(scope="module", autouse=True)
def events_page(context, run):
    """The Events page, opened before the first test (as soon as the run serves) and never
    reloaded: what it shows later arrived by itself. Rows of its first answer are marked."""
    page = context.new_page()
    page.goto(f"{run.url}/events", wait_until="domcontentloaded")
    page.wait_for_function("document.getElementById('events-updated').textContent !== ''")
    page.evaluate("""() => {
        window.__firstRows = [...document.querySelectorAll('.event-row')].map(r => r.dataset.id);
        window.__notReloaded = true;
    }""")
    return page


def log_in(page, url: str, path: str):
    """Opens ``path``, which sends the browser to the login form; logs in there."""
    page.goto(f"{url}{path}", wait_until="domcontentloaded")
    page.wait_for_url(re.compile(r"/login\?next="), wait_until="domcontentloaded")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{url}{path}", wait_until="domcontentloaded")
    return page


def artifacts() -> Path:
    folder = Path(os.environ.get("EDGEWATCH_TEST_ARTIFACTS") or REPO / "test-artifacts" / "web")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def keep(page, name: str, *, full_page: bool = True) -> Path:
    """A screenshot of the page for a person to look at."""
    path = artifacts() / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    print(f"screenshot: {path}")
    return path


def store_rows(folder: Path, sql: str, *args) -> list[tuple]:
    """Straight from the event store's file, read-only, beside the running pipeline."""
    uri = (folder / "events.sqlite3").resolve().as_uri() + "?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        return db.execute(sql, args).fetchall()


def decoded(png: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)


def box_pixels(image: np.ndarray) -> int:
    """Pixels of a person's box and label (BGR (0, 200, 0)): none in the raw footage."""
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(((g > 140) & (r < 80) & (b < 80) & (g - r > 100)).sum())


def line_pixels(image: np.ndarray) -> int:
    """Pixels of the drawn line (BGR magenta (255, 64, 255)): none in the raw footage."""
    b, g, r = (image[..., i].astype(int) for i in range(3))
    return int(((r > 190) & (b > 190) & (g < 130)).sum())


# Counts the pixels of a chart's canvas in one of its series' colours: the lines, points
# or bars uPlot drew, not its axes and grid (which a blank chart has too).
SERIES_PIXELS = """([selector, colours]) => {
    const canvas = document.querySelector(selector + ' canvas');
    if (!canvas || !canvas.width || !canvas.height) return -1;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] < 200) continue;
        for (const [r, g, b] of colours) {
            const off = Math.abs(data[i] - r) + Math.abs(data[i + 1] - g)
                + Math.abs(data[i + 2] - b);
            if (off < 60) {
                n++;
                break;
            }
        }
    }
    return n;
}"""


def rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]


# The colours panels.js gives each chart's series (common.js colorFor for the labels).
CHART_COLOURS = {
    "detections": ["#4e9af1"],
    "boxes": ["#2dd4bf", "#f2a541"],
    "labels": ["#4e9af1", "#f2a541", "#e5646a", "#5cc689"],  # person, car, truck, bicycle
    "confidence": ["#5cc689"],
}


# ---- the tests, in the order a user meets the pages ----


def test_without_the_password_pages_go_to_the_login_and_the_api_answers_401(run, browser):
    for path in ("/api/cameras", "/api/events", "/api/counts", f"/api/panels/{CAMERA}",
                 "/api/system", f"/api/cameras/{CAMERA}/latest.jpg"):  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{run.url}{path}", timeout=10)
        assert refused.value.code == 401, path
        assert "detail" in json.loads(refused.value.read()), path
    host, port = run.url.removeprefix("http://").split(":")
    for path in ("/", "/events"):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.request("GET", path)
        answer = connection.getresponse()
        assert answer.status == 303, path
        assert answer.getheader("Location").startswith("/login?next="), path
        connection.close()

    context = new_context(browser)
    try:
        page = context.new_page()
        page.goto(f"{run.url}/panels", wait_until="domcontentloaded")
        page.wait_for_url(re.compile(r"/login\?next=%2Fpanels$"), wait_until="domcontentloaded")
        assert page.locator("#login-form #password").is_visible()
        assert page.locator("#cameras, .chart").count() == 0  # nothing of the page itself
        keep(page, "login")
    finally:
        context.close()


def test_login_through_the_form(run, browser):
    context = new_context(browser)
    try:
        page = context.new_page()
        page.goto(f"{run.url}/system", wait_until="domcontentloaded")
        page.wait_for_url(re.compile(r"/login\?next="), wait_until="domcontentloaded")
        page.fill("#password", "not-the-password")
        page.click("#login-form button[type=submit]")
        page.wait_for_function("document.getElementById('login-error').textContent !== ''")
        assert "wrong user name or password" in page.inner_text("#login-error")
        assert "/login" in page.url
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{run.url}/system", wait_until="domcontentloaded")  # back to `next`
        page.wait_for_selector("#session-user:has-text('signed in as admin')")
        assert any(c["httpOnly"] for c in context.cookies())
    finally:
        context.close()


def test_live_picture_moves_with_boxes_drawn(run, context):
    page = context.new_page()
    page.goto(f"{run.url}/", wait_until="domcontentloaded")
    tile = page.locator(f".camera-tile[data-camera={CAMERA}]")
    tile.locator(".state:has-text('live')").wait_for()
    picture = tile.locator("img.live")
    picture.wait_for()
    page.wait_for_function(
        "img => img.complete !== undefined && img.naturalWidth > 0", arg=picture.element_handle()
    )
    assert tile.locator(".state").inner_text() == "live"

    # Two looks about a second apart: people walk, so the pictures differ.
    first = decoded(picture.screenshot())
    second = first
    for _ in range(10):
        page.wait_for_timeout(1000)
        second = decoded(picture.screenshot())
        if np.abs(second.astype(int) - first.astype(int)).mean() > 1.0:
            break
    change = np.abs(second.astype(int) - first.astype(int)).mean()
    assert first.shape == second.shape and first.shape[0] > 100
    assert change > 1.0, f"the live picture did not change in 10 s (mean difference {change:.2f})"

    # Annotated: the people's boxes and labels (person green) and the post line (magenta),
    # colours the raw footage has not one pixel of.
    shots = [first, second]
    assert wait_for(lambda: shots.append(decoded(picture.screenshot())) or
                    box_pixels(shots[-1]) > 200, 15), box_pixels(shots[-1])  # fmt: skip
    assert line_pixels(shots[-1]) > 100, line_pixels(shots[-1])

    tile.locator(".objects .chip[data-label]").first.wait_for()
    chips = tile.locator(".objects .chip[data-label]").evaluate_all(
        "chips => chips.map(c => c.dataset.label)"
    )
    assert "person" in chips, chips
    page.wait_for_function(
        f"parseFloat(document.querySelector('.camera-tile[data-camera={CAMERA}] .fps')"
        ".textContent) > 0"
    )
    keep(page, "live")
    page.close()


def test_panels_draw_their_charts(run, context):
    page = context.new_page()
    page.goto(f"{run.url}/panels", wait_until="domcontentloaded")
    page.wait_for_selector(f"#panel-camera option[value={CAMERA}]", state="attached")
    assert page.locator("#panel-camera").input_value() == CAMERA
    # The last 15 minutes (all this run has): the choice also asks for fresh data at once.
    page.click("#panel-range button[data-range='900']")
    page.wait_for_selector("#panel-range button[data-range='900'][aria-pressed=true]")

    def drawn() -> dict[str, int]:
        return {
            name: page.evaluate(SERIES_PIXELS, [f'.chart[data-chart="{name}"]',
                                                [rgb(c) for c in colours]])
            for name, colours in CHART_COLOURS.items()
        }  # fmt: skip

    assert wait_for(lambda: min(drawn().values()) >= 30, 40, interval=0.5), drawn()
    for name in CHART_COLOURS:
        chart = page.locator(f'.chart[data-chart="{name}"]')
        assert chart.get_attribute("data-empty") != "true", name
        assert chart.locator("canvas").count() >= 1, name
    assert re.fullmatch(r"[\d,]+", page.inner_text("#stat-last-frame .value").strip())
    assert re.fullmatch(r"[\d.]+\s*%", page.inner_text("#stat-confidence .value").strip())
    page.locator("#label-timeline .lane").first.wait_for()
    keep(page, "panels")
    page.close()


def test_events_arrive_with_snapshots_without_a_reload(run, folder, events_page):
    page = events_page
    page.bring_to_front()
    # A row that was not there at the first answer, with its snapshot loaded.
    page.wait_for_function(
        """() => window.__notReloaded && [...document.querySelectorAll('.event-row')].some(r => {
            const img = r.querySelector('img.thumb');
            return !window.__firstRows.includes(r.dataset.id) && img && img.complete
                && img.naturalWidth > 0;
        })""",
        polling=500,
        timeout=90_000,
    )
    new = page.evaluate("""() => [...document.querySelectorAll('.event-row')]
        .filter(r => !window.__firstRows.includes(r.dataset.id))
        .map(r => ({id: r.dataset.id, thumb: r.querySelector('img.thumb')?.getAttribute('src'),
                    width: r.querySelector('img.thumb')?.naturalWidth ?? 0}))""")
    with_picture = [row for row in new if row["width"] > 0]
    assert with_picture and all(r["thumb"].startswith("/api/snapshots/") for r in with_picture)
    stored = {row[0] for row in store_rows(folder, "SELECT id FROM episodes")}
    assert {row["id"] for row in new} <= stored
    for row in with_picture:  # the files the event store's snapshots folder holds
        relative = urllib.parse.unquote(row["thumb"].removeprefix("/api/snapshots/"))
        assert (folder / "snapshots" / relative).is_file(), row
    assert page.evaluate("window.__notReloaded === true")
    keep(page, "events")


def test_events_filter_narrows_the_list_and_a_row_opens_its_snapshot(run, folder, events_page):
    page = events_page
    page.bring_to_front()
    everything = page.locator(".event-row").count()
    page.select_option("#filter-kind", "line_crossed")
    # The list starts over for the new filter; wait for its answer.
    page.wait_for_function(
        """() => location.search.includes('kind=line_crossed')
            && document.querySelectorAll('.event-row').length > 0""",
        polling=250,
    )
    rows = page.evaluate("""() => [...document.querySelectorAll('.event-row')].map(r => (
        {id: r.dataset.id, story: r.querySelector('.story').textContent}))""")
    crossed = {
        row[0]
        for row in store_rows(
            folder, "SELECT DISTINCT episode FROM happenings WHERE kind = 'line_crossed'"
        )
    }
    assert 0 < len(rows) < everything, (len(rows), everything)
    assert {row["id"] for row in rows} <= crossed, rows
    assert all("crossed post" in row["story"] for row in rows), rows

    # A click on a row with a snapshot opens it full size, with the event's details.
    row = page.locator(".event-row:has(img.thumb)").first
    row.locator("img.thumb").wait_for()
    event_id = row.get_attribute("data-id")
    row.click()
    modal = page.locator("dialog#event-modal[open]")
    modal.wait_for()
    full = modal.locator("img.full")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=full.element_handle(), polling=250
    )
    size = full.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size == [768, 576], size  # the whole annotated frame
    assert full.get_attribute("src").startswith("/api/snapshots/")
    details = modal.locator(".details").inner_text()
    assert event_id in details and "post" in details
    keep(page, "event-modal", full_page=False)
    modal.locator("button.close").click()
    page.locator("dialog#event-modal[open]").wait_for(state="detached")

    page.click("#filter-reset")
    page.wait_for_function(
        f"document.querySelectorAll('.event-row').length >= {everything}", polling=250
    )
    assert "kind=" not in page.url


def test_older_events_page_on_from_the_last_row(run, folder, context, events_page):
    # events_page first: its run has found a few events by now.
    page = context.new_page()
    page.goto(f"{run.url}/events?limit=2", wait_until="domcontentloaded")
    page.wait_for_function("document.querySelectorAll('.event-row').length === 2", polling=250)
    first = page.evaluate("[...document.querySelectorAll('.event-row')].map(r => r.dataset.id)")
    assert page.locator("#events-newest").is_hidden()
    page.click("#events-older")
    page.wait_for_function(
        f"""() => {{
            const ids = [...document.querySelectorAll('.event-row')].map(r => r.dataset.id);
            return ids.length > 0 && !ids.some(id => {json.dumps(first)}.includes(id));
        }}""",
        polling=250,
    )
    older = page.evaluate("[...document.querySelectorAll('.event-row')].map(r => r.dataset.id)")
    order = {row[0]: i for i, row in enumerate(store_rows(
        folder, "SELECT id FROM episodes ORDER BY start DESC, id DESC"))}  # fmt: skip
    # The next ones after the first page's last, in the store's newest-first order.
    assert [order[i] for i in older] == list(range(order[first[-1]] + 1, order[first[-1]] + 1
                                                   + len(older)))  # fmt: skip
    assert "before" in page.locator("#events-summary").inner_text()
    keep(page, "events-older", full_page=False)
    page.click("#events-newest")
    # The list empties at the click and fills when the newest page comes: wait for rows.
    page.wait_for_function(
        f"""() => {{
            const row = document.querySelector('.event-row');
            return row !== null && row.dataset.id !== {json.dumps(older[0])};
        }}""",
        polling=250,
    )
    assert page.locator("#events-newest").is_hidden()
    page.close()


def test_system_shows_the_host_and_the_camera(run, context):
    page = context.new_page()
    page.goto(f"{run.url}/system", wait_until="domcontentloaded")
    page.wait_for_function(
        "document.getElementById('system-cpu').dataset.value"
        " && document.getElementById('system-memory').dataset.value"
    )
    cpu = float(page.get_attribute("#system-cpu", "data-value"))
    memory = float(page.get_attribute("#system-memory", "data-value"))
    assert 0 <= cpu <= 100 and 0 < memory < 100, (cpu, memory)
    for tile in ("#system-cpu", "#system-memory"):
        assert re.fullmatch(r"[\d.]+\s*%", page.inner_text(f"{tile} .value").strip()), tile
    camera = page.locator(f"#system-cameras tr[data-camera={CAMERA}]")
    camera.locator(".state:has-text('live')").wait_for()
    page.wait_for_function(
        f"parseFloat(document.querySelector('#system-cameras tr[data-camera={CAMERA}] .fps')"
        ".textContent) > 0"
    )
    assert page.locator("#system-queues").is_visible()
    assert "MQTT outbox" in page.inner_text("#system-queues")
    keep(page, "system")
    page.close()


def test_counts_equal_the_line_crossings_and_zone_entries_in_the_store(
    run, folder, config_path, browser
):
    """Last: the run is stopped (Ctrl-C), and `edgewatch web` serves the same stores, which
    no longer change while the page and the store are read."""
    status = run.stop()
    assert status == 0, run.output()[-3000:]
    web = serve(folder, "web", "--config", str(config_path), "--port", str(free_port()))
    context = new_context(browser)
    try:
        page = log_in(context.new_page(), web.url, f"/panels?camera={CAMERA}&range=3600")
        page.wait_for_selector("#counts-table tbody tr[data-line]")
        since = time.time() - 3600  # the page's range: the last hour

        def shown() -> dict[tuple, int]:
            return {
                (row["line"], row["direction"]): int(row["count"])
                for row in page.locator("#counts-table tbody tr[data-camera]").evaluate_all(
                    """rows => rows.map(r => ({line: r.dataset.line ?? r.dataset.zone,
                        direction: r.dataset.direction ?? 'entered',
                        count: r.querySelector('.count').textContent}))"""
                )
            }

        stored = {
            (zone, direction or "entered"): count
            for zone, direction, count in store_rows(
                folder,
                "SELECT zone, direction, COUNT(*) FROM happenings WHERE camera = ? AND time >= ?"
                " AND kind IN ('line_crossed', 'zone_entered') GROUP BY kind, zone, direction",
                CAMERA,
                since,
            )
        }
        assert any(line == "post" for line, _ in stored), stored  # the footage crossed it
        assert ("walkway", "entered") in stored, stored
        assert shown() == stored
        bars = [rgb("#4e9af1"), rgb("#f2a541")]  # the first two series' colours
        assert wait_for(
            lambda: page.evaluate(SERIES_PIXELS, ['.chart[data-chart="counts"]', bars]) > 100, 20
        )
        keep(page, "counts")

        page.click("#counts-bucket button[data-bucket=day]")  # the totals are per range
        page.wait_for_selector("#counts-bucket button[data-bucket=day][aria-pressed=true]")
        page.wait_for_function("location.search.includes('bucket=day')")
        assert shown() == stored
    finally:
        context.close()
        assert web.stop() == 0, web.output()[-3000:]
