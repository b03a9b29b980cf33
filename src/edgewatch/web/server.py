"""The dashboard's HTTP server: uvicorn in a thread of its own, beside the pipeline
(`edgewatch run`) or alone (`edgewatch web`).

    server = WebServer(config, live)    # live: the pipeline's LiveSink, or None
    server.start()                      # listening when it returns; logs the address
    ...
    server.stop()

The socket is bound here, before uvicorn starts, so a port in use is one clear error
(`EdgewatchError`), not a traceback from inside uvicorn's loop. uvicorn's own logging is
left alone (no dictConfig of its own over edgewatch's) and its access log is off: the
address is logged once, with where the password is, never the password.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time

import uvicorn

from edgewatch.errors import EdgewatchError
from edgewatch.outputs.web import PASSWORD_ENV, web_password
from edgewatch.web.app import LiveView, create_app

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
    # and without it each answer waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise EdgewatchError(
                f"web port {port} on {host} is already in use",
                "stop the other program (another edgewatch run or web?) or choose another "
                "port with web.port",
            ) from None
        raise EdgewatchError(
            f"the web dashboard cannot listen on {host}:{port} ({error.strerror})",
            "set web.host to an address of this machine, e.g. 127.0.0.1",
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


class WebServer:
    """uvicorn serving `create_app(config, live)` on ``web.host``:``web.port``."""

    def __init__(self, config, live: LiveView | None = None, *, app=None) -> None:
        self.config = config
        self.app = app if app is not None else create_app(config, live)
        self.host, self.port = config.web.host, config.web.port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        sock = _bind(self.host, self.port)
        self.port = sock.getsockname()[1]
        settings = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = uvicorn.Server(settings)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="web", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                sock.close()
                raise EdgewatchError(
                    f"the web dashboard did not start on {self.host}:{self.port}",
                    "the log above says why",
                )
            time.sleep(0.02)
        _, path = web_password(self.config.web)
        if path is not None:
            where = f"password in {path}"
        elif self.config.web.password is not None:
            where = "password from the config's web.password"
        else:
            where = f"password from ${PASSWORD_ENV}"
        log.info("web: %s (user %s, %s)", self.url, self.config.web.username, where)

    def stop(self) -> None:
        """Ends open streams (MJPEG) and stops serving; returns once uvicorn is done."""
        self.app.state.stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> WebServer:
        self.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop()
