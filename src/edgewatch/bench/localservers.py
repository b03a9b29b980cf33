"""Local mosquitto and influxd servers on free loopback ports in a folder of their own,
for the tests and for `edgewatch bench ingest`: mosquitto (plain, or TLS with a password
file) and influxd 1.x, Debian's packages.

Use them as context managers; `stop()` / `start()` in between simulate an outage, and the
server comes back on the same port with the same data.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from edgewatch.errors import MissingDependencyError

PACKAGES = {"mosquitto": "mosquitto", "influxd": "influxdb", "openssl": "openssl"}


def die_with_parent() -> None:
    """In a child before exec: the kernel kills it when the process that started it dies,
    so a benchmark or test killed midway leaves no server running (Linux; a no-op
    elsewhere)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Server:
    """A process started from a config file; restartable on the same port."""

    name = "server"

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen | None = None
        self.log = self.workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        program = self.command()[0]
        if shutil.which(program) is None:
            raise MissingDependencyError(program, f"apt-get install {PACKAGES[program]}")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=log, preexec_fn=die_with_parent
            )
        try:
            self.ready()
        except TimeoutError:
            self.stop()
            tail = self.log.read_text()[-2000:]
            raise RuntimeError(f"{self.name} did not start:\n{tail}") from None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *_):
        self.stop()


class Mosquitto(Server):
    """Debian's mosquitto 2.x. ``tls=True`` adds a CA, a server certificate for
    127.0.0.1 and a password file with user `edge` / `edge-secret`."""

    name = "mosquitto"
    USER, PASSWORD = "edge", "edge-secret"

    def __init__(self, workdir: Path, *, tls: bool = False) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.tls = tls
        self.ca_file = self.workdir / "ca.crt"
        conf = [
            "user root",  # started as root, mosquitto would switch to a user that cannot read here
            f"listener {self.port} 127.0.0.1",
            f"persistence_location {self.workdir}/",
            "persistence true",
            "autosave_interval 1",
            # As deploy/mosquitto's configs: the default (1000) drops messages queued for a
            # persistent session (ingest) that is slow or away.
            "max_queued_messages 100000",
            "log_dest stderr",
        ]
        if tls:
            make_certificates(self.workdir)
            passwords = self.workdir / "passwd"
            passwords.write_text("")
            subprocess.run(["mosquitto_passwd", "-b", str(passwords), self.USER, self.PASSWORD],
                           check=True, capture_output=True)  # fmt: skip
            conf += [
                f"cafile {self.ca_file}",
                f"certfile {self.workdir}/server.crt",
                f"keyfile {self.workdir}/server.key",
                "allow_anonymous false",
                f"password_file {passwords}",
            ]
        else:
            conf.append("allow_anonymous true")
        self.conf = self.workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(conf) + "\n")

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.conf)]

    def ready(self) -> None:
        wait_for_port(self.port)


def make_certificates(folder: Path) -> None:
    """A throwaway CA and a server certificate valid for IP 127.0.0.1 and localhost."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=edgewatch test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
            "-out", "server.crt")  # fmt: skip


class Influxd(Server):
    """Debian's influxd 1.6.7 bound to loopback, continuous queries every second."""

    name = "influxd"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.rpc_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        d = self.workdir
        self.conf = d / "influxdb.conf"
        self.conf.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{d}/meta"\n'
            f'[data]\n  dir = "{d}/data"\n  wal-dir = "{d}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            '[continuous_queries]\n  run-interval = "1s"\n'
            "[ifql]\n  enabled = false\n"
            "[monitor]\n  store-enabled = false\n"
        )

    def command(self) -> list[str]:
        return ["influxd", "run", "-config", str(self.conf)]

    def ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/ping", timeout=1):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        raise TimeoutError

    def query(self, q: str, db: str | None = None, *, post: bool = False) -> dict:
        """InfluxQL over HTTP; CREATE/DROP need post=True."""
        params = {"q": q, "epoch": "ns"}
        if db:
            params["db"] = db
        data = urllib.parse.urlencode(params).encode()
        if post:
            request = urllib.request.Request(f"{self.url}/query", data=data, method="POST")
        else:
            request = urllib.request.Request(f"{self.url}/query?{data.decode()}")
        import json

        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def write(self, lines: list[str], db: str) -> None:
        """Line protocol (ns timestamps) over /write, in requests of 5,000 points."""
        for i in range(0, len(lines), 5000):
            body = "\n".join(lines[i : i + 5000]).encode()
            url = f"{self.url}/write?{urllib.parse.urlencode({'db': db, 'precision': 'ns'})}"
            with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as r:
                if r.status != 204:
                    raise RuntimeError(f"influxd answered HTTP {r.status} to a write")

    def rows(self, q: str, db: str) -> list[dict]:
        """The rows of a SELECT as dicts (all series together, with their tags)."""
        result = self.query(q, db)["results"][0]
        rows = []
        for series in result.get("series", []):
            for values in series["values"]:
                row = dict(zip(series["columns"], values, strict=True))
                rows.append({**series.get("tags", {}), **row})
        return rows
