"""Connecting to real mosquitto brokers: plain, TLS + password, and clear one-line errors."""

from __future__ import annotations

import pytest

from edgewatch.bench.localservers import Mosquitto
from edgewatch.clients.mqtt.client import MqttError, connect, connect_options, create_client
from edgewatch.clients.mqtt.config import MqttConfig, TlsConfig

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    with Mosquitto(tmp_path_factory.mktemp("tls"), tls=True) as broker:
        yield broker


def try_connect(config: MqttConfig) -> None:
    options = connect_options(config, role="test")
    client = create_client(options)
    connect(client, options, timeout=3)
    client.disconnect()


def test_plain_broker_accepts_and_client_id_names_host_and_role(tmp_path):
    with Mosquitto(tmp_path) as broker:
        config = MqttConfig(port=broker.port)
        try_connect(config)
    options = connect_options(config, role="ingest")
    assert options.client_id.startswith("edgewatch-") and options.client_id.endswith("-ingest")
    assert connect_options(config.model_copy(update={"client_id": "mine"}), role="x").client_id == (
        "mine"
    )


def test_tls_with_ca_and_password_connects(tls_broker):
    try_connect(
        MqttConfig(
            port=tls_broker.port,
            tls=TlsConfig(ca_file=tls_broker.ca_file),
            username=Mosquitto.USER,
            password=Mosquitto.PASSWORD,
        )
    )


def test_password_from_file_or_environment(tls_broker, tmp_path, monkeypatch):
    secret = tmp_path / "mqtt-password"
    secret.write_text(Mosquitto.PASSWORD + "\n")
    base = MqttConfig(
        port=tls_broker.port, tls=TlsConfig(ca_file=tls_broker.ca_file), username=Mosquitto.USER
    )
    try_connect(base.model_copy(update={"password_file": secret}))
    monkeypatch.setenv("EDGEWATCH_MQTT_PASSWORD", Mosquitto.PASSWORD)
    try_connect(base)


def test_wrong_password_is_a_clear_permanent_error_without_the_password(tls_broker):
    config = MqttConfig(
        port=tls_broker.port,
        tls=TlsConfig(ca_file=tls_broker.ca_file),
        username="edge",
        password="hunter2-wrong",
    )
    with pytest.raises(MqttError) as caught:
        try_connect(config)
    text = str(caught.value)
    assert text == (
        f"MQTT broker 127.0.0.1:{tls_broker.port} refused the login of user 'edge' "
        "(bad user name or password, or not authorized) — check mqtt.username/password"
    )
    assert caught.value.permanent
    assert "hunter2" not in text
    assert "hunter2" not in repr(connect_options(config, role="x"))


def test_missing_ca_is_a_certificate_error(tls_broker):
    config = MqttConfig(
        port=tls_broker.port, tls=TlsConfig(), username="edge", password=Mosquitto.PASSWORD
    )
    with pytest.raises(MqttError, match="TLS certificate check failed .*tls.ca_file") as caught:
        try_connect(config)
    assert caught.value.permanent


def test_plain_client_on_a_tls_port_suggests_tls(tls_broker):
    with pytest.raises(MqttError, match=r"need TLS \(mqtt.tls\)"):
        try_connect(MqttConfig(port=tls_broker.port))


def test_broker_down_is_a_temporary_error(port):
    with pytest.raises(MqttError, match=f"127.0.0.1:{port} refused the connection") as caught:
        try_connect(MqttConfig(port=port))
    assert not caught.value.permanent


def test_unreadable_ca_file_is_named(tmp_path):
    config = MqttConfig(tls=TlsConfig(ca_file=tmp_path / "missing.crt"))
    with pytest.raises(MqttError, match=r"mqtt.tls.ca_file .*missing.crt cannot be read"):
        try_connect(config)
