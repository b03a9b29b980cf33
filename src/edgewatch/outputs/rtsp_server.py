"""GStreamer's RTSP server on a GLib main loop of its own: one shared H.264 mount per camera.

`gi` is imported only when a server starts, so edgewatch runs without PyGObject until RTSP
is wanted. GStreamer calls the ``_on_*`` methods from its own threads.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import numpy as np

from edgewatch.errors import EdgewatchError, MissingDependencyError
from edgewatch.outputs.base import StreamInfo
from edgewatch.supervise import SupervisedThread

log = logging.getLogger(__name__)

APT_PACKAGES = (
    "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good "
    "gstreamer1.0-plugins-ugly gstreamer1.0-rtsp libgirepository1.0-dev"
)
ELEMENT_PACKAGES = {
    "appsrc": "gstreamer1.0-plugins-base",
    "x264enc": "gstreamer1.0-plugins-ugly",
    "rtph264pay": "gstreamer1.0-plugins-good",
}
# Frames waiting for the encoder; more are dropped so `push` never blocks. Room for one
# detector batch: the detector hands frames on in bursts of up to batch_size.
MAX_QUEUED = 8
ENCODE_WINDOW = 100  # encode_ms is the mean over this many recent frames


def _unwinder_first() -> None:
    """libgstreamer brings libunwind, whose _Unwind_* symbols then won over libgcc_s's for
    libraries loaded after it: the first C++ exception in onnxruntime (e.g. a corrupt model)
    crashed the process. libgcc_s loaded globally beforehand stays in front."""
    with contextlib.suppress(OSError):  # not glibc: nothing to do
        ctypes.CDLL("libgcc_s.so.1", mode=ctypes.RTLD_GLOBAL)


def import_gstreamer() -> SimpleNamespace:
    """The gi modules the server uses (GLib, Gio, Gst, RtspServer), or the install line."""
    _unwinder_first()
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        gi.require_version("GstRtsp", "1.0")
        from gi.repository import Gio, GLib, Gst, GstRtsp, GstRtspServer
    except (ImportError, ValueError):
        raise MissingDependencyError(
            "PyGObject with GStreamer's RTSP server",
            f'apt-get install {APT_PACKAGES} && pip install "PyGObject<3.51"',
        ) from None
    Gst.init(None)
    missing = {pkg for name, pkg in ELEMENT_PACKAGES.items() if not Gst.ElementFactory.find(name)}
    if missing:
        raise MissingDependencyError(
            "GStreamer's H.264 elements", f"apt-get install {' '.join(sorted(missing))}"
        )
    return SimpleNamespace(GLib=GLib, Gio=Gio, Gst=Gst, Rtsp=GstRtsp, RtspServer=GstRtspServer)


def encoded_size(info: StreamInfo) -> tuple[int, int]:
    """Width and height as encoded: even, as 4:2:0 needs."""
    return info.width - info.width % 2, info.height - info.height % 2


def launch_line(info: StreamInfo, *, bitrate_kbps: int, keyframe_interval_s: float) -> str:
    fps = Fraction(info.fps).limit_denominator(1001)
    key_int = max(1, round(info.fps * keyframe_interval_s))
    width, height = encoded_size(info)
    return (
        # Live, timestamped on push: viewers play in real time whatever the pipeline's pace.
        "( appsrc name=src is-live=true do-timestamp=true format=time"
        # Bounded by frames, not bytes: the default 200 kB holds less than one frame.
        f" max-bytes=0 max-buffers={MAX_QUEUED} leaky-type=downstream"
        # I420 made by OpenCV in the pushing thread (0.2 ms a frame at 768x576, where
        # GStreamer's videoconvert took 1.7 ms on the encoder's thread).
        f" caps=video/x-raw,format=I420,width={width},"
        f"height={height},framerate={fps.numerator}/{fps.denominator}"
        # threads=1: one slice per frame. zerolatency's sliced threads cut each frame into
        # slices that FFmpeg-based viewers (PyAV, ffmpeg) showed as half-blank frames.
        " ! x264enc name=enc tune=zerolatency speed-preset=ultrafast threads=1"
        f" bitrate={bitrate_kbps} key-int-max={key_int}"
        # config-interval=-1: SPS/PPS before every keyframe, so any keyframe starts a viewer.
        " ! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


@dataclass(eq=False)
class Mount:
    """One camera's mount and its counters; ``appsrc`` is set only while a client's media
    runs."""

    info: StreamInfo
    path: str
    media: Any = None  # the shared GstRTSPMedia while some client has it
    appsrc: Any = None
    encoder: Any = None
    pushed: int = 0
    dropped: int = 0
    viewers: set[int] = field(default_factory=set)  # ids of clients playing it
    encode_s: collections.deque = field(
        default_factory=lambda: collections.deque(maxlen=ENCODE_WINDOW)
    )
    encoding: collections.deque = field(default_factory=collections.deque)  # x264 entry times
    latest: np.ndarray | None = None  # the last frame written, watched or not


class RtspServer:
    """Serves `push`ed BGR frames at rtsp://HOST:PORT/<camera>; `stop` ends it."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        bitrate_kbps: int,
        keyframe_interval_s: float,
        credentials: tuple[str, str] | None = None,
        udp: bool = False,
    ) -> None:
        """``udp``: offer RTP over UDP too. GStreamer binds those sockets to every interface
        whatever ``host`` says, so by default viewers get RTP inside the RTSP connection
        (TCP) only, and nothing listens beyond ``host``."""
        self.host, self.port, self.udp = host, port, udp
        self.bitrate_kbps, self.keyframe_interval_s = bitrate_kbps, keyframe_interval_s
        self._credentials = credentials
        self.mounts: dict[str, Mount] = {}
        self._lock = threading.Lock()
        self._client_ids = itertools.count(1)
        self._loop: Any = None
        self._thread: threading.Thread | None = None

    def url(self, camera: str) -> str:
        return f"rtsp://{self.host}:{self.port}{self.mounts[camera].path}"

    def start(self, streams: Sequence[StreamInfo]) -> None:
        self._gi = gi = import_gstreamer()
        server = gi.RtspServer.RTSPServer()
        # Clients run on this server's own loop thread, not GStreamer's shared pool thread,
        # so that `stop` can hang up on them from that same thread.
        server.get_thread_pool().set_max_threads(0)
        server.set_address(self.host)  # else it listens on every interface
        server.set_service(str(self.port))
        role = self._set_up_auth(server)
        for info in streams:
            self._add_mount(server, info, role)
        server.connect("client-connected", self._on_client_connected)

        context = gi.GLib.MainContext.new()
        self._source = self._listen(server)
        self._source.attach(context)
        self._server = server
        self._loop = gi.GLib.MainLoop.new(context, False)
        # GLib's loop blocks in C: it cannot report progress (beats=False).
        self._thread = SupervisedThread(self._run, name="edgewatch-rtsp", beats=False)
        self._thread.start()
        for camera in self.mounts:
            log.info("camera %s: serving %s", camera, self.url(camera))

    def _set_up_auth(self, server: Any) -> str | None:
        """Basic auth for the one configured user; returns the role the mounts allow."""
        if self._credentials is None:
            return None
        GstRtspServer = self._gi.RtspServer
        username, password = self._credentials
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", username)
        auth = GstRtspServer.RTSPAuth()
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(username, password), token)
        server.set_auth(auth)
        return username

    def _add_mount(self, server: Any, info: StreamInfo, role: str | None) -> None:
        mount = Mount(info, "/" + quote(info.camera, safe=""))
        factory = self._gi.RtspServer.RTSPMediaFactory()
        factory.set_launch(
            launch_line(
                info, bitrate_kbps=self.bitrate_kbps, keyframe_interval_s=self.keyframe_interval_s
            )
        )
        factory.set_shared(True)  # one encoder per camera, however many viewers
        if not self.udp:
            factory.set_protocols(self._gi.Rtsp.RTSPLowerTrans.TCP)
        factory.connect("media-configure", self._on_media_configure, mount)
        if role:
            permissions = self._gi.RtspServer.RTSPPermissions()
            for action in ("media.factory.access", "media.factory.construct"):
                permissions.add_permission_for_role(role, action, True)
            factory.set_permissions(permissions)
        server.get_mount_points().add_factory(mount.path, factory)
        self.mounts[info.camera] = mount

    def _listen(self, server: Any) -> Any:
        """The listening socket's GSource; attach() would only return 0 on failure."""
        GLib, Gio = self._gi.GLib, self._gi.Gio
        try:
            source = server.create_source(None)
            bound = server.get_bound_port()
        except GLib.Error as error:
            if error.matches(Gio.io_error_quark(), Gio.IOErrorEnum.ADDRESS_IN_USE):
                raise EdgewatchError(
                    f"RTSP port {self.port} on {self.host} is already in use",
                    "stop the other program or choose another port with --rtsp-port / "
                    "outputs.rtsp.port",
                ) from None
            reason = error.message
        else:
            if bound == self.port:
                return source
            source.destroy()
            reason = f"bound port {bound} instead"
        raise EdgewatchError(
            f"the RTSP server cannot listen on {self.host}:{self.port} ({reason})",
            "set outputs.rtsp.host to an address of this machine, e.g. 127.0.0.1",
        )

    def _run(self) -> None:
        context = self._loop.get_context()
        context.push_thread_default()
        try:
            self._loop.run()
        finally:
            context.pop_thread_default()

    def watched(self, camera: str) -> bool:
        mount = self.mounts.get(camera)
        return mount is not None and mount.appsrc is not None

    def push(self, camera: str, image: np.ndarray) -> None:
        """Queues a frame for encoding if anybody watches ``camera``; never blocks."""
        mount = self.mounts.get(camera)
        if mount is None:
            raise KeyError(f"camera {camera!r} was not among the streams the RTSP server opened")
        mount.latest = image  # a reference, no copy: frames are not drawn on after the sinks
        appsrc = mount.appsrc
        if appsrc is None:  # no client: no encoding either
            return
        if appsrc.get_property("current-level-buffers") >= MAX_QUEUED:
            mount.dropped += 1  # the encoder is behind: lose this frame, not the pipeline's time
            return
        appsrc.emit("push-buffer", self._buffer(mount, image))
        mount.pushed += 1

    def _buffer(self, mount: Mount, image: np.ndarray | None) -> Any:
        """An I420 Gst.Buffer of the mount's size: ``image`` (BGR) resized if need be, or
        black."""
        import cv2

        width, height = encoded_size(mount.info)
        if image is None:
            image = np.zeros((height, width, 3), np.uint8)
        elif image.shape[:2] != (height, width):
            interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
            image = cv2.resize(image, (width, height), interpolation=interpolation)
        return self._gi.Gst.Buffer.new_wrapped(
            cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420).tobytes()
        )

    def stats(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                camera: {
                    "frames_pushed": mount.pushed,
                    "frames_dropped": mount.dropped,
                    "viewers": len(mount.viewers),
                    "encode_ms": (
                        1000 * sum(mount.encode_s) / len(mount.encode_s) if mount.encode_s else None
                    ),
                }
                for camera, mount in self.mounts.items()
            }

    def stop(self) -> None:
        if self._loop is None:
            return

        def shut_down(*_: object) -> bool:
            remove = self._gi.RtspServer.RTSPFilterResult.REMOVE
            self._server.client_filter(lambda server, client: remove)  # hangs up on viewers
            self._source.destroy()  # closes the listening socket
            self._loop.quit()
            return False

        # In the loop's own thread: closing a client from another thread races with its
        # watch (GLib-GIO-CRITICAL floods).
        idle = self._gi.GLib.Idle(self._gi.GLib.PRIORITY_HIGH)
        idle.set_callback(shut_down)
        idle.attach(self._loop.get_context())
        self._thread.join(timeout=5)
        if self._thread.is_alive():
            log.warning("the RTSP server thread did not stop within 5 s")
        self._loop = self._thread = self._server = self._source = None
        for mount in self.mounts.values():
            mount.media = mount.appsrc = mount.encoder = None
            mount.viewers.clear()

    # GStreamer's threads call these.

    def _on_media_configure(self, factory: Any, media: Any, mount: Mount) -> None:
        Gst = self._gi.Gst
        pipeline = media.get_element()
        encoder = pipeline.get_by_name("enc")
        encoder.get_static_pad("sink").add_probe(
            Gst.PadProbeType.BUFFER, self._on_encoder_in, mount
        )
        encoder.get_static_pad("src").add_probe(
            Gst.PadProbeType.BUFFER, self._on_encoder_out, mount
        )
        media.connect("unprepared", self._on_media_unprepared, mount)
        # Frames go in only once the pipeline runs and asks for data. appsrc stamps a frame
        # with the running time at push; with pushes landing while the pipeline started,
        # about 1 start in 50 stalled for good (an RTSP sink waiting on the clock for a
        # frame stamped far ahead). None in 500 starts since.
        pipeline.get_by_name("src").connect("need-data", self._on_first_need_data, mount, media)
        with self._lock:
            mount.media, mount.encoder = media, encoder
        log.debug("camera %s: encoder started", mount.info.camera)

    def _on_first_need_data(self, appsrc: Any, length: int, mount: Mount, media: Any) -> None:
        appsrc.disconnect_by_func(self._on_first_need_data)
        # The client's DESCRIBE waits (on the server's one thread) until a frame has been
        # encoded: the latest one, or black, answers it whether or not frames flow.
        appsrc.emit("push-buffer", self._buffer(mount, mount.latest))
        with self._lock:
            if mount.media is media:
                mount.appsrc = appsrc

    def _on_media_unprepared(self, media: Any, mount: Mount) -> None:
        with self._lock:
            if mount.media is not media:  # a newer media already took over this mount
                return
            mount.media = mount.appsrc = mount.encoder = None
            mount.encoding.clear()
        log.debug("camera %s: encoder stopped", mount.info.camera)

    def _on_encoder_in(self, pad: Any, probe: Any, mount: Mount) -> Any:
        if len(mount.encoding) > ENCODE_WINDOW:  # out of step: start over rather than grow
            mount.encoding.clear()
        mount.encoding.append(time.perf_counter())
        return self._gi.Gst.PadProbeReturn.OK

    def _on_encoder_out(self, pad: Any, probe: Any, mount: Mount) -> Any:
        # Matched in order, not by PTS: x264enc shifts output PTS by 1000 h (to keep DTS
        # positive), and zerolatency x264 (no B-frames, no lookahead) emits one frame per input.
        if mount.encoding:
            mount.encode_s.append(time.perf_counter() - mount.encoding.popleft())
        return self._gi.Gst.PadProbeReturn.OK

    def _on_client_connected(self, server: Any, client: Any) -> None:
        client_id = next(self._client_ids)
        address = client.get_connection().get_ip()
        log.debug("RTSP client %s connected", address)
        client.connect("play-request", self._on_play, client_id, address)
        client.connect("teardown-request", self._on_teardown, client_id, address)
        client.connect("closed", self._on_closed, client_id, address)

    def _mount_of(self, context: Any) -> Mount | None:
        # "/cam", "/cam/" (aggregate control) or "/cam/stream=0" all name mount "/cam".
        path = "/" + context.uri.abspath.strip("/").split("/")[0] if context.uri else ""
        return next((m for m in self.mounts.values() if m.path == path), None)

    def _on_play(self, client: Any, context: Any, client_id: int, address: str) -> None:
        mount = self._mount_of(context)
        if mount is None or client_id in mount.viewers:
            return
        with self._lock:
            mount.viewers.add(client_id)
            encoder, watching = mount.encoder, len(mount.viewers)
        if encoder is not None:  # the shared stream runs: a keyframe now, not at the interval
            Gst = self._gi.Gst
            force = Gst.Structure.new_from_string("GstForceKeyUnit, all-headers=(boolean)true")
            event = Gst.Event.new_custom(Gst.EventType.CUSTOM_UPSTREAM, force)
            encoder.get_static_pad("src").send_event(event)
        log.info(
            "camera %s: RTSP viewer %s connected (%d watching)",
            mount.info.camera,
            address,
            watching,
        )

    def _on_teardown(self, client: Any, context: Any, client_id: int, address: str) -> None:
        mount = self._mount_of(context)
        if mount is not None:
            self._leave(mount, client_id, address)

    def _on_closed(self, client: Any, client_id: int, address: str) -> None:
        for mount in self.mounts.values():
            self._leave(mount, client_id, address)
        log.debug("RTSP client %s disconnected", address)

    def _leave(self, mount: Mount, client_id: int, address: str) -> None:
        with self._lock:
            if client_id not in mount.viewers:
                return
            mount.viewers.discard(client_id)
            watching = len(mount.viewers)
        log.info(
            "camera %s: RTSP viewer %s disconnected (%d watching)",
            mount.info.camera,
            address,
            watching,
        )
