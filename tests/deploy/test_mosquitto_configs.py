"""The shipped deploy/mosquitto configs and make-certs.sh start a working broker.

Only the port and the /etc paths are rewritten, to run unprivileged on a free port.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgewatch.bench.localservers import Server, free_port, wait_for_port
from edgewatch.clients.mqtt.client import MqttError, connect, connect_options, create_client
from edgewatch.clients.mqtt.config import MqttConfig, TlsConfig

pytestmark = pytest.mark.timeout(60)

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"


class ShippedMosquitto(Server):
    name = "mosquitto"

    def __init__(self, workdir: Path, conf_name: str, replacements: dict[str, str]) -> None:
        super().__init__(workdir)
        self.port = free_port()
        text = (DEPLOY / conf_name).read_text()
        for old, new in {**replacements, "1883": str(self.port), "8883": str(self.port)}.items():
            text = text.replace(old, new)
        self.conf = self.workdir / conf_name
        self.conf.write_text("user root\nlog_dest stderr\n" + text)

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.conf)]

    def ready(self) -> None:
        wait_for_port(self.port)


def try_connect(config: MqttConfig) -> None:
    options = connect_options(config, role="deploy-test")
    client = create_client(options)
    connect(client, options, timeout=3)
    client.disconnect()


def test_local_config_accepts_anonymous_on_loopback(tmp_path):
    with ShippedMosquitto(tmp_path, "edgewatch-local.conf", {}) as broker:
        try_connect(MqttConfig(port=broker.port))


def test_tls_config_with_make_certs_and_a_password_file(tmp_path):
    certs = tmp_path / "certs"
    subprocess.run([DEPLOY / "make-certs.sh", certs, "127.0.0.1", "localhost"],
                   check=True, capture_output=True)  # fmt: skip
    passwd = tmp_path / "edgewatch.passwd"
    passwd.write_text("")
    subprocess.run(["mosquitto_passwd", "-b", passwd, "edge", "s3cret"], check=True)
    replacements = {
        "/etc/mosquitto/certs": str(certs),
        "/etc/mosquitto/edgewatch.passwd": str(passwd),
    }
    with ShippedMosquitto(tmp_path, "edgewatch-tls.conf", replacements) as broker:
        config = MqttConfig(
            port=broker.port,
            tls=TlsConfig(ca_file=certs / "edgewatch-ca.crt"),
            username="edge",
            password="s3cret",
        )
        try_connect(config)
        with pytest.raises(MqttError, match="refused the login of user 'edge'"):
            try_connect(config.model_copy(update={"password": None, "password_file": None}))
        with pytest.raises(MqttError, match="refused the anonymous login"):
            try_connect(config.model_copy(update={"username": None, "password": None}))
