"""Connecting to an MQTT broker with paho-mqtt 2.x: one place for TLS, login and errors.

Shared by the MQTT sink (`edgewatch run`) and `edgewatch ingest`. Every failure becomes an
`MqttError` whose text names the broker, the reason and the fix, and never the password.

    options = connect_options(config.mqtt, role="ingest")
    client = create_client(options)
    connect(client, options)          # blocks until CONNACK; raises MqttError
    client.loop_start()
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edgewatch.clients.mqtt.config import MqttConfig, TlsConfig
from edgewatch.clients.secrets import resolve_secret
from edgewatch.errors import EdgewatchError

PASSWORD_ENV = "EDGEWATCH_MQTT_PASSWORD"

# CONNACK reasons that retrying cannot fix: the login or the client itself is refused.
# MQTT 3.1.1 return codes 4/5 arrive from paho as MQTT 5 reason codes 134/135.
AUTH_REFUSALS = {134, 135}
CONFIG_REFUSALS = {132, 133, 140}  # protocol version, client id, bad auth method


class MqttError(EdgewatchError):
    """The broker cannot be reached or refuses us; the text says why and what to check."""

    def __init__(self, problem: str, hint: str = "", *, permanent: bool = False) -> None:
        super().__init__(problem, hint)
        #: True when retrying cannot help (bad login, bad TLS setup): fix the config.
        self.permanent = permanent


@dataclass(frozen=True)
class ConnectOptions:
    """Everything needed to open one connection; ``password`` never shows in its repr."""

    host: str
    port: int
    client_id: str
    keepalive_s: int
    username: str | None
    password: str | None = field(repr=False)
    tls: TlsConfig | None
    where: str  # the config section, for hints: "mqtt"

    @property
    def broker(self) -> str:
        return f"{self.host}:{self.port}"


def default_client_id(role: str) -> str:
    """edgewatch-<hostname>-<role>: stable across restarts, so persistent sessions work."""
    return f"edgewatch-{socket.gethostname()}-{role}"


def connect_options(
    config: MqttConfig, *, role: str, client_id: str | None = None, where: str = "mqtt"
) -> ConnectOptions:
    """Resolve the password (config, password_file, $EDGEWATCH_MQTT_PASSWORD) and client id.

    ``client_id`` overrides the config's; the default is ``edgewatch-<hostname>-<role>``.
    """
    password = resolve_secret(
        config.password, config.password_file, PASSWORD_ENV, what="MQTT password"
    )
    if password is not None and not config.username:
        raise MqttError(
            f"{where}: a password is set but no username",
            f"set {where}.username",
            permanent=True,
        )
    return ConnectOptions(
        host=config.host,
        port=config.port,
        client_id=client_id or config.client_id or default_client_id(role),
        keepalive_s=config.keepalive_s,
        username=config.username,
        password=password,
        tls=config.tls,
        where=where,
    )


def create_client(
    options: ConnectOptions,
    *,
    clean_session: bool = True,
    will: tuple[str, str, int, bool] | None = None,
) -> mqtt.Client:
    """A paho client with login, TLS and (optionally) a will ``(topic, payload, qos, retain)``
    set; not yet connected."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=options.client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
    )
    if options.username:
        client.username_pw_set(options.username, options.password)
    if options.tls is not None:
        _set_tls(client, options)
    if will is not None:
        topic, payload, qos, retain = will
        client.will_set(topic, payload, qos=qos, retain=retain)
    return client


def _set_tls(client: mqtt.Client, options: ConnectOptions) -> None:
    tls, where = options.tls, options.where
    for name in ("ca_file", "cert_file", "key_file"):
        path: Path | None = getattr(tls, name)
        if path is not None and not os.access(path, os.R_OK):
            raise MqttError(
                f"{where}.tls.{name} {path} cannot be read",
                "check the path and that edgewatch may read it",
                permanent=True,
            )
    try:
        client.tls_set(
            ca_certs=str(tls.ca_file) if tls.ca_file else None,
            certfile=str(tls.cert_file) if tls.cert_file else None,
            keyfile=str(tls.key_file) if tls.key_file else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    except (ssl.SSLError, OSError, ValueError) as error:
        raise MqttError(
            f"{where}.tls: cannot load the certificates ({error})",
            f"check {where}.tls.ca_file/cert_file/key_file are PEM files",
            permanent=True,
        ) from None
    client.tls_insecure_set(tls.insecure)


def connack_error(options: ConnectOptions, reason: ReasonCode) -> MqttError:
    """The error for a refused CONNACK; ``permanent`` when retrying cannot fix it."""
    broker, where = options.broker, options.where
    value = reason.value if isinstance(reason, ReasonCode) else int(reason)
    text = str(reason).lower()
    if value in AUTH_REFUSALS:
        if options.username:
            # mosquitto answers a wrong password with "not authorized" (MQTT 3.1.1 code 5).
            text = "bad user name or password, or not authorized"
            return MqttError(
                f"MQTT broker {broker} refused the login of user {options.username!r} ({text})",
                f"check {where}.username/password",
                permanent=True,
            )
        return MqttError(
            f"MQTT broker {broker} refused the anonymous login ({text})",
            f"set {where}.username and {where}.password",
            permanent=True,
        )
    if value in CONFIG_REFUSALS:
        return MqttError(
            f"MQTT broker {broker} refused the connection of client {options.client_id!r} ({text})",
            f"check {where}.client_id and the broker's configuration",
            permanent=True,
        )
    return MqttError(f"MQTT broker {broker} refused the connection ({text})", "retrying")


def connection_error(options: ConnectOptions, error: BaseException) -> MqttError:
    """The error for a socket or TLS failure while connecting."""
    broker, where = options.broker, options.where
    if isinstance(error, ssl.SSLCertVerificationError):
        return MqttError(
            f"MQTT broker {broker}: TLS certificate check failed ({error.verify_message})",
            f"check {where}.tls.ca_file signed the broker's certificate and that "
            f"{where}.host is a name or address in it",
            permanent=True,
        )
    if isinstance(error, ssl.SSLError):
        reason = error.reason or str(error)
        return MqttError(
            f"MQTT broker {broker}: TLS handshake failed ({reason.lower().replace('_', ' ')})",
            f"check that port {options.port} speaks TLS (8883) and {where}.tls matches it",
        )
    if options.tls is not None and isinstance(error, ConnectionResetError):
        return MqttError(
            f"MQTT broker {broker}: TLS handshake failed (connection reset)",
            f"check that port {options.port} speaks TLS (8883) and {where}.tls matches it",
        )
    if isinstance(error, socket.gaierror):
        return MqttError(
            f"MQTT broker host {options.host!r} cannot be resolved ({error.strerror})",
            f"check {where}.host",
        )
    if isinstance(error, ConnectionRefusedError):
        return MqttError(
            f"MQTT broker {broker} refused the connection (nothing listens there)",
            "is mosquitto running? see deploy/mosquitto/README.md",
        )
    if isinstance(error, TimeoutError | socket.timeout):
        return MqttError(
            f"MQTT broker {broker} did not answer in time",
            f"check {where}.host/port and the network",
        )
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return MqttError(f"MQTT broker {broker} cannot be reached ({reason})", f"check {where}.host")


def connect(client: mqtt.Client, options: ConnectOptions, *, timeout: float = 5.0) -> None:
    """Connect and wait for the broker's CONNACK, driving the network loop here.

    Raises `MqttError` (``permanent`` for a refused login or TLS setup). Start
    ``client.loop_start()`` (or ``loop_forever``) only after it returned.
    """
    outcome: list[ReasonCode] = []
    user_on_connect = client.on_connect

    def on_connect(client, userdata, flags, reason, properties):
        outcome.append(reason)
        if user_on_connect is not None:
            user_on_connect(client, userdata, flags, reason, properties)

    client.on_connect = on_connect
    client.connect_timeout = timeout
    try:
        try:
            client.connect(options.host, options.port, keepalive=options.keepalive_s)
        except (OSError, ssl.SSLError) as error:
            raise connection_error(options, error) from None
        deadline = time.monotonic() + timeout
        while not outcome and time.monotonic() < deadline:
            rc = client.loop(timeout=0.1)
            if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_CONN_REFUSED) and not outcome:
                raise MqttError(
                    f"MQTT broker {options.broker} closed the connection before accepting it "
                    f"({mqtt.error_string(rc)})",
                    f"does port {options.port} need TLS ({options.where}.tls)?",
                )
    finally:
        client.on_connect = user_on_connect
    if not outcome:
        client.disconnect()
        raise MqttError(
            f"MQTT broker {options.broker} did not accept the connection within {timeout:g} s",
            f"does port {options.port} need TLS ({options.where}.tls)?",
        )
    if outcome[0].is_failure:
        raise connack_error(options, outcome[0])
