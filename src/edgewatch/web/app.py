"""The dashboard's web application: the JSON API the pages use (documented by OpenAPI at
/api/docs), the four pages and the login page, and the static files, all behind the login
(`edgewatch.web.auth`).

    app = create_app(config, live)        # live: the pipeline's LiveSink, or None

With ``live`` None (`edgewatch web` alone) the cameras come from the config as "not
running" and the System page samples the host itself; events, counts and panels come
from the stores either way. Routes are plain functions (FastAPI runs them in its thread
pool); the answers are built as dicts and sent as JSON without a validation pass (the
models in `schemas` document them), and the events list keeps its answers until the
store changes (`AnswerCache`): pages poll it, and most polls find nothing new.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Protocol

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, StreamingResponse

from edgewatch.events.store import EpisodeQuery, EventStore
from edgewatch.outputs.web import web_api_token, web_password
from edgewatch.web import schemas
from edgewatch.web.auth import Auth, AuthMiddleware, expired_cookie, safe_next, session_cookie
from edgewatch.web.docs import docs_page
from edgewatch.web.event_queries import (
    BUCKETS,
    AnswerCache,
    EndedEvents,
    EventQueries,
    merge_facets,
)
from edgewatch.web.history import History, open_history
from edgewatch.web.system import HostSampler, QueueDepths, system_answer

log = logging.getLogger(__name__)

STATIC_DIR = Path(str(resources.files("edgewatch.web") / "static"))
PAGES = {"/": "index.html", "/panels": "panels.html", "/events": "events.html",
         "/system": "system.html", "/login": "login.html"}  # fmt: skip
SNAPSHOT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                  ".webp": "image/webp"}  # fmt: skip
MAX_LOGIN_BODY = 8192
NO_STORE = {"Cache-Control": "no-store"}


class LiveView(Protocol):
    """What the app asks the pipeline's live sink (`edgewatch.outputs.live.LiveSink`)."""

    def cameras(self) -> list[dict]: ...

    def latest_jpeg(self, camera: str) -> bytes | None: ...

    def wait_for_jpeg(
        self, camera: str, after_seq: int, timeout: float
    ) -> tuple[int, bytes] | None: ...

    def system(self) -> dict: ...


def _json_bytes(content) -> bytes:
    return json.dumps(content, separators=(",", ":"), allow_nan=False).encode()


def _json(content, status_code: int = 200) -> Response:
    return Response(_json_bytes(content), status_code, NO_STORE, media_type="application/json")


def create_app(
    config,
    live: LiveView | None = None,
    *,
    history: History | None = None,
    store: EventStore | None = None,
) -> FastAPI:
    """The application over ``config`` (the root `Config`). ``history`` and ``store``
    default to those the config names (InfluxDB when ``influx:`` is set, else the SQLite
    history; the event store at ``events.store_path``); those opened here are closed when
    the app shuts down."""
    web = config.web
    password, _ = web_password(web)
    auth = Auth(
        username=web.username,
        password=password,
        api_token=web_api_token(web),
        session_ttl_s=web.session_ttl,
    )
    owned: list = []
    if store is None:
        store = EventStore(config.events.store_path)
        owned.append(store)
    if history is None:
        history = open_history(config)
        owned.append(history)
    queries = EventQueries(store.path)
    owned.append(queries)
    answers = AnswerCache()
    ended = EndedEvents()
    stopping = threading.Event()
    sampler = HostSampler() if live is None else None
    queues = QueueDepths(
        {
            "mqtt_outbox": config.outputs.mqtt.outbox_path,
            "influx_spool": config.outputs.influx.spool_path,
        }
    )
    snapshots_dir = Path(config.events.snapshots.dir)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        stopping.set()
        for resource in owned:
            with contextlib.suppress(Exception):
                resource.close()

    app = FastAPI(
        title="edgewatch",
        summary="Cameras, events, counts and history of one edgewatch box.",
        description="Log in with POST /api/login (a session cookie; send its CSRF token as "
        "X-CSRF-Token with POSTs) or send `Authorization: Bearer <web.api_token>`. All "
        "times are epoch seconds unless named *_time (ISO 8601, UTC).",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.add_middleware(AuthMiddleware, auth=auth)
    app.state.auth = auth
    app.state.stopping = stopping
    app.state.store = store
    app.state.history = history
    camera_names = [camera.name for camera in config.cameras]

    # -- pages --------------------------------------------------------------------------

    def page(name: str):
        def serve() -> Response:
            path = STATIC_DIR / name
            if not path.is_file():
                return Response(f"{name} is not installed", 404, media_type="text/plain")
            headers = {"Cache-Control": "no-cache"}
            return FileResponse(path, media_type="text/html", headers=headers)

        return serve

    for route, name in PAGES.items():
        app.add_api_route(route, page(name), methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")

    @app.get("/api/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(docs_page(app.openapi()), headers=NO_STORE)

    # -- login --------------------------------------------------------------------------

    login_doc = {
        "requestBody": {
            "content": {
                media: {
                    "schema": {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {
                            "username": {"type": "string"},
                            "password": {"type": "string"},
                            "next": {"type": "string"},
                        },
                    }
                }  # fmt: skip
                for media in ("application/json", "application/x-www-form-urlencoded")
            }
        }
    }

    @app.post(
        "/api/login",
        tags=["session"],
        response_model=schemas.LoginAnswer,
        responses={401: {"model": schemas.Detail}, 429: {"model": schemas.Detail}},
        openapi_extra=login_doc,
    )
    async def login(request: Request):
        """A session cookie (HttpOnly, SameSite=Strict) for ``web.username`` and the
        password. A form post (no script) is sent on to its ``next`` page instead."""
        client = request.client.host if request.client else "?"
        wait_s = auth.throttle.wait_s(client)
        if wait_s > 0:
            return JSONResponse(
                {"detail": f"too many failed logins; try again in {wait_s:.0f} s"},
                429,
                {"Retry-After": str(max(1, round(wait_s)))},
            )
        form, fields = await _credentials(request)
        username, password = str(fields.get("username", "")), str(fields.get("password", ""))
        session = await run_in_threadpool(auth.login, username, password)
        if session is None:
            delay = auth.throttle.failed(client)
            log.warning("web: failed login from %s", client)
            await asyncio.sleep(delay)
            return JSONResponse({"detail": "wrong user name or password"}, 401, NO_STORE)
        auth.throttle.succeeded(client)
        if form:
            response: Response = RedirectResponse(safe_next(fields.get("next")), 303)
        else:
            response = JSONResponse({"ok": True, "csrf": session.csrf}, headers=NO_STORE)
        secure = request.url.scheme == "https"
        cookie = session_cookie(session, secure=secure, ttl_s=auth.sessions.ttl_s)
        response.headers.append("set-cookie", cookie)
        return response

    @app.post("/api/logout", tags=["session"], status_code=200)
    def logout(request: Request) -> Response:
        """Ends the session (needs the X-CSRF-Token header)."""
        session = request.state.session
        auth.sessions.drop(session.token)
        response = _json({"ok": True})
        response.headers.append("set-cookie", expired_cookie(secure=request.url.scheme == "https"))
        return response

    @app.get("/api/session", tags=["session"], response_model=schemas.SessionInfo)
    def session_info(request: Request):
        """Who is logged in, and the CSRF token the page sends with POSTs."""
        session = request.state.session
        return _json({"user": session.user, "csrf": session.csrf})

    # -- cameras ------------------------------------------------------------------------

    def known(name: str) -> None:
        if name not in camera_names:
            raise HTTPException(404, f"no camera named {name!r}")

    @app.get("/api/cameras", tags=["live"], response_model=list[schemas.Camera])
    def cameras():
        """Every camera with its frame size, frames/s, state and the objects in view."""
        return _json(camera_list())

    def camera_list() -> list[dict]:
        if live is not None:
            return live.cameras()
        return [
            {"name": name, "width": None, "height": None, "fps": None, "state": "not running",
             "last_frame": None, "objects": {}, "detections": 0}
            for name in camera_names
        ]  # fmt: skip

    @app.get(
        "/api/cameras/{name}/latest.jpg",
        tags=["live"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": schemas.Detail}},
    )
    def latest_jpg(name: str):
        """The camera's latest annotated picture. Asking is what makes the pipeline draw
        and encode it: a camera nobody looks at costs nothing."""
        known(name)
        jpeg = None if live is None else live.latest_jpeg(name)
        if jpeg is None:
            raise HTTPException(404, f"no picture of camera {name!r} yet")
        return Response(jpeg, media_type="image/jpeg", headers=NO_STORE)

    @app.get(
        "/api/cameras/{name}/mjpeg",
        tags=["live"],
        response_class=StreamingResponse,
        responses={200: {"content": {"multipart/x-mixed-replace; boundary=frame": {}}}},
    )
    async def mjpeg(name: str):
        """The annotated pictures as an MJPEG stream, ``web.live_fps`` at most; it ends
        when the client goes."""
        known(name)
        if live is None:
            raise HTTPException(404, f"camera {name!r} is not running")
        return StreamingResponse(
            mjpeg_parts(live, name, web.live_fps, stopping),
            media_type="multipart/x-mixed-replace; boundary=frame",
            headers=NO_STORE,
        )

    # -- events -------------------------------------------------------------------------

    def events_json(keys: list[tuple]) -> list[bytes]:
        """Each listed episode's JSON, in order (``keys``: `EventStore.episode_keys`):
        ended ones from `ended` where built before, the rest read and built now."""
        parts = {key[0]: ended.get(key) for key in keys if key[1] is not None}
        fetched = store.episodes_by_id([key[0] for key in keys if parts.get(key[0]) is None])
        for key in keys:
            stored = fetched.get(key[0])
            if stored is None:
                continue
            parts[key[0]] = _json_bytes(event_dict(stored.episode, stored.happenings))
            if key[1] is not None:  # ended: kept under the key it was listed with
                ended.put(key, parts[key[0]])
        return [parts[key[0]] for key in keys if parts.get(key[0]) is not None]

    @app.get("/api/events", tags=["events"], response_model=schemas.EventsPage)
    def events(
        camera: str | None = None,
        label: str | None = None,
        zone: str | None = Query(None, description="A zone or line name."),
        kind: str | None = Query(None, description="entered, zone_entered, line_crossed ..."),
        since_s: float | None = Query(None, gt=0, description="Only the last N seconds."),
        limit: int = Query(100, ge=1, le=1000),
        before: str | None = Query(
            None, description="An event's id: the events after it, newest first (next page)."
        ),
    ):
        """Episodes newest first, each with its happenings and picture links."""
        key = (queries.version(), camera, label, zone, kind, since_s, limit, before)
        body = answers.get(key)
        if body is None:
            query = EpisodeQuery(
                camera=camera or None, label=label or None, zone=zone or None,
                kind=kind or None, since_s=since_s, before=before or None,
            )  # fmt: skip
            keys = store.episode_keys(query, limit)
            body = b'{"events":[' + b",".join(events_json(keys)) + b"]}"
            answers.put(key, body)
        return Response(body, headers=NO_STORE, media_type="application/json")

    @app.get("/api/events/facets", tags=["events"], response_model=schemas.Facets)
    def facets():
        """The values the filters offer: what the store holds and the config names."""
        zones = [item.name for item in (*config.events.zones, *config.events.lines)]
        return _json(merge_facets(queries.facets(), cameras=camera_names, zones=zones))

    @app.get(
        "/api/snapshots/{path:path}",
        tags=["events"],
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}}, 404: {"model": schemas.Detail}},
    )
    def snapshot(path: str = PathParam(description="As in an event's snapshot_url.")):
        """A snapshot or thumbnail picture; only files inside events.snapshots.dir."""
        target = inside(snapshots_dir, path)
        if target is None or target.suffix.lower() not in SNAPSHOT_TYPES:
            raise HTTPException(404, "no such snapshot")
        return FileResponse(
            target,
            media_type=SNAPSHOT_TYPES[target.suffix.lower()],
            headers={"Cache-Control": "private, max-age=3600"},
        )

    @app.get("/api/counts", tags=["events"], response_model=schemas.Counts)
    def counts(
        camera: str | None = None,
        since_s: float = Query(86400, gt=0, le=400 * 86400),
        bucket: str = Query("hour", pattern="^(" + "|".join(BUCKETS) + ")$"),
    ):
        """Line crossings per line and direction, zone entries per zone: per hour or day
        (the box's local time) and in all, from the event store."""
        return _json(queries.counts(camera=camera or None, since_s=since_s, bucket=bucket))

    # -- history and system ---------------------------------------------------------------

    @app.get(
        "/api/panels/{camera}",
        tags=["history"],
        response_model=schemas.Panels,
        responses={503: {"model": schemas.Detail}},
    )
    def panels(
        camera: str,
        since_s: float = Query(3600, gt=0, le=400 * 86400),
        bucket_s: int = Query(60, ge=1, le=86400),
    ):
        """The reference dashboard's panels over the last ``since_s`` seconds, in buckets
        of ``bucket_s`` (made wider when there would be more than 1,500)."""
        try:
            return _json(history.panels(camera, since_s=since_s, bucket_s=bucket_s))
        except Exception as error:  # an unreachable InfluxDB is not a crash of the page
            log.warning("web: panels of %s failed: %s", camera, error)
            raise HTTPException(503, f"history not available: {error}") from None

    @app.get("/api/system", tags=["system"], response_model=schemas.System)
    def system():
        """The box's health: CPU, memory, temperatures, GPUs; per camera frames/s, drops
        and reconnects; what waits in the MQTT outbox and the InfluxDB spool."""
        sample = sampler.sample() if live is None else live.system()
        return _json(system_answer(sample or {}, camera_list(), queues.read()))

    return app


def event_dict(episode, happenings) -> dict:
    event = episode.to_dict()
    event["start_s"], event["end_s"] = episode.start, episode.end
    event["happenings"] = [{**h.to_dict(), "time_s": h.time} for h in happenings]
    event["snapshot_url"] = _snapshot_url(episode.snapshot)
    event["thumbnail_url"] = _snapshot_url(episode.thumbnail)
    return event


def _snapshot_url(relative: str | None) -> str | None:
    return None if not relative else "/api/snapshots/" + urllib.parse.quote(relative)


def inside(root: Path, relative: str) -> Path | None:
    """``root/relative`` if it is a file inside ``root`` (links resolved), else None:
    ``..``, absolute paths and links out of the folder all end here."""
    try:
        base = root.resolve()
        target = (base / relative).resolve()
    except (OSError, ValueError):
        return None
    if not target.is_relative_to(base) or target == base or not target.is_file():
        return None
    return target


async def mjpeg_parts(
    live: LiveView, camera: str, fps: float, stopping: threading.Event
) -> AsyncIterator[bytes]:
    """One multipart part per new picture, ``fps`` at most. It waits in the event loop,
    not in a thread: a viewer holds no worker thread however long it watches, and a
    client that goes (Starlette cancels the stream) or a server that stops ends it at
    the next pause. Asking for the picture is what keeps the camera watched."""
    interval = 1.0 / fps
    check = min(0.02, interval / 4)
    seq = 0
    while not stopping.is_set():
        got = live.wait_for_jpeg(camera, seq, 0.0)  # a lock and a look: no waiting
        if got is None:
            await asyncio.sleep(check)
            continue
        sent = time.monotonic()
        seq, jpeg = got
        yield (
            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
            + str(len(jpeg)).encode()
            + b"\r\n\r\n"
            + jpeg
            + b"\r\n"
        )
        await asyncio.sleep(max(0.0, sent + interval - time.monotonic()))


async def _credentials(request: Request) -> tuple[bool, dict]:
    """(is a form post, fields) from a JSON or form body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > MAX_LOGIN_BODY:
        raise HTTPException(413, "login request too large")
    if kind == "application/x-www-form-urlencoded":
        fields = urllib.parse.parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
        return True, {k: v[0] for k, v in fields.items()}
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise HTTPException(400, "send JSON {username, password} or a form") from None
    if not isinstance(data, dict):
        raise HTTPException(400, "send JSON {username, password} or a form")
    return False, data
