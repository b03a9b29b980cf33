"""The real servers the tests start: see `edgewatch.localservers`."""

from edgewatch.localservers import Influxd, Mosquitto, Server, make_certificates, wait_for_port

__all__ = ["Influxd", "Mosquitto", "Server", "make_certificates", "wait_for_port"]
